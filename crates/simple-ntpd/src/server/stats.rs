//! Per-worker packet counters. Each worker owns its counters on its own cache
//! line and is their only writer (plain load+store, no locked instructions);
//! readers sum them across workers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ntp_proto::server::DropReason;

/// One worker's counters.
#[repr(align(128))]
#[derive(Default, Debug)]
pub struct WorkerStats {
    received: AtomicU64,
    replied: AtomicU64,
    send_errors: AtomicU64,
    receive_errors: AtomicU64,
    rx_timestamp_fallback: AtomicU64,
    kod_sent: AtomicU64,
    authenticated: AtomicU64,
    nts_replied: AtomicU64,
    control_replied: AtomicU64,
    dropped: [AtomicU64; DropReason::COUNT],
}

#[inline]
fn bump(c: &AtomicU64) {
    // Single writer: no read-modify-write needed.
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

impl WorkerStats {
    /// A datagram arrived.
    #[inline]
    pub fn received(&self) {
        bump(&self.received);
    }
    /// A reply was sent.
    #[inline]
    pub fn replied(&self) {
        bump(&self.replied);
    }
    /// A datagram was not answered.
    #[inline]
    pub fn dropped(&self, reason: DropReason) {
        bump(&self.dropped[reason.index()]);
    }
    /// sendmsg failed.
    #[inline]
    pub fn send_error(&self) {
        bump(&self.send_errors);
    }
    /// recvmsg failed (other than a timeout).
    #[inline]
    pub fn receive_error(&self) {
        bump(&self.receive_errors);
    }
    /// A kiss-o'-death was sent instead of time.
    #[inline]
    pub fn kod_sent(&self) {
        bump(&self.kod_sent);
    }
    /// A reply carried a MAC.
    #[inline]
    pub fn authenticated(&self) {
        bump(&self.authenticated);
    }
    /// A reply was protected with NTS.
    #[inline]
    pub fn nts_replied(&self) {
        bump(&self.nts_replied);
    }
    /// A control (mode 6) query was answered (an error reply included).
    #[inline]
    pub fn control_replied(&self) {
        bump(&self.control_replied);
    }
    /// The kernel gave no receive timestamp; the clock was read instead.
    #[inline]
    pub fn rx_timestamp_fallback(&self) {
        bump(&self.rx_timestamp_fallback);
    }
}

/// Counters summed over all workers.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Failed sends.
    pub send_errors: u64,
    /// Failed receives.
    pub receive_errors: u64,
    /// Receives without a kernel timestamp.
    pub rx_timestamp_fallback: u64,
    /// Kiss-o'-death replies sent (DENY, RATE).
    pub kod_sent: u64,
    /// Replies authenticated with a MAC.
    pub authenticated: u64,
    /// Replies protected with NTS.
    pub nts_replied: u64,
    /// Control (mode 6) queries answered (error replies included).
    pub control_replied: u64,
    /// Drops by reason name.
    pub dropped: Vec<(&'static str, u64)>,
}

impl Totals {
    /// All drops together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// Workers' counters, each tagged with its listen address.
type TaggedStats = Vec<(SocketAddr, Arc<WorkerStats>)>;

/// The set of workers' counters, each tagged with its listen address.
#[derive(Clone, Default)]
pub struct StatsRegistry {
    workers: Arc<Mutex<TaggedStats>>,
}

impl StatsRegistry {
    /// Adds a worker's counters.
    pub fn register(&self, addr: SocketAddr, w: Arc<WorkerStats>) {
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).push((addr, w));
    }

    /// Sums every worker's counters.
    pub fn totals(&self) -> Totals {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        sum(workers.iter().map(|(_, w)| w.as_ref()))
    }

    /// Counters summed per listen address, in address order.
    pub fn by_address(&self) -> Vec<(SocketAddr, Totals)> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let mut addrs: Vec<SocketAddr> = workers.iter().map(|(a, _)| *a).collect();
        addrs.sort();
        addrs.dedup();
        addrs
            .into_iter()
            .map(|a| (a, sum(workers.iter().filter(|(wa, _)| *wa == a).map(|(_, w)| w.as_ref()))))
            .collect()
    }
}

fn sum<'a>(workers: impl Iterator<Item = &'a WorkerStats>) -> Totals {
    let mut t = Totals { dropped: DropReason::ALL.iter().map(|r| (r.name(), 0)).collect(), ..Totals::default() };
    for w in workers {
        t.received += w.received.load(Relaxed);
        t.replied += w.replied.load(Relaxed);
        t.send_errors += w.send_errors.load(Relaxed);
        t.receive_errors += w.receive_errors.load(Relaxed);
        t.rx_timestamp_fallback += w.rx_timestamp_fallback.load(Relaxed);
        t.kod_sent += w.kod_sent.load(Relaxed);
        t.authenticated += w.authenticated.load(Relaxed);
        t.nts_replied += w.nts_replied.load(Relaxed);
        t.control_replied += w.control_replied.load(Relaxed);
        for (slot, c) in t.dropped.iter_mut().zip(w.dropped.iter()) {
            slot.1 += c.load(Relaxed);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_over_workers() {
        let reg = StatsRegistry::default();
        let a = Arc::new(WorkerStats::default());
        let b = Arc::new(WorkerStats::default());
        reg.register("127.0.0.1:1".parse().unwrap(), a.clone());
        reg.register("127.0.0.1:2".parse().unwrap(), b.clone());
        a.received();
        b.received();
        b.replied();
        a.dropped(DropReason::ControlMode);
        let t = reg.totals();
        assert_eq!((t.received, t.replied, t.dropped_total()), (2, 1, 1));
        assert_eq!(t.dropped.iter().find(|(n, _)| *n == "control_mode").unwrap().1, 1);
        let per = reg.by_address();
        assert_eq!(per.len(), 2);
        assert_eq!(per[1].1.replied, 1);
    }
}
