//! The audit log (`[logging] audit_file`): one JSON object per line for each
//! event an operator or auditor needs to reconstruct later — configuration
//! loads and reloads (what changed, secrets redacted, accepted or refused and
//! why), NTS cookie key rotations, changes of the symmetric key file, API
//! requests presenting a token, development endpoint actions, and the
//! privileges the daemon kept at start. Every line has `time` (UTC, RFC 3339)
//! and `event`; the other fields depend on the event (docs/operations.md).
//!
//! The file is opened at start (before privileges are dropped) and reopened
//! on SIGUSR1 like the log file ([`crate::logfile`]). Writes are synchronous
//! and rare; a failed write is logged, never fatal.

pub mod diff;

use std::path::Path;

use anyhow::Context;
use ntp_config::Config;
use serde_json::{json, Value};

use crate::logfile::LogFile;

/// The audit log; disabled when no file is configured.
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    file: Option<LogFile>,
}

/// What caused a configuration load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The daemon started.
    Start,
    /// A reload, named as the daemon logs it (`SIGHUP`, a file change).
    Reload(&'static str),
}

impl AuditLog {
    /// Opens `path` (creating its directory) or, with `None`, an audit log
    /// that records nothing.
    pub fn open(path: Option<&Path>) -> anyhow::Result<AuditLog> {
        let Some(path) = path else { return Ok(AuditLog::default()) };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the audit log directory {}", dir.display()))?;
        }
        let file = LogFile::open(path).with_context(|| format!("cannot open the audit log {}", path.display()))?;
        Ok(AuditLog { file: Some(file) })
    }

    /// The file written, if any.
    pub fn file(&self) -> Option<&LogFile> {
        self.file.as_ref()
    }

    /// Writes one event: `details` (an object) with `time` and `event` first.
    pub fn record(&self, event: &str, details: Value) {
        let Some(file) = &self.file else { return };
        // `time` and `event` first, for people reading the file.
        let head = format!(
            "{{\"time\":{},\"event\":{}",
            Value::String(crate::civil_time::rfc3339_now()),
            Value::String(event.to_owned())
        );
        let text = match details {
            Value::Object(fields) if !fields.is_empty() => {
                format!("{head},{}", &Value::Object(fields).to_string()[1..])
            }
            _ => format!("{head}}}"),
        };
        if let Err(e) = file.write_line(&text) {
            tracing::warn!(file = %file.path().display(), error = %e, "cannot write to the audit log");
        }
    }

    /// A configuration load: `previous` is the configuration in force before
    /// (none at start), `loaded` the new one or why it could not be loaded;
    /// `refused` the reason a loaded configuration was not applied.
    pub fn config(
        &self,
        trigger: Trigger,
        files: &[std::path::PathBuf],
        previous: Option<&Config>,
        loaded: Result<&Config, &str>,
        refused: Option<&str>,
    ) {
        if self.file.is_none() {
            return;
        }
        let (kind, trigger_name) = match trigger {
            Trigger::Start => ("config_load", "start"),
            Trigger::Reload(why) => ("config_reload", why),
        };
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let mut details = json!({ "trigger": trigger_name, "files": files });
        match loaded {
            Err(why) => {
                details["result"] = "refused".into();
                details["reason"] = why.into();
            }
            Ok(new) => {
                let default = Config::default();
                let before = previous.unwrap_or(&default);
                details["result"] = if refused.is_some() { "refused" } else { "accepted" }.into();
                if let Some(why) = refused {
                    details["reason"] = why.into();
                }
                // At start: every key that differs from the built-in default.
                details["changes"] = diff::changes(before, new).into_iter().map(|c| c.to_json()).collect();
            }
        }
        self.record(kind, details);
    }

    /// Reopens the file at its path (log rotation).
    pub fn reopen(&self) -> std::io::Result<()> {
        match &self.file {
            Some(f) => f.reopen(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_start_with_time_and_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/audit.log");
        let audit = AuditLog::open(Some(&path)).unwrap();
        audit.record("x", json!({ "b": 1, "a": [2] }));
        audit.record("y", json!({}));
        AuditLog::open(None).unwrap().record("z", json!({}));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("{\"time\":\"") && lines[0].contains("Z\",\"event\":\"x\",\"a\":[2],\"b\":1}"),
            "{text}"
        );
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!((&v["event"], &v["b"], &v["a"]), (&json!("x"), &json!(1), &json!([2])));
        let v: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["event"], "y");
    }
}
