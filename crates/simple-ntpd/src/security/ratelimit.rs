//! Per-client response rate limiting with chrony's semantics: a client may
//! average one response per `2^interval` seconds with bursts of `burst`;
//! beyond that, one in `2^leak` requests is still answered (so a limited
//! client can tell it is limited), the rest are dropped or, with `kod`,
//! answered with a RATE kiss-o'-death.
//!
//! Fixed memory: each worker owns a table of `table_size` slots allocated at
//! start (32 bytes each), zero-filled from fresh pages, so the kernel backs
//! a page only once clients land in it. Lookup probes a few slots from a keyed hash (a
//! per-process random key, so collisions cannot be aimed); a new client
//! takes the least recently seen slot in its window, so a flood from spoofed
//! addresses only recycles slots — it cannot grow memory. IPv6 clients are
//! keyed by their `/ipv6_prefix` network. SO_REUSEPORT sends one client's
//! packets to one worker as long as its source port stays the same.

use std::net::IpAddr;

use super::netset::canonical;

const PROBE: usize = 4;

/// `leak` value for a hard limit: no over-limit request is answered.
pub const NO_LEAK: u32 = u32::MAX;

/// The limits, from `[security.ratelimit]` or seed 000's
/// `max_queries_per_minute`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateParams {
    /// Average seconds between answered requests.
    pub interval_secs: f64,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// One in `2^leak` over-limit requests is answered anyway;
    /// [`NO_LEAK`] answers none (a hard limit).
    pub leak: u32,
    /// Send RATE kiss-o'-death to limited requests.
    pub kod: bool,
    /// Slots per worker.
    pub table_size: usize,
    /// IPv6 aggregation prefix.
    pub ipv6_prefix: u8,
}

impl RateParams {
    /// The limits `[security.ratelimit]` (or a VLAN's `ratelimit`) asks
    /// for; `None` when it is not enabled.
    pub fn from_config(rl: &ntp_config::RateLimitConfig) -> Option<RateParams> {
        rl.enabled.then(|| RateParams {
            interval_secs: 2f64.powi(rl.interval),
            burst: rl.burst,
            leak: rl.leak,
            kod: rl.kod,
            table_size: rl.table_size,
            ipv6_prefix: rl.ipv6_prefix,
        })
    }
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allow,
    /// Over the limit but let through (1 in 2^leak).
    Leak,
    /// Over the limit: not answered with time.
    Limit,
}

#[derive(Clone, Copy, Default, zerocopy::FromZeros)]
struct Slot {
    key: u128,
    /// Last request, seconds (0 = empty).
    last: f64,
    tokens: f32,
    over: u32,
}

/// One worker's limiter.
pub struct RateLimiter {
    slots: Box<[Slot]>,
    mask: usize,
    seed: u64,
}

impl RateLimiter {
    /// A table of at least `size` slots (a power of two).
    pub fn new(size: usize, seed: u64) -> Self {
        let n = size.max(PROBE).next_power_of_two();
        RateLimiter { slots: crate::zeroed::table(n), mask: n - 1, seed }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn key(ip: IpAddr, v6_prefix: u8) -> u128 {
        match canonical(ip) {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                let p = u32::from(v6_prefix.clamp(1, 128));
                a & (u128::MAX << (128 - p))
            }
        }
    }

    #[inline]
    fn hash(&self, key: u128) -> usize {
        let mut h = (key as u64) ^ ((key >> 64) as u64).rotate_left(31) ^ self.seed;
        h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        (h ^ (h >> 33)) as usize
    }

    /// Accounts one request from `ip` at `now` (seconds, any epoch that
    /// only moves forward in the normal case) and decides.
    #[inline]
    pub fn check(&mut self, ip: IpAddr, now: f64, p: &RateParams) -> Verdict {
        let key = Self::key(ip, p.ipv6_prefix);
        let start = self.hash(key);
        let mut victim = start & self.mask;
        let mut oldest = f64::INFINITY;
        let mut found = None;
        for i in 0..PROBE {
            let idx = (start + i) & self.mask;
            let s = &self.slots[idx];
            if s.last > 0.0 && s.key == key {
                found = Some(idx);
                break;
            }
            if s.last < oldest {
                oldest = s.last;
                victim = idx;
            }
        }
        let burst = p.burst.max(1) as f32;
        let idx = match found {
            Some(i) => {
                let s = &mut self.slots[i];
                let elapsed = (now - s.last).max(0.0);
                s.tokens = (s.tokens + (elapsed / p.interval_secs.max(1e-9)) as f32).min(burst);
                i
            }
            None => {
                self.slots[victim] = Slot { key, last: now, tokens: burst, over: 0 };
                victim
            }
        };
        let s = &mut self.slots[idx];
        s.last = now.max(f64::MIN_POSITIVE);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            s.over = 0;
            Verdict::Allow
        } else {
            s.over = s.over.wrapping_add(1);
            let every = 1u32 << p.leak.min(16);
            if p.leak != NO_LEAK && s.over.is_multiple_of(every) {
                Verdict::Leak
            } else {
                Verdict::Limit
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrony_default() -> RateParams {
        RateParams { interval_secs: 8.0, burst: 8, leak: 2, kod: false, table_size: 1024, ipv6_prefix: 64 }
    }

    #[test]
    fn burst_then_one_in_four() {
        let mut rl = RateLimiter::new(1024, 1);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let p = chrony_default();
        let verdicts: Vec<Verdict> = (0..100).map(|i| rl.check(ip, 1000.0 + f64::from(i) * 0.001, &p)).collect();
        let allowed = verdicts.iter().filter(|v| **v == Verdict::Allow).count();
        let leaked = verdicts.iter().filter(|v| **v == Verdict::Leak).count();
        assert_eq!(allowed, 8);
        assert_eq!(leaked, 23, "92 over the limit, one in four let through");
        // After waiting one interval a token is back.
        assert_eq!(rl.check(ip, 1000.2 + 8.0, &p), Verdict::Allow);
    }

    #[test]
    fn a_hard_limit_lets_nothing_through() {
        let mut rl = RateLimiter::new(1024, 1);
        let ip: IpAddr = "192.0.2.8".parse().unwrap();
        let p = RateParams { leak: NO_LEAK, ..chrony_default() };
        let verdicts: Vec<Verdict> = (0..100).map(|i| rl.check(ip, 1000.0 + f64::from(i) * 0.001, &p)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allow).count(), 8);
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Limit).count(), 92);
    }

    #[test]
    fn clients_are_independent_and_ipv6_is_aggregated_by_prefix() {
        let mut rl = RateLimiter::new(1024, 2);
        let p = RateParams { burst: 1, leak: 16, ..chrony_default() };
        assert_eq!(rl.check("2001:db8::1".parse().unwrap(), 1.0, &p), Verdict::Allow);
        assert_eq!(rl.check("2001:db8::2".parse().unwrap(), 1.0, &p), Verdict::Limit, "same /64");
        assert_eq!(rl.check("2001:db8:0:1::1".parse().unwrap(), 1.0, &p), Verdict::Allow, "other /64");
        assert_eq!(rl.check("192.0.2.1".parse().unwrap(), 1.0, &p), Verdict::Allow);
    }

    #[test]
    fn a_spoofed_flood_cannot_grow_the_table_nor_starve_a_steady_client() {
        let mut rl = RateLimiter::new(256, 3);
        let p = RateParams { interval_secs: 1.0, ..chrony_default() };
        let me: IpAddr = "198.51.100.1".parse().unwrap();
        let mut t = 0.0;
        for sec in 0..20 {
            for i in 0..1000u32 {
                t = f64::from(sec) + f64::from(i) * 1e-4;
                rl.check(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + sec * 1000 + i)), t, &p);
            }
            assert_ne!(rl.check(me, t, &p), Verdict::Limit, "steady client limited at {sec}s");
        }
        assert_eq!(rl.capacity(), 256);
    }
}
