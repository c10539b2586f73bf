//! Feeds the [`History`](super::history::History) from what the daemon has
//! already published in the [`StatusHub`]: the served state, the sync
//! report and the server counters, read every
//! [`FINE_INTERVAL_SECONDS`](super::history::FINE_INTERVAL_SECONDS) by a
//! task on the daemon's event loop. Producers know nothing about it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntp_proto::server::DropReason;

use super::history::{Observation, FINE_INTERVAL_SECONDS};
use super::StatusHub;

/// Takes one sample of `hub` into its history.
pub fn sample(hub: &StatusHub) {
    let snap = hub.state().load();
    let sync = hub.sync();
    let totals = hub.stats().totals();
    let mut dropped = [0u64; DropReason::COUNT];
    for (slot, (_, n)) in dropped.iter_mut().zip(totals.dropped.iter()) {
        *slot = *n;
    }
    let synchronised = snap.server.is_synchronised();
    let observation = Observation {
        time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        stratum: if synchronised { snap.server.stratum.max(1) } else { 0 },
        offset: sync.offset,
        jitter: sync.jitter,
        frequency_ppm: sync.frequency_ppm,
        received: totals.received,
        dropped,
        sources: &sync.sources,
    };
    hub.history().lock().unwrap_or_else(|e| e.into_inner()).record(&observation);
}

/// Samples `hub` now and then every interval until the runtime ends or the
/// task is aborted.
pub fn spawn(hub: Arc<StatusHub>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(u64::from(FINE_INTERVAL_SECONDS)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sample(&hub);
        }
    })
}
