//! Logging setup from `[logging]`: level, console or file output, text or
//! JSON lines. `RUST_LOG`, when set, overrides the level with a full
//! tracing filter (for debugging a single module).

use std::fs::OpenOptions;
use std::path::Path;

use anyhow::Context;
use ntp_config::{LogFormat, LogLevel, LogOutput, LoggingConfig};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keeps the background log writer alive; drop it last to flush.
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

fn filter_for(level: LogLevel) -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_env("RUST_LOG") {
        return f;
    }
    let directive = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::Off => "off",
    };
    EnvFilter::new(directive)
}

/// Installs the global subscriber. Call once.
pub fn init(cfg: &LoggingConfig) -> anyhow::Result<LogGuard> {
    let filter = filter_for(cfg.level());
    let (writer, guard) = match cfg.output {
        LogOutput::Console => tracing_appender::non_blocking(std::io::stderr()),
        LogOutput::File => {
            let path: &Path = &cfg.file;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create log directory {}", dir.display()))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            tracing_appender::non_blocking(file)
        }
    };
    let ansi = matches!(cfg.output, LogOutput::Console) && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = match cfg.log_format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    Ok(LogGuard(Some(guard)))
}
