//! Read-only access to the kernel's CLOCK_REALTIME, and a measurement of its
//! precision at start (RFC 5905 `precision`: the larger of the tick and the
//! cost of a read, as log2 seconds).

use ntp_proto::timestamp::precision_from_resolution;
use ntp_proto::NtpTimestamp;

/// The system clock, read with `clock_gettime(CLOCK_REALTIME)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// Current Unix time as (seconds, nanoseconds).
    pub fn unix_now() -> (i64, u32) {
        let ts =
            nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).expect("CLOCK_REALTIME is always readable");
        (ts.tv_sec(), ts.tv_nsec() as u32)
    }
}

impl SystemClock {
    /// The current time as an NTP timestamp.
    #[inline]
    pub fn now(&self) -> NtpTimestamp {
        let (s, n) = SystemClock::unix_now();
        NtpTimestamp::from_unix(s, n)
    }
}

/// Measures the clock's effective resolution: the smallest non-zero step
/// between consecutive reads over a short burst (this covers both the tick
/// and the read cost), in seconds.
pub fn measure_resolution() -> f64 {
    let mut best = u64::MAX;
    let mut prev = SystemClock::unix_now();
    for _ in 0..2000 {
        let cur = SystemClock::unix_now();
        let delta = (cur.0 - prev.0) as i128 * 1_000_000_000 + cur.1 as i128 - prev.1 as i128;
        if delta > 0 && (delta as u64) < best {
            best = delta as u64;
        }
        prev = cur;
    }
    if best == u64::MAX {
        1e-6
    } else {
        best as f64 * 1e-9
    }
}

/// The precision field for this host's clock.
pub fn measure_precision() -> i8 {
    precision_from_resolution(measure_resolution())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_monotonic_enough_and_near_system_time() {
        let a = SystemClock.now();
        let b = SystemClock.now();
        assert!(b.since(a).to_seconds() >= 0.0);
        let std_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((a.to_unix_near(std_now).0 - std_now).abs() <= 1);
    }

    #[test]
    fn precision_is_plausible() {
        let p = measure_precision();
        assert!((-32..=-6).contains(&p), "precision {p}");
    }
}
