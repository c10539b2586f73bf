//! `simple-ntpd run`: load the configuration, start logging, then hand over
//! to the daemon's event loop until SIGTERM/SIGINT.

use std::process::ExitCode;

use ntp_config::Overrides;
use tracing::{debug, error, info, warn};

use crate::cli::RunArgs;
use crate::commands::config::config_files;
use crate::daemon::{self, ConfigSource};
use crate::logging;

/// Runs the daemon; returns when it has shut down.
pub fn run(args: RunArgs) -> ExitCode {
    let source = ConfigSource {
        files: config_files(&args.config),
        overrides: Overrides {
            listen: (!args.listen.is_empty()).then(|| args.listen.clone()),
            stratum: args.stratum,
            log_level: args.log_level.clone(),
        },
    };
    let loaded = match source.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("simple-ntpd: configuration error:\n{e}");
            return ExitCode::from(1);
        }
    };
    let log = match logging::init(&loaded.config.logging) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("simple-ntpd: {e:#}");
            return ExitCode::from(1);
        }
    };
    let names: Vec<String> = source.files.iter().map(|f| f.display().to_string()).collect();
    info!(version = env!("CARGO_PKG_VERSION"), config = ?names, "simple-ntpd starting");
    for w in &loaded.warnings {
        warn!("{w}");
    }
    for n in &loaded.notes {
        debug!("{n}");
    }
    if !loaded.config.enabled.get() {
        info!("the configuration says enabled = false (an NTPService's spec.enabled): not serving");
        return ExitCode::SUCCESS;
    }
    // Only where each key was set is kept to locate a failed start, not a
    // second copy of the configuration: this frame and its heap blocks live
    // as long as the daemon. The daemon gets a clone of the log handle: ours
    // keeps the log writer alive until the reason for a failed start has
    // been written out.
    let origins = loaded.origins().clone();
    let result = daemon::run(source, loaded, log.clone());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = daemon::describe_preflight_error(&origins, &e);
            error!("{e}");
            if !matches!(log.started_with.output, ntp_config::LogOutput::Console) {
                // Logging goes to a file: whoever started us sees why, too.
                eprintln!("simple-ntpd: {e}");
            }
            drop(log);
            ExitCode::from(1)
        }
    }
}
