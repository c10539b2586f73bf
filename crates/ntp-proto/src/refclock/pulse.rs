//! Pulse-per-second edges: a pulse says exactly *when* a second (or a
//! 1/rate fraction of one) begins, but not *which* second. Its offset is
//! the distance of the local clock's reading at the edge from the nearest
//! boundary; which boundary is decided by another clock:
//!
//! - **locked** (`lock = "REFID"`): the latest sample of another reference
//!   clock (typically the NMEA messages of the same receiver) must lie
//!   within 2 pulses of the edge and agree with the edge's offset to within
//!   0.4 of the pulse interval once whole intervals are added (chrony's
//!   `PPS_LOCK_LIMIT`); the edge then takes the seconds from it.
//! - **unlocked**: the local clock must already be synchronised (to any
//!   source) with a root distance below half the pulse interval, so its
//!   own idea of the second is right.

use crate::timestamp::NtpTimestamp;

/// Largest disagreement with the locked clock, as a fraction of the pulse
/// interval.
pub const LOCK_LIMIT: f64 = 0.4;

/// The offset (reference minus local, seconds) an edge at local time `edge`
/// implies if it marks the nearest 1/`rate` boundary, after adding the
/// configured `offset`; in [−0.5/rate, 0.5/rate).
pub fn edge_offset(edge: NtpTimestamp, offset: f64, rate: u32) -> f64 {
    let rate = f64::from(rate.max(1));
    let fraction = (edge.to_bits() & 0xFFFF_FFFF) as f64 / 4_294_967_296.0;
    fold(-fraction + offset, rate)
}

/// `offset` reduced to [−0.5/rate, 0.5/rate) by whole pulse intervals.
pub fn fold(offset: f64, rate: f64) -> f64 {
    let mut o = offset - (offset * rate).trunc() / rate;
    if o < -0.5 / rate {
        o += 1.0 / rate;
    } else if o >= 0.5 / rate {
        o -= 1.0 / rate;
    }
    o
}

/// The locked clock's latest sample, as a pulse sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LockReference {
    /// Its local time.
    pub time: NtpTimestamp,
    /// Its offset (reference minus local), seconds.
    pub offset: f64,
    /// Its uncertainty: its own dispersion plus the clock's usual noise, s.
    pub dispersion: f64,
}

/// Why an edge could not be given its second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PulseError {
    /// The locked clock has no sample yet.
    NoLockSample,
    /// The locked clock's sample is further from the edge than `max_lock_age` pulses.
    LockTooOld {
        /// Seconds between the edge and the sample.
        age: f64,
    },
    /// The two disagree by more than [`LOCK_LIMIT`] of the pulse interval.
    LockDisagrees {
        /// Locked clock's offset minus the edge's, after alignment, s.
        difference: f64,
    },
    /// Unlocked, and the local clock is not synchronised well enough.
    NotSynchronised,
}

impl core::fmt::Display for PulseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PulseError::NoLockSample => f.write_str("the locked reference clock has no sample yet"),
            PulseError::LockTooOld { age } => write!(f, "the locked clock's sample is {age:.3} s from the pulse"),
            PulseError::LockDisagrees { difference } => {
                write!(f, "the locked clock disagrees with the pulse by {difference:.6} s (check its offset option)")
            }
            PulseError::NotSynchronised => {
                f.write_str("no lock, and the clock is not synchronised within half a pulse interval")
            }
        }
    }
}

/// Aligns an edge's `offset` (from [`edge_offset`]) at `edge` to the locked
/// clock's sample: the whole pulse intervals come from the lock, the
/// fraction from the edge. `dispersion` is the edge's own.
pub fn align_to_lock(
    offset: f64,
    edge: NtpTimestamp,
    dispersion: f64,
    lock: Option<LockReference>,
    rate: u32,
    max_lock_age: u32,
) -> Result<f64, PulseError> {
    let lock = lock.ok_or(PulseError::NoLockSample)?;
    let rate = f64::from(rate.max(1));
    let age = edge.since(lock.time).to_seconds();
    if age.abs() >= f64::from(max_lock_age.max(1)) / rate {
        return Err(PulseError::LockTooOld { age });
    }
    let aligned = offset + ((lock.offset - offset) * rate).round() / rate;
    let difference = lock.offset - aligned;
    if difference.abs() + lock.dispersion + dispersion > LOCK_LIMIT / rate {
        return Err(PulseError::LockDisagrees { difference });
    }
    Ok(aligned)
}

/// Checks that an unlocked edge can use the local clock's own second.
pub fn check_unlocked(synchronised: bool, root_distance: f64, rate: u32) -> Result<(), PulseError> {
    if synchronised && root_distance < 0.5 / f64::from(rate.max(1)) {
        Ok(())
    } else {
        Err(PulseError::NotSynchronised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::NtpDuration;

    fn at(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_767_225_600, 0) + NtpDuration::from_seconds(s)
    }

    #[test]
    fn edges_are_measured_from_the_nearest_boundary() {
        // The local clock reads 0.000250 past the second at the edge: it is
        // 250 µs fast, the offset is −250 µs.
        assert!((edge_offset(at(10.000_25), 0.0, 1) + 0.000_25).abs() < 1e-9);
        // 0.9997 past: 300 µs slow.
        assert!((edge_offset(at(10.9997), 0.0, 1) - 0.0003).abs() < 1e-9);
        // The configured offset is added (cable delay, assert latency).
        assert!((edge_offset(at(10.0), 1e-6, 1) - 1e-6).abs() < 1e-9);
        // Higher rates fold to a shorter interval.
        assert!((edge_offset(at(10.2003), 0.0, 5) + 0.0003).abs() < 1e-9);
        for x in [-0.74, -0.5, -0.26, 0.0, 0.26, 0.5, 0.74, 3.3] {
            let f = fold(x, 2.0);
            assert!((-0.25..0.25).contains(&f), "{x} → {f}");
        }
    }

    #[test]
    fn a_lock_gives_the_seconds_and_checks_agreement() {
        // NMEA says the clock is 2.02 s slow (±10 ms); the edge says it is
        // 300 µs slow of a boundary: together, 2.0003 s slow.
        let edge = at(100.0);
        let off = 0.0003;
        let lock = LockReference { time: at(99.5), offset: 2.02, dispersion: 0.01 };
        let aligned = align_to_lock(off, edge, 1e-6, Some(lock), 1, 2).unwrap();
        assert!((aligned - 2.0003).abs() < 1e-9, "{aligned}");
        assert_eq!(align_to_lock(off, edge, 1e-6, None, 1, 2), Err(PulseError::NoLockSample));
        let old = LockReference { time: at(97.5), ..lock };
        assert!(matches!(align_to_lock(off, edge, 1e-6, Some(old), 1, 2), Err(PulseError::LockTooOld { .. })));
        // Half a second apart: the lock cannot tell which second.
        let far = LockReference { offset: 2.45, ..lock };
        assert!(matches!(align_to_lock(off, edge, 1e-6, Some(far), 1, 2), Err(PulseError::LockDisagrees { .. })));
        // A noisy lock reference counts against the limit too.
        let noisy = LockReference { dispersion: 0.39, ..lock };
        assert!(align_to_lock(off, edge, 1e-6, Some(noisy), 1, 2).is_err());
    }

    #[test]
    fn unlocked_edges_need_a_synchronised_clock() {
        assert!(check_unlocked(true, 0.01, 1).is_ok());
        assert_eq!(check_unlocked(false, 0.01, 1), Err(PulseError::NotSynchronised));
        assert_eq!(check_unlocked(true, 0.6, 1), Err(PulseError::NotSynchronised));
        assert_eq!(check_unlocked(true, 0.11, 5), Err(PulseError::NotSynchronised));
    }
}
