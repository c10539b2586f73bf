//! Adaptive estimate of the local oscillator's frequency wander `q` (the
//! spectral density of its random-walk frequency, (s/s)²/s) from the
//! filter's own innovations.
//!
//! If `q` is too small the filter lags behind the wandering frequency and
//! its residuals come out larger than it predicted; if too large, it
//! predicts more error than it sees. So `q` is nudged in proportion to how
//! far a running mean of the normalised squared residuals (expected value
//! 1) is from 1, multiplicatively and within [`Q_MIN`, `Q_MAX`].

/// Smallest wander considered: 0.01 ppb/s (a very stable oscillator).
pub const Q_MIN: f64 = 1e-22;
/// Largest wander considered: 1 ppm/s.
pub const Q_MAX: f64 = 1e-12;
/// Starting wander: 1 ppb/s.
pub const Q_START: f64 = 1e-18;

const AVERAGE_WEIGHT: f64 = 1.0 / 16.0;
const GAIN: f64 = 0.1;
const CLIP: f64 = 5.0;

/// The running wander estimate of one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WanderEstimator {
    q: f64,
    mean_nis: f64,
}

impl Default for WanderEstimator {
    fn default() -> Self {
        WanderEstimator { q: Q_START, mean_nis: 1.0 }
    }
}

impl WanderEstimator {
    /// The current estimate, (s/s)²/s.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// The running mean of the normalised squared residuals.
    pub fn mean_nis(&self) -> f64 {
        self.mean_nis
    }

    /// Feeds one normalised squared residual.
    pub fn observe(&mut self, nis: f64) {
        if !nis.is_finite() {
            return;
        }
        self.mean_nis += AVERAGE_WEIGHT * (nis.min(CLIP) - self.mean_nis);
        let factor = (GAIN * (self.mean_nis - 1.0)).exp();
        self.q = (self.q * factor).clamp(Q_MIN, Q_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_residuals_raise_and_small_ones_lower_the_wander() {
        let mut w = WanderEstimator::default();
        for _ in 0..40 {
            w.observe(4.0);
        }
        assert!(w.q() > Q_START * 10.0);
        let mut w = WanderEstimator::default();
        for _ in 0..40 {
            w.observe(0.1);
        }
        assert!(w.q() < Q_START / 3.0);
        w.observe(f64::NAN);
        for _ in 0..10_000 {
            w.observe(0.0);
        }
        assert_eq!(w.q(), Q_MIN);
    }
}
