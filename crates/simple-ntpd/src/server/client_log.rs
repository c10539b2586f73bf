//! A bounded per-worker log of recent clients (address, requests, drops,
//! last seen, the interface slot it last came in on), like `chronyc
//! clients`, for the management API.
//!
//! Fixed memory: a table of `capacity` slots allocated at start that a flood
//! from spoofed addresses cannot grow. The table is taken zero-filled from
//! the allocator (fresh zero pages), so the kernel backs a page only once a
//! client lands in it: an idle daemon does not pay for the whole table. Lookups probe a few slots from a
//! keyed hash (random per process, so collisions cannot be aimed); a new
//! client takes an empty slot or evicts the least recently seen in its probe
//! window. The worker is the only writer (plain relaxed stores); the API
//! reads concurrently and may see a slot mid-update, which only blurs a
//! statistic.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Slots examined per lookup.
const PROBE: usize = 4;

#[derive(zerocopy::FromZeros)]
struct Slot {
    key_hi: AtomicU64,
    key_lo: AtomicU64,
    requests: AtomicU64,
    dropped: AtomicU64,
    /// Last seen, Unix seconds; 0 = empty slot.
    last_seen: AtomicU64,
    /// The interface slot of its last request.
    interface: AtomicU64,
}

/// One worker's client table.
pub struct ClientLog {
    slots: Box<[Slot]>,
    mask: usize,
    seed: u64,
}

/// A client as read from the log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientEntry {
    /// Client address.
    pub address: IpAddr,
    /// Requests received from it.
    pub requests: u64,
    /// Of those, not answered (any drop reason).
    pub dropped: u64,
    /// Last request, Unix seconds.
    pub last_seen: u64,
    /// The interface slot of its last request.
    pub interface: usize,
}

fn key_of(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn ip_of(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl ClientLog {
    /// A table of at least `capacity` slots (rounded up to a power of two;
    /// 0 disables logging).
    pub fn new(capacity: usize, seed: u64) -> Self {
        let n = if capacity == 0 { 0 } else { capacity.next_power_of_two().max(PROBE) };
        ClientLog { slots: crate::zeroed::table(n), mask: n.saturating_sub(1), seed }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn hash(&self, key: u128) -> usize {
        // Keyed multiply-xorshift mix; good enough spread, not predictable
        // without the per-process seed.
        let mut h = (key as u64) ^ ((key >> 64) as u64).rotate_left(29) ^ self.seed;
        h = (h ^ (h >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        h = (h ^ (h >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        (h ^ (h >> 32)) as usize
    }

    /// Records one request from `ip` at Unix second `now` on the interface
    /// of counter slot `interface`; `answered` false counts it as dropped
    /// too. Called by the owning worker only.
    #[inline]
    pub fn record(&self, ip: IpAddr, now: u64, answered: bool, interface: usize) {
        if self.slots.is_empty() {
            return;
        }
        let key = key_of(ip);
        let (hi, lo) = ((key >> 64) as u64, key as u64);
        let start = self.hash(key);
        let mut victim = start & self.mask;
        let mut victim_age = u64::MAX;
        for i in 0..PROBE {
            let idx = (start + i) & self.mask;
            let s = &self.slots[idx];
            let seen = s.last_seen.load(Relaxed);
            if seen != 0 && s.key_hi.load(Relaxed) == hi && s.key_lo.load(Relaxed) == lo {
                s.requests.store(s.requests.load(Relaxed) + 1, Relaxed);
                if !answered {
                    s.dropped.store(s.dropped.load(Relaxed) + 1, Relaxed);
                }
                s.interface.store(interface as u64, Relaxed);
                s.last_seen.store(now.max(1), Relaxed);
                return;
            }
            if seen < victim_age {
                victim_age = seen;
                victim = idx;
            }
        }
        let s = &self.slots[victim];
        s.last_seen.store(0, Relaxed);
        s.key_hi.store(hi, Relaxed);
        s.key_lo.store(lo, Relaxed);
        s.requests.store(1, Relaxed);
        s.dropped.store(u64::from(!answered), Relaxed);
        s.interface.store(interface as u64, Relaxed);
        s.last_seen.store(now.max(1), Relaxed);
    }

    /// Every occupied slot.
    pub fn entries(&self) -> Vec<ClientEntry> {
        self.slots
            .iter()
            .filter_map(|s| {
                let last_seen = s.last_seen.load(Relaxed);
                (last_seen != 0).then(|| ClientEntry {
                    address: ip_of((u128::from(s.key_hi.load(Relaxed)) << 64) | u128::from(s.key_lo.load(Relaxed))),
                    requests: s.requests.load(Relaxed),
                    dropped: s.dropped.load(Relaxed),
                    last_seen,
                    interface: s.interface.load(Relaxed) as usize,
                })
            })
            .collect()
    }
}

/// Merges several workers' logs (a client may appear in more than one) and
/// returns the `limit` busiest, most requests first.
pub fn top_clients<'a>(logs: impl IntoIterator<Item = &'a ClientLog>, limit: usize) -> (Vec<ClientEntry>, usize) {
    let mut merged: std::collections::HashMap<IpAddr, ClientEntry> = std::collections::HashMap::new();
    for log in logs {
        for e in log.entries() {
            merged
                .entry(e.address)
                .and_modify(|m| {
                    m.requests += e.requests;
                    m.dropped += e.dropped;
                    if e.last_seen >= m.last_seen {
                        m.interface = e.interface;
                    }
                    m.last_seen = m.last_seen.max(e.last_seen);
                })
                .or_insert(e);
        }
    }
    let tracked = merged.len();
    let mut all: Vec<ClientEntry> = merged.into_values().collect();
    all.sort_by(|a, b| b.requests.cmp(&a.requests).then(b.last_seen.cmp(&a.last_seen)).then(a.address.cmp(&b.address)));
    all.truncate(limit);
    (all, tracked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_drops_per_client() {
        let log = ClientLog::new(64, 7);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..5 {
            log.record(a, 100, true, 1);
        }
        log.record(a, 101, false, 2);
        log.record(b, 102, true, 1);
        let (top, tracked) = top_clients([&log], 10);
        assert_eq!(tracked, 2);
        assert_eq!(top[0], ClientEntry { address: a, requests: 6, dropped: 1, last_seen: 101, interface: 2 });
        assert_eq!(top[1].address, b);
    }

    #[test]
    fn a_flood_of_addresses_stays_within_capacity() {
        let log = ClientLog::new(256, 99);
        for i in 0..100_000u32 {
            log.record(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | i)), u64::from(i) + 1, true, 0);
        }
        let entries = log.entries();
        assert!(entries.len() <= 256);
        // Recent clients survive eviction better than old ones.
        let newest = entries.iter().map(|e| e.last_seen).max().unwrap();
        assert_eq!(newest, 100_000);
    }

    #[test]
    fn merges_workers_and_disabled_log_is_empty() {
        let (w1, w2) = (ClientLog::new(16, 1), ClientLog::new(16, 2));
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        w1.record(ip, 5, true, 3);
        w2.record(ip, 9, true, 4);
        let (top, _) = top_clients([&w1, &w2], 5);
        assert_eq!(top, vec![ClientEntry { address: ip, requests: 2, dropped: 0, last_seen: 9, interface: 4 }]);
        let off = ClientLog::new(0, 0);
        off.record(ip, 1, true, 0);
        assert!(off.entries().is_empty());
    }
}
