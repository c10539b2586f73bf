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
