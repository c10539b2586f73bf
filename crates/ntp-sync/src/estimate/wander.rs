//! Adaptive estimates of the two noise levels a source's Kalman filter
//! needs and cannot know in advance, learnt from its own innovations (the
//! differences between each measured offset and the filter's prediction):
//!
//! - `q`, the local oscillator's frequency wander (the spectral density of
//!   its random-walk frequency, (s/s)²/s). It is read from the *correlation*
//!   of successive innovations: a filter whose `q` is too small lags behind
//!   the wandering frequency, so its innovations come in runs of one sign
//!   (positive correlation); one whose `q` is too large follows the
//!   measurement noise, so each innovation partly undoes the last (negative
//!   correlation). Only the right `q` leaves them uncorrelated, whatever the
//!   scale of the measurement noise — so a noise model that is a few percent
//!   off (the delay-based variance of [`super::noise`] is a model) does not
//!   push `q` anywhere. Each product of two successive normalised
//!   innovations nudges `q` multiplicatively, within [`Q_MIN`, `Q_MAX`].
//! - the noise scale: the factor by which the delay-based measurement
//!   variance is off, from the mean of the normalised squared innovations
//!   (expected value 1), slowly.
//!
//! (Until issue 23, `q` was driven by the squared innovations alone. They
//! cannot tell a `q` that is too large from a measurement variance that is
//! a few percent too small: on a quiet path polled every second, where the
//! measurement noise dominates every innovation, an 8 % bias of the noise
//! model drove `q` from 1 ppb/s up to its ceiling within the hour and the
//! filter averaged over a few samples instead of hundreds.)

/// Smallest wander considered: 0.01 ppb/s (a very stable oscillator).
pub const Q_MIN: f64 = 1e-22;
/// Largest wander considered: 1 ppm/s.
pub const Q_MAX: f64 = 1e-12;
/// Starting wander: 1 ppb/s.
pub const Q_START: f64 = 1e-18;
/// Bounds of the measurement noise scale.
pub const SCALE_MIN: f64 = 0.25;
/// See [`SCALE_MIN`].
pub const SCALE_MAX: f64 = 16.0;

/// Weight of the running mean of normalised squared innovations.
const AVERAGE_WEIGHT: f64 = 1.0 / 16.0;
/// Step of `ln q` per unit of innovation correlation.
const Q_GAIN: f64 = 0.05;
/// Step of the noise scale's logarithm per unit of excess squared innovation.
const SCALE_GAIN: f64 = 0.01;
/// Normalised squared innovations (and products) are clipped here, so one
/// spike cannot move either estimate far.
const CLIP: f64 = 5.0;

/// The running noise estimates of one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WanderEstimator {
    q: f64,
    scale: f64,
    mean_nis: f64,
    previous: Option<f64>,
}

impl Default for WanderEstimator {
    fn default() -> Self {
        WanderEstimator { q: Q_START, scale: 1.0, mean_nis: 1.0, previous: None }
    }
}

impl WanderEstimator {
    /// The current wander estimate, (s/s)²/s.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// The factor to apply to the delay-based measurement variance.
    pub fn noise_scale(&self) -> f64 {
        self.scale
    }

    /// The running mean of the normalised squared innovations.
    pub fn mean_nis(&self) -> f64 {
        self.mean_nis
    }

    /// Feeds one innovation: `residual` (s) and its predicted `variance`
    /// (s², with the noise scale applied).
    pub fn observe(&mut self, residual: f64, variance: f64) {
        if !(residual.is_finite() && variance.is_finite() && variance > 0.0) {
            return;
        }
        let u = residual / variance.sqrt();
        let nis = (u * u).min(CLIP);
        self.mean_nis += AVERAGE_WEIGHT * (nis - self.mean_nis);
        self.scale = (self.scale * (SCALE_GAIN * (nis - 1.0)).exp()).clamp(SCALE_MIN, SCALE_MAX);
        if let Some(p) = self.previous {
            let c = (u * p).clamp(-CLIP, CLIP);
            self.q = (self.q * (Q_GAIN * c).exp()).clamp(Q_MIN, Q_MAX);
        }
        self.previous = Some(u);
    }

    /// The filter restarted: the next innovation has no predecessor.
    pub fn forget_previous(&mut self) {
        self.previous = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_sign_raise_the_wander_and_alternating_signs_lower_it() {
        let mut w = WanderEstimator::default();
        for _ in 0..40 {
            w.observe(2.0, 1.0);
        }
        assert!(w.q() > Q_START * 10.0);
        let mut w = WanderEstimator::default();
        for i in 0..40 {
            w.observe(if i % 2 == 0 { 1.0 } else { -1.0 }, 1.0);
        }
        assert!(w.q() < Q_START / 3.0);
        w.observe(f64::NAN, 1.0);
        w.observe(1.0, 0.0);
        for i in 0..10_000 {
            w.observe(if i % 2 == 0 { 1.0 } else { -1.0 }, 1.0);
        }
        assert_eq!(w.q(), Q_MIN);
    }

    #[test]
    fn a_mis_scaled_noise_model_moves_the_scale_not_the_wander() {
        // Uncorrelated innovations 1.5× larger than predicted: the squared
        // innovations say "more noise", their correlation says nothing.
        let mut w = WanderEstimator::default();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Uniform on [-1.5·√3, 1.5·√3]: variance 2.25.
            let u = ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * 1.5 * 3f64.sqrt();
            w.observe(u, 1.0);
        }
        assert!(w.noise_scale() > 1.5, "{}", w.noise_scale());
        assert!(w.q() < Q_START * 100.0 && w.q() > Q_START / 100.0, "{}", w.q());
    }
}
