//! Logging setup from `[logging]`: level, console or file output, text or
//! JSON lines. The level can change at runtime (configuration reload, the
//! `/debug/log-level` endpoint); output and format take effect at start; the
//! log file is reopened at its path on SIGUSR1 (log rotation, see
//! [`crate::logfile`]). `RUST_LOG`, when set, overrides the level with a list
//! of `target=level` directives (for debugging a single module; tracing's
//! `Targets` filter, which needs no regular-expression engine in the binary).

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::logfile::LogFile;
use anyhow::Context;
use ntp_config::{LogFormat, LogLevel, LogOutput, LoggingConfig};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Layer, Registry};

/// Keeps the background log writer alive (the last clone dropped flushes
/// it) and lets the level change at runtime.
#[derive(Clone)]
pub struct LogHandle {
    _guard: std::sync::Arc<WorkerGuard>,
    filter: reload::Handle<Targets, Registry>,
    /// The level in force.
    level: Arc<Mutex<LogLevel>>,
    /// The log file, with `output = "file"`.
    file: Option<LogFile>,
    /// The settings the logger was built with.
    pub started_with: LoggingConfig,
}

impl LogHandle {
    /// Changes the level (ignored while `RUST_LOG` is set).
    pub fn set_level(&self, level: LogLevel) -> anyhow::Result<()> {
        if overridden_by_env() {
            return Ok(());
        }
        self.filter.reload(filter_for(level)).map_err(|e| anyhow::anyhow!("cannot change the log level: {e}"))?;
        *self.level.lock().unwrap_or_else(|e| e.into_inner()) = level;
        Ok(())
    }

    /// The level in force (the configured one while `RUST_LOG` is set).
    pub fn level(&self) -> LogLevel {
        *self.level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log file being written, if any.
    pub fn file(&self) -> Option<&LogFile> {
        self.file.as_ref()
    }
}

/// True when `RUST_LOG` decides the filter instead of the level.
pub fn overridden_by_env() -> bool {
    std::env::var_os("RUST_LOG").is_some()
}

fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::Off => "off",
    }
}

fn filter_for(level: LogLevel) -> Targets {
    if let Some(f) = std::env::var("RUST_LOG").ok().and_then(|s| s.parse::<Targets>().ok()) {
        return f;
    }
    directive(level).parse().unwrap_or_default()
}

/// Log lines that may wait for the writer thread: the largest burst the
/// daemon writes at once is its start (a few dozen lines at `info`, a few
/// hundred at `debug`), and the writer drains the channel while it fills.
/// 8 kB, where 1 024 lines held 32 kB for the life of the process.
const LOG_CHANNEL_LINES: usize = 256;

/// Installs the global subscriber. Call once.
///
/// Not inlined: its temporaries would sit in the caller's frame, which for
/// `run` stays on the stack under the event loop for the process's life.
#[inline(never)]
pub fn init(cfg: &LoggingConfig) -> anyhow::Result<LogHandle> {
    // The channel preallocates its line slots, 32 bytes each, all written
    // at once (tracing-appender's default of 128k slots is ~4 MB resident):
    // a daemon that never logs per packet needs few. When full, lines are
    // dropped rather than blocking the event loop.
    let non_blocking = |w: Box<dyn std::io::Write + Send>| {
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .buffered_lines_limit(LOG_CHANNEL_LINES)
            .lossy(true)
            .finish(w)
    };
    let mut log_file = None;
    let (writer, guard) = match cfg.output {
        LogOutput::Console => non_blocking(Box::new(std::io::stderr())),
        LogOutput::File => {
            let path: &Path = &cfg.file;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create log directory {}", dir.display()))?;
            }
            let file = LogFile::open(path).with_context(|| format!("cannot open log file {}", path.display()))?;
            log_file = Some(file.clone());
            non_blocking(Box::new(file))
        }
    };
    let ansi = matches!(cfg.output, LogOutput::Console) && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (filter, handle) = reload::Layer::new(filter_for(cfg.level()));
    let fmt_layer = match cfg.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_current_span(false).with_writer(writer).boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(writer).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    Ok(LogHandle {
        _guard: Arc::new(guard),
        filter: handle,
        level: Arc::new(Mutex::new(cfg.level())),
        file: log_file,
        started_with: cfg.clone(),
    })
}
