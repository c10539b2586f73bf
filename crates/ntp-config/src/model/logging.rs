//! Where and how the daemon logs: `[logging]`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::level::LogLevel;

/// Where and how the daemon writes its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// The least severe level that is logged, case-insensitive: `TRACE`, `DEBUG`, `INFO`, `WARN` (or `WARNING`), `ERROR` (or `CRITICAL`), `OFF`.
    pub level: LogLevel,
    /// Where log lines go: `console` (standard error) or `file` (the path in `file`).
    pub output: LogOutput,
    /// The log file, used when `output = "file"`.
    pub file: PathBuf,
    /// The format of each log line: `text` (human readable) or `json` (one JSON object per line).
    #[serde(alias = "logFormat")]
    pub log_format: LogFormat,
    /// A file that receives one JSON line per auditable event: each configuration load and reload (what changed, secrets redacted; accepted or refused, and why), NTS cookie key rotations, key file changes, API requests presenting a token, development endpoint actions, and the privileges kept at start. Reopened on SIGUSR1, like `file`. Unset: no audit log. Takes effect at start.
    #[serde(alias = "auditFile")]
    pub audit_file: Option<PathBuf>,
    /// The directory of the statistics logs listed in `statistics` (chrony's `logdir`). Takes effect at start.
    #[serde(alias = "statisticsDir")]
    pub statistics_dir: PathBuf,
    /// Which statistics logs to write in `statistics_dir`, in chrony's formats so tools that read chrony's logs read them (chrony's `log` directive): `measurements` (`measurements.log`, one line per sample from an NTP source), `statistics` (`statistics.log`, the source's estimate after each accepted sample), `tracking` (`tracking.log`, one line per clock update). Reopened on SIGUSR1. Takes effect at start.
    pub statistics: Vec<StatisticsLog>,
}

impl LoggingConfig {
    /// The configured log level.
    pub fn level(&self) -> LogLevel {
        self.level
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            output: LogOutput::Console,
            file: PathBuf::from("/var/log/simple-ntpd/simple-ntpd.log"),
            log_format: LogFormat::Text,
            audit_file: None,
            statistics_dir: PathBuf::from("/var/log/simple-ntpd"),
            statistics: Vec::new(),
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogOutput {
    /// Standard error.
    #[default]
    Console,
    /// The file named by `logging.file`.
    File,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A statistics log in chrony's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatisticsLog {
    /// `measurements.log`: one line per sample from an NTP source.
    Measurements,
    /// `statistics.log`: a source's estimate after each accepted sample.
    Statistics,
    /// `tracking.log`: one line per clock update.
    Tracking,
}

impl StatisticsLog {
    /// The file name in `statistics_dir`, as chrony names it.
    pub fn file_name(self) -> &'static str {
        match self {
            StatisticsLog::Measurements => "measurements.log",
            StatisticsLog::Statistics => "statistics.log",
            StatisticsLog::Tracking => "tracking.log",
        }
    }
}
