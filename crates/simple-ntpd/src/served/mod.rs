//! What is served: the system state every reply carries and the correction
//! from the system clock to served time, published for the serving path.
//! (`status` is something else: what the API and metrics report.)
//!
//! One producer at a time — the [`local`] reference, the host clock
//! (`sync::host`) or the synchronisation loop (`sync::task`) — builds a
//! [`Snapshot`] and stores it in a [`StateCell`]. Workers load it per batch
//! without locks or contended writes (arc-swap). Replacing the producer
//! never touches the serving path.
//!
//! The cell also carries the [`leap::LeapState`] (the leap second table and
//! smear the daemon loaded) for whichever producer runs, and the sync
//! report (`status::SyncReport`: estimates and sources) that the status
//! API shows and the workers answer control (mode 6) queries from. Test
//! faults ([`overlay`]) are applied here, on the way in.

pub mod leap;
pub mod local;
pub mod overlay;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use ntp_proto::server::ServerState;
use ntp_proto::{NtpDuration, NtpTimestamp};

/// How served time differs from the system clock: `served = t + offset +
/// freq * (t - base)`. The identity while the daemon trusts the system clock
/// or steers it; the virtual clock (`sync::drivers::VirtualDriver`) fills it
/// in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correction {
    /// Constant offset added to every reading.
    pub offset: NtpDuration,
    /// Reference point for the frequency term.
    pub base: NtpTimestamp,
    /// Fractional frequency correction (1e-6 = 1 ppm).
    pub freq: f64,
}

impl Correction {
    /// No correction.
    pub const IDENTITY: Correction = Correction { offset: NtpDuration::ZERO, base: NtpTimestamp::ZERO, freq: 0.0 };

    /// Applies the correction to a system-clock reading.
    #[inline]
    pub fn apply(&self, t: NtpTimestamp) -> NtpTimestamp {
        if self.freq == 0.0 {
            return t + self.offset;
        }
        let drift = NtpDuration::from_seconds(t.since(self.base).to_seconds() * self.freq);
        t + (self.offset + drift)
    }
}

/// Everything a worker needs from the rest of the daemon to answer a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// Header fields for replies.
    pub server: ServerState,
    /// Correction from the system clock to served time.
    pub correction: Correction,
}

/// The shared, atomically replaced snapshot (and the leap second state
/// its producers apply).
#[derive(Clone)]
pub struct StateCell {
    served: Arc<ArcSwap<Snapshot>>,
    /// The producer's last snapshot and the test faults applied to it.
    produced: Arc<Mutex<(Snapshot, overlay::ServedFaults)>>,
    leap: Arc<ArcSwap<leap::LeapState>>,
    report: Arc<ArcSwap<crate::status::SyncReport>>,
}

impl StateCell {
    /// A cell holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        StateCell {
            served: Arc::new(ArcSwap::from_pointee(initial)),
            produced: Arc::new(Mutex::new((initial, overlay::ServedFaults::default()))),
            leap: Arc::new(ArcSwap::from_pointee(leap::LeapState::default())),
            report: Arc::new(ArcSwap::from_pointee(crate::status::SyncReport::default())),
        }
    }

    /// The latest synchronisation report.
    pub fn report(&self) -> Arc<crate::status::SyncReport> {
        self.report.load_full()
    }

    /// Publishes a synchronisation report (through `StatusHub::set_sync`).
    pub fn set_report(&self, report: crate::status::SyncReport) {
        self.report.store(Arc::new(report));
    }

    /// Replaces the snapshot; readers see either the old or the new one.
    pub fn publish(&self, snapshot: Snapshot) {
        let mut produced = self.produced.lock().unwrap_or_else(|e| e.into_inner());
        produced.0 = snapshot;
        self.served.store(Arc::new(produced.1.apply(snapshot, Instant::now())));
    }

    /// Sets the test faults and serves the last snapshot again under them.
    pub fn set_faults(&self, faults: overlay::ServedFaults) {
        let mut produced = self.produced.lock().unwrap_or_else(|e| e.into_inner());
        produced.1 = faults;
        self.served.store(Arc::new(faults.apply(produced.0, Instant::now())));
    }

    /// The current snapshot (a cheap guard; hold it only briefly).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.served.load()
    }

    /// The leap second table and smear in force.
    pub fn leap(&self) -> Arc<leap::LeapState> {
        self.leap.load_full()
    }

    /// Replaces the leap second state (at start, reload, and when the
    /// table is re-checked).
    pub fn set_leap(&self, state: leap::LeapState) {
        self.leap.store(Arc::new(state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_applies_offset_and_frequency() {
        let base = NtpTimestamp::from_unix(1_000, 0);
        let c = Correction { offset: NtpDuration::from_seconds(0.5), base, freq: 10e-6 };
        let t = NtpTimestamp::from_unix(1_100, 0);
        let served = c.apply(t);
        let diff = served.since(t).to_seconds();
        assert!((diff - (0.5 + 100.0 * 10e-6)).abs() < 1e-9, "{diff}");
        assert_eq!(Correction::IDENTITY.apply(t), t);
    }

    #[test]
    fn readers_see_published_state() {
        let cell =
            StateCell::new(Snapshot { server: ServerState::unsynchronised(-20), correction: Correction::IDENTITY });
        let reader = cell.clone();
        let mut s = **cell.load();
        s.server.stratum = 4;
        cell.publish(s);
        assert_eq!(reader.load().server.stratum, 4);
    }
}
