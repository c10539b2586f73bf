//! Where chronyd/chronyc are, and how to run chronyd as the current user.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where `scripts/install-test-deps.sh` unpacks chrony.
pub const UNPACKED_CHRONYD: &str = "/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd";

/// `SIMPLE_NTPD_CHRONYD` if set (and executable), else the unpacked
/// `$SIMPLE_NTPD_PEERS_DIR/chrony/usr/sbin/chronyd` (when that variable is set), else
/// `/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd`, else `chronyd` on `PATH`.
pub fn chronyd_path() -> Option<PathBuf> {
    let custom = std::env::var("SIMPLE_NTPD_PEERS_DIR").ok().map(|d| format!("{d}/chrony/usr/sbin/chronyd"));
    let mut fallbacks: Vec<&str> = custom.iter().map(String::as_str).collect();
    fallbacks.push(UNPACKED_CHRONYD);
    crate::peers::locate("SIMPLE_NTPD_CHRONYD", &fallbacks, "chronyd")
}

/// Arguments that let chronyd run without its packaged `_chrony` user:
/// `-u root` when running as root, else `-U -u <current user>` (no root check, no
/// privilege drop).
pub fn chronyd_user_args() -> Vec<String> {
    if effective_uid() == Some(0) {
        return vec!["-u".into(), "root".into()];
    }
    let name = crate::command::run_bounded(Command::new("id").arg("-un"), Duration::from_secs(5))
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "nobody".into());
    vec!["-U".into(), "-u".into(), name]
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
