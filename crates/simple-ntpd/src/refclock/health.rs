//! What a driver says about its device, shared between its thread and the
//! status display: a state with a message, and counters. State changes are
//! logged when they happen; bad input is counted always and logged the
//! first time of each kind only.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use tracing::{info, warn};

/// The driver's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverState {
    /// Not opened yet.
    Starting,
    /// Open, nothing read yet (the writer has not started, no sentences).
    Waiting,
    /// Delivering samples.
    Ok,
    /// The receiver reports no fix (or its writer says it is not in sync).
    NoFix,
    /// The device cannot be opened or read; retried.
    Error,
}

impl DriverState {
    /// Name for the API (`ok`, `waiting`, `no_fix`, `error`, `starting`).
    pub fn name(self) -> &'static str {
        match self {
            DriverState::Starting => "starting",
            DriverState::Waiting => "waiting",
            DriverState::Ok => "ok",
            DriverState::NoFix => "no_fix",
            DriverState::Error => "error",
        }
    }
}

/// A snapshot for displays.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    /// State.
    pub state: DriverState,
    /// Why (for waiting, no fix and errors).
    pub message: Option<String>,
    /// Readings delivered.
    pub readings: u64,
    /// Inputs dropped as malformed.
    pub bad_input: u64,
}

struct Inner {
    state: DriverState,
    message: Option<String>,
    readings: u64,
    bad_input: u64,
    logged_kinds: BTreeSet<&'static str>,
    last_reading: Option<Instant>,
}

/// Shared by a driver thread and the sync loop.
pub struct Health {
    name: String,
    device: String,
    inner: Mutex<Inner>,
}

impl Health {
    /// For clock `name` reading `device`.
    pub fn new(name: &str, device: &str) -> Self {
        Health {
            name: name.to_owned(),
            device: device.to_owned(),
            inner: Mutex::new(Inner {
                state: DriverState::Starting,
                message: None,
                readings: 0,
                bad_input: 0,
                logged_kinds: BTreeSet::new(),
                last_reading: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the state; logs when it (or the message) changed.
    pub fn set(&self, state: DriverState, message: Option<String>) {
        let mut g = self.lock();
        if g.state == state && g.message == message {
            return;
        }
        let (name, device) = (&self.name, &self.device);
        match (state, &message) {
            (DriverState::Ok, _) => info!(refclock = %name, device = %device, "reference clock delivering samples"),
            (DriverState::Starting, _) => {}
            (_, Some(m)) => warn!(refclock = %name, device = %device, state = state.name(), "reference clock: {m}"),
            (_, None) => {
                warn!(refclock = %name, device = %device, state = state.name(), "reference clock state changed")
            }
        }
        g.state = state;
        g.message = message;
    }

    /// A reading was delivered.
    pub fn reading(&self) {
        let state_changes = {
            let mut g = self.lock();
            g.readings += 1;
            g.last_reading = Some(Instant::now());
            g.state != DriverState::Ok
        };
        if state_changes {
            self.set(DriverState::Ok, None);
        }
    }

    /// Seconds since the last reading.
    pub fn since_last_reading(&self) -> Option<f64> {
        self.lock().last_reading.map(|t| t.elapsed().as_secs_f64())
    }

    /// Malformed input of `kind` (counted; the first of each kind logged).
    pub fn bad_input(&self, kind: &'static str, detail: &str) {
        let mut g = self.lock();
        g.bad_input += 1;
        if g.logged_kinds.insert(kind) {
            warn!(
                refclock = %self.name,
                device = %self.device,
                kind,
                "malformed input dropped ({detail}); further ones of this kind are only counted"
            );
        }
    }

    /// The current state and counters.
    pub fn report(&self) -> HealthReport {
        let g = self.lock();
        HealthReport { state: g.state, message: g.message.clone(), readings: g.readings, bad_input: g.bad_input }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_counters() {
        let h = Health::new("GPS", "SHM 0");
        assert_eq!(h.report().state, DriverState::Starting);
        h.set(DriverState::Error, Some("no such device".into()));
        assert_eq!(h.report().message.as_deref(), Some("no such device"));
        h.reading();
        h.reading();
        h.bad_input("checksum", "x");
        h.bad_input("checksum", "y");
        let r = h.report();
        assert_eq!((r.state, r.message, r.readings, r.bad_input), (DriverState::Ok, None, 2, 2));
        assert!(h.since_last_reading().is_some_and(|s| s < 5.0));
    }
}
