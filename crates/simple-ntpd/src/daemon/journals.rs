//! What the daemon writes down about itself besides its log lines: reopening
//! every log file on SIGUSR1 (log rotation), and the audit events of its own
//! housekeeping — test faults that ended, NTS cookie key rotations, a
//! changed symmetric key file. Reload and start audits are in the event loop
//! (`daemon::Daemon::reload`, `daemon::run`).

use std::path::PathBuf;

use ntp_config::Config;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::audit::AuditLog;
use crate::logging::LogHandle;
use crate::nts::keystore::CookieKeyStore;
use crate::status::StatusHub;

/// SIGUSR1: reopens the log file, the audit log and the statistics logs at
/// their paths. A file that cannot be reopened (its directory is not
/// writable after the privilege drop) stays in use and is named in a warning.
pub fn reopen_logs(log: &LogHandle, hub: &StatusHub) {
    let mut reopened = 0;
    let mut report = |what: &str, path: Option<PathBuf>, result: std::io::Result<()>| match result {
        Ok(()) => reopened += usize::from(path.is_some()),
        Err(e) => warn!(
            file = %path.map(|p| p.display().to_string()).unwrap_or_default(),
            error = %e,
            "cannot reopen the {what}; still writing to the old file (is its directory writable by the daemon's user?)"
        ),
    };
    if let Some(f) = log.file() {
        report("log file", Some(f.path().to_path_buf()), f.reopen());
    }
    if let Some(f) = hub.audit().file() {
        report("audit log", Some(f.path().to_path_buf()), f.reopen());
    }
    for f in hub.statistics().files() {
        report("statistics log", Some(f.path().to_path_buf()), f.reopen());
    }
    info!(files = reopened, "log files reopened (SIGUSR1)");
}

/// Removes test faults whose time is up; logs and audits each.
pub fn expire_faults(hub: &StatusHub) {
    for f in hub.faults().expire() {
        warn!(id = f.id, fault = f.request.fault.name(), "test fault ended");
        hub.audit().record("test_fault_ended", json!({ "fault": f }));
    }
}

/// Audits a change of the NTS cookie key set (`CookieKeyStore::maintain`
/// returned true): key ids only, never key material.
pub fn audit_nts_keys(audit: &AuditLog, store: &CookieKeyStore) {
    audit.record("nts_key_rotation", json!({ "sealing_key": store.sealing_id(), "keys": store.ids() }));
}

/// What is known of `[security.authentication] key_file` at the last load:
/// its path, a fingerprint of its content (kept in memory, never written)
/// and the key ids it holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyFileState {
    path: Option<PathBuf>,
    fingerprint: Option<[u8; 32]>,
    ids: Vec<u32>,
}

impl KeyFileState {
    /// Reads the key file `config` names (an unreadable file has no
    /// fingerprint; the preflight reports why).
    pub fn read(config: &Config) -> KeyFileState {
        let Some(path) = config.security.authentication.key_file.clone() else { return KeyFileState::default() };
        let text = std::fs::read_to_string(&path).ok();
        let fingerprint = text.as_ref().map(|t| Sha256::digest(t.as_bytes()).into());
        let mut ids: Vec<u32> = text
            .as_deref()
            .and_then(|t| ntp_proto::auth::parse_keyfile(t).ok())
            .map(|keys| keys.iter().map(|k| k.id()).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        KeyFileState { path: Some(path), fingerprint, ids }
    }

    /// Audits `self` → `new` when the file (or its content) changed.
    pub fn audit_change(&self, new: &KeyFileState, audit: &AuditLog) {
        if self == new {
            return;
        }
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        audit.record(
            "key_file_change",
            json!({
                "from_file": path(&self.path),
                "to_file": path(&new.path),
                "keys_before": self.ids,
                "keys_after": new.ids,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_changes_are_seen_without_writing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "1 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n").unwrap();
        let mut config = Config::default();
        config.security.authentication.key_file = Some(keys.clone());
        let before = KeyFileState::read(&config);
        assert_eq!(before, KeyFileState::read(&config));
        std::fs::write(&keys, "1 SHA1 HEX:ffffffffffffffffffffffffffffffffffffffff\n2 MD5 ASCII:secretword\n").unwrap();
        let after = KeyFileState::read(&config);
        assert_ne!(before, after);
        let audit_path = dir.path().join("audit.log");
        let audit = AuditLog::open(Some(&audit_path)).unwrap();
        before.audit_change(&before, &audit);
        before.audit_change(&after, &audit);
        let text = std::fs::read_to_string(&audit_path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["event"], "key_file_change");
        assert_eq!(line["keys_before"], json!([1]));
        assert_eq!(line["keys_after"], json!([1, 2]));
        assert!(!text.contains("secretword") && !text.contains("ffff"), "{text}");
    }

    #[test]
    fn nts_key_rotations_are_audited_with_ids_never_key_material() {
        use std::time::{Duration, UNIX_EPOCH};
        let hour = Duration::from_secs(3600);
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("nts-keys");
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let mut store = CookieKeyStore::open_at(Some(keys.clone()), hour, 1, at(3600 * 7 + 60)).unwrap();
        // The next hour's key is made ahead of time; two hours on, 7 expires.
        assert!(store.maintain_at(at(3600 * 9 + 60)).unwrap());
        let audit_path = dir.path().join("audit.log");
        let audit = AuditLog::open(Some(&audit_path)).unwrap();
        audit_nts_keys(&audit, &store);
        let text = std::fs::read_to_string(&audit_path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["event"], "nts_key_rotation");
        assert_eq!(line["sealing_key"], json!(9));
        assert_eq!(line["keys"], json!(store.ids()));
        assert!(line["keys"].as_array().unwrap().contains(&json!(9)), "{text}");
        // No key (the files hold it as hex) reaches the audit log.
        for entry in std::fs::read_dir(&keys).unwrap() {
            let key = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(key.trim().len() >= 32 && !text.contains(key.trim()), "{text}");
        }
    }
}
