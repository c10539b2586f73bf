//! `simple-ntpd config check|show`, and the config-file lookup shared with
//! `run`. `check` runs the daemon's own preflight (`daemon::preflight`), so
//! it refuses what `run` refuses, short of binding sockets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{ConfigArgs, ConfigCommand};

/// The default configuration file, read when it exists and no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/simple-ntpd/simple-ntpd.toml";

/// The files to load: `-c` flags, else `$SIMPLE_NTPD_CONFIG`, else the
/// default file if present, else none (built-in defaults).
pub fn config_files(args: &ConfigArgs) -> Vec<PathBuf> {
    if !args.config.is_empty() {
        return args.config.clone();
    }
    if let Ok(list) = std::env::var("SIMPLE_NTPD_CONFIG") {
        let files: Vec<PathBuf> =
            list.split([',', ':']).filter(|s| !s.trim().is_empty()).map(|s| PathBuf::from(s.trim())).collect();
        if !files.is_empty() {
            return files;
        }
    }
    if Path::new(DEFAULT_CONFIG_FILE).exists() {
        return vec![PathBuf::from(DEFAULT_CONFIG_FILE)];
    }
    Vec::new()
}

/// Runs a `config` subcommand.
pub fn run(cmd: ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Check { files, no_env } => {
            let env: Vec<(String, String)> = if no_env { Vec::new() } else { std::env::vars().collect() };
            let loaded = match ntp_config::load(&files, env, &ntp_config::Overrides::default()) {
                Ok(loaded) => loaded,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            let checked = match crate::daemon::preflight(&loaded.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {}", crate::daemon::describe_preflight_error(loaded.origins(), &e));
                    return ExitCode::from(1);
                }
            };
            let disabled = (!loaded.config.enabled.get()).then(|| {
                let at = loaded.location("enabled").unwrap_or("configuration");
                format!("{at}: enabled = false: `run` exits without serving")
            });
            let warnings: Vec<&String> = loaded.warnings.iter().chain(&checked.warnings).chain(&disabled).collect();
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            println!("configuration OK: {} ({} warning(s))", names.join(", "), warnings.len());
            ExitCode::SUCCESS
        }
        ConfigCommand::Show { config } => {
            let files = config_files(&config);
            match ntp_config::load(&files, std::env::vars(), &ntp_config::Overrides::default()) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        eprintln!("warning: {w}");
                    }
                    print!("{}", loaded.config.to_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
