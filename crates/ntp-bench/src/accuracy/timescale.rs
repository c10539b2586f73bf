//! [`Timescale`]: the reference time the upstream serves and the probe
//! measures against, as a function of the host clock (CLOCK_REALTIME):
//! `reference(h) = h + offset + drift × (h − epoch)`. The upstream and the
//! probe are given the same three numbers, so the probe knows the reference
//! time at every kernel timestamp it takes.

/// A reference timescale over the host clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timescale {
    /// Host time (Unix ns) at which the drift term is zero.
    pub epoch_ns: i64,
    /// Constant offset, s.
    pub offset_s: f64,
    /// Frequency error, ppm (positive: the reference runs fast).
    pub drift_ppm: f64,
}

impl Timescale {
    /// Reference time (Unix ns) at host time `host_ns` (Unix ns).
    pub fn at(&self, host_ns: i64) -> i64 {
        let elapsed = host_ns.saturating_sub(self.epoch_ns) as f64;
        let correction = self.offset_s * 1e9 + self.drift_ppm * 1e-6 * elapsed;
        host_ns.saturating_add(correction.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_drift() {
        let t = Timescale { epoch_ns: 1_000_000_000_000, offset_s: 0.05, drift_ppm: 10.0 };
        assert_eq!(t.at(t.epoch_ns), t.epoch_ns + 50_000_000);
        // 100 s later, 10 ppm has added 1 ms.
        let h = t.epoch_ns + 100_000_000_000;
        assert_eq!(t.at(h), h + 51_000_000);
        let still = Timescale { drift_ppm: 0.0, ..t };
        assert_eq!(still.at(h), h + 50_000_000);
    }
}
