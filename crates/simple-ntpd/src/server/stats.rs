//! Per-worker packet counters. Each worker owns its counters on its own cache
//! line and is their only writer (plain load+store, no locked instructions);
//! readers sum them across workers. Requests, replies and drops are counted
//! per interface slot (see `crate::interfaces::slots`): totals are their
//! sums.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ntp_proto::server::DropReason;

use crate::interfaces::slots::MAX_SLOTS;

/// One worker's counters of one interface slot.
#[derive(Default, Debug)]
struct SlotCounters {
    received: AtomicU64,
    replied: AtomicU64,
    broadcasts: AtomicU64,
    dropped: [AtomicU64; DropReason::COUNT],
}

/// One worker's counters.
#[repr(align(128))]
#[derive(Debug)]
pub struct WorkerStats {
    slots: [SlotCounters; MAX_SLOTS],
    send_errors: AtomicU64,
    receive_errors: AtomicU64,
    rx_timestamp_fallback: AtomicU64,
    kod_sent: AtomicU64,
    authenticated: AtomicU64,
    nts_replied: AtomicU64,
    control_replied: AtomicU64,
    interleaved: AtomicU64,
    tx_timestamp_missed: AtomicU64,
    send_chunks: AtomicU64,
    chunked_replies: AtomicU64,
    /// Gauge: the batched sends' worst predicted transmit-time scatter (ns).
    transmit_spread_ns: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            slots: std::array::from_fn(|_| SlotCounters::default()),
            send_errors: AtomicU64::new(0),
            receive_errors: AtomicU64::new(0),
            rx_timestamp_fallback: AtomicU64::new(0),
            kod_sent: AtomicU64::new(0),
            authenticated: AtomicU64::new(0),
            nts_replied: AtomicU64::new(0),
            control_replied: AtomicU64::new(0),
            interleaved: AtomicU64::new(0),
            tx_timestamp_missed: AtomicU64::new(0),
            send_chunks: AtomicU64::new(0),
            chunked_replies: AtomicU64::new(0),
            transmit_spread_ns: AtomicU64::new(0),
        }
    }
}

#[inline]
fn bump(c: &AtomicU64) {
    // Single writer: no read-modify-write needed.
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

impl WorkerStats {
    /// A datagram arrived on the interface of `slot`.
    #[inline]
    pub fn received(&self, slot: usize) {
        bump(&self.slots[slot % MAX_SLOTS].received);
    }
    /// A reply was sent on the interface of `slot`.
    #[inline]
    pub fn replied(&self, slot: usize) {
        bump(&self.slots[slot % MAX_SLOTS].replied);
    }
    /// A broadcast was sent on the interface of `slot`.
    #[inline]
    pub fn broadcast(&self, slot: usize) {
        bump(&self.slots[slot % MAX_SLOTS].broadcasts);
    }
    /// A datagram from the interface of `slot` was not answered.
    #[inline]
    pub fn dropped(&self, slot: usize, reason: DropReason) {
        bump(&self.slots[slot % MAX_SLOTS].dropped[reason.index()]);
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
    /// A reply went out in interleaved mode.
    #[inline]
    pub fn interleaved(&self) {
        bump(&self.interleaved);
    }
    /// The kernel transmit timestamp asked for with a reply (to an
    /// interleaved-mode client, whose next reply is then basic, or as a
    /// calibration sample of batched sends) was not there after the send.
    #[inline]
    pub fn tx_timestamp_missed(&self) {
        bump(&self.tx_timestamp_missed);
    }
    /// A chunk of `replies` replies (time and kiss-o'-death) went to the
    /// kernel in one system call of a batched send.
    #[inline]
    pub fn send_chunk(&self, replies: usize) {
        bump(&self.send_chunks);
        let c = &self.chunked_replies;
        c.store(c.load(Relaxed).wrapping_add(replies as u64), Relaxed);
    }
    /// The batched sends' calibration now predicts transmit times to within
    /// `seconds` (its bound on the scatter; see `transmit_calibration`).
    #[inline]
    pub fn transmit_spread(&self, seconds: f64) {
        self.transmit_spread_ns.store((seconds * 1e9).round() as u64, Relaxed);
    }
    /// The kernel gave no receive timestamp; the clock was read instead.
    #[inline]
    pub fn rx_timestamp_fallback(&self) {
        bump(&self.rx_timestamp_fallback);
    }
}

/// Counters summed over all workers.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
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
    /// Replies sent in interleaved mode.
    pub interleaved: u64,
    /// Kernel transmit timestamps asked for but missed (interleaved-mode
    /// replies, calibration samples of batched sends).
    pub tx_timestamp_missed: u64,
    /// System calls of batched sends, each with a chunk of replies.
    pub send_chunks: u64,
    /// Replies sent in those chunks.
    pub chunked_replies: u64,
    /// The worst predicted transmit-time scatter of any worker's batched
    /// sends, in seconds (0 without batched sends).
    pub transmit_spread: f64,
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

    /// Requests, replies and drops per (listen address, interface slot),
    /// only where something arrived; in address, then slot order.
    pub fn by_address_and_slot(&self) -> Vec<(SocketAddr, usize, SlotTotals)> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(SocketAddr, usize, SlotTotals)> = Vec::new();
        for (addr, w) in workers.iter() {
            for (slot, c) in w.slots.iter().enumerate() {
                let received = c.received.load(Relaxed);
                let broadcasts = c.broadcasts.load(Relaxed);
                if received == 0 && broadcasts == 0 {
                    continue;
                }
                let i = match out.iter().position(|(a, s, _)| a == addr && *s == slot) {
                    Some(i) => i,
                    None => {
                        out.push((*addr, slot, SlotTotals::default()));
                        out.len() - 1
                    }
                };
                let t = &mut out[i].2;
                t.received += received;
                t.broadcasts += broadcasts;
                t.replied += c.replied.load(Relaxed);
                for (sum, d) in t.dropped.iter_mut().zip(c.dropped.iter()) {
                    *sum += d.load(Relaxed);
                }
            }
        }
        out.sort_by_key(|(a, s, _)| (*a, *s));
        out
    }

    /// [`Self::by_address_and_slot`] summed over listen addresses, by slot.
    pub fn by_slot(&self) -> Vec<(usize, SlotTotals)> {
        let mut out: Vec<(usize, SlotTotals)> = Vec::new();
        for (_, slot, t) in self.by_address_and_slot() {
            match out.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, sum)) => sum.add(&t),
                None => out.push((slot, t)),
            }
        }
        out.sort_by_key(|(s, _)| *s);
        out
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

/// One interface slot's counters, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotTotals {
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Drops by reason, in [`DropReason::ALL`] order.
    pub dropped: [u64; DropReason::COUNT],
}

impl SlotTotals {
    fn add(&mut self, o: &SlotTotals) {
        self.received += o.received;
        self.replied += o.replied;
        self.broadcasts += o.broadcasts;
        for (a, b) in self.dropped.iter_mut().zip(o.dropped.iter()) {
            *a += b;
        }
    }

    /// All drops together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

fn sum<'a>(workers: impl Iterator<Item = &'a WorkerStats>) -> Totals {
    let mut t = Totals { dropped: DropReason::ALL.iter().map(|r| (r.name(), 0)).collect(), ..Totals::default() };
    for w in workers {
        for c in &w.slots {
            t.received += c.received.load(Relaxed);
            t.replied += c.replied.load(Relaxed);
            for (slot, d) in t.dropped.iter_mut().zip(c.dropped.iter()) {
                slot.1 += d.load(Relaxed);
            }
        }
        t.send_errors += w.send_errors.load(Relaxed);
        t.receive_errors += w.receive_errors.load(Relaxed);
        t.rx_timestamp_fallback += w.rx_timestamp_fallback.load(Relaxed);
        t.kod_sent += w.kod_sent.load(Relaxed);
        t.authenticated += w.authenticated.load(Relaxed);
        t.nts_replied += w.nts_replied.load(Relaxed);
        t.control_replied += w.control_replied.load(Relaxed);
        t.interleaved += w.interleaved.load(Relaxed);
        t.tx_timestamp_missed += w.tx_timestamp_missed.load(Relaxed);
        t.send_chunks += w.send_chunks.load(Relaxed);
        t.chunked_replies += w.chunked_replies.load(Relaxed);
        t.transmit_spread = t.transmit_spread.max(w.transmit_spread_ns.load(Relaxed) as f64 * 1e-9);
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
        a.received(1);
        b.received(2);
        b.replied(2);
        a.dropped(1, DropReason::ControlMode);
        b.received(1);
        b.dropped(1, DropReason::InterfaceDisabled);
        let t = reg.totals();
        assert_eq!((t.received, t.replied, t.dropped_total()), (3, 1, 2));
        assert_eq!(t.dropped.iter().find(|(n, _)| *n == "control_mode").unwrap().1, 1);
        let per = reg.by_address();
        assert_eq!(per.len(), 2);
        assert_eq!(per[1].1.replied, 1);
        let slots = reg.by_slot();
        assert_eq!(
            slots.iter().map(|(s, t)| (*s, t.received, t.dropped_total())).collect::<Vec<_>>(),
            [(1, 2, 2), (2, 1, 0)]
        );
        assert_eq!(slots[0].1.dropped[DropReason::InterfaceDisabled.index()], 1);
        assert_eq!(reg.by_address_and_slot().len(), 3);
    }
}
