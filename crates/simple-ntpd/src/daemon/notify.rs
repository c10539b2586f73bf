//! Telling the service manager how the daemon is (sd_notify(3), for
//! `Type=notify` in deploy/systemd/simple-ntpd.service): `READY=1` once the
//! listeners, the API and the time source run; `STATUS=` with the serving
//! mode, stratum and sources whenever that line changes; `WATCHDOG=1` at half
//! the interval systemd asks for (`WatchdogSec=`, seen as `WATCHDOG_USEC`),
//! sent from the event loop so a stuck loop stops the pings;
//! `RELOADING=1` … `READY=1` around a reload and `STOPPING=1` at the end.
//! Without `NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::status::{views, StatusHub};

/// The daemon's side of sd_notify.
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
    last_status: String,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` from the environment.
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let watchdog = if enabled { sd_notify::watchdog_enabled() } else { None };
        if enabled {
            tracing::debug!(watchdog = ?watchdog, "service manager notifications on");
        }
        Notifier { enabled, watchdog, last_status: String::new() }
    }

    /// How often to ping the watchdog (half its interval), if it is on.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| (w / 2).max(Duration::from_millis(100)))
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            tracing::warn!(error = %e, "cannot notify the service manager");
        }
    }

    /// Serving: `READY=1` with the first status line.
    pub fn ready(&mut self, hub: &StatusHub) {
        self.last_status = status_line(hub);
        self.send(&[NotifyState::Ready, NotifyState::Status(&self.last_status)]);
    }

    /// `STATUS=` when the line changed since the last one sent.
    pub fn update(&mut self, hub: &StatusHub) {
        let line = status_line(hub);
        if line != self.last_status {
            self.last_status = line;
            self.send(&[NotifyState::Status(&self.last_status)]);
        }
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// A reload starts (`RELOADING=1` with the monotonic time systemd ≥ 253 wants).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// A reload ended (applied or refused): `READY=1` and the status line.
    pub fn reloaded(&mut self, hub: &StatusHub) {
        self.ready(hub);
    }

    /// Shutting down.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

/// One line for `systemctl status`: the serving mode, stratum, offset,
/// usable sources and any injected test fault.
pub fn status_line(hub: &StatusHub) -> String {
    let status = views::status(hub);
    let mut line = match status.mode.as_str() {
        "unsynchronised" => "unsynchronised".to_owned(),
        mode => format!("{}, stratum {}", mode.replace('_', " "), status.stratum),
    };
    if status.sources_total > 0 {
        line.push_str(&format!(
            ", {}/{} sources usable, offset {:+.6} s",
            status.sources_selectable, status.sources_total, status.offset_seconds
        ));
    }
    let faults = hub.faults().active();
    if !faults.is_empty() {
        let names: Vec<String> = faults.iter().map(|f| f.request.fault.name().to_owned()).collect();
        line.push_str(&format!(", test faults: {}", names.join(" ")));
    }
    line
}
