//! Measurement noise of one source, from its delays.
//!
//! The offset error of an exchange is half the difference of the two
//! one-way delays, so it is bounded by half the round trip's *excess* delay
//! over the path's minimum. If the excess is split at random between the
//! two directions, the error is uniform within ±excess/2 and its variance
//! is `excess² / 12`. The minimum is the smallest delay of the last
//! [`WINDOW`] samples; since that is itself above the true minimum, an
//! allowance is added to every excess: the largest of the gap between the
//! two smallest delays, `0.7 × median excess / √n` (the expected distance of
//! the least of n delays from the true minimum, which shrinks as 1/√n when
//! the delay density rises linearly from the minimum, as it does for two
//! exponential one-way delays) and `minimum / n` (with a handful of samples
//! their spread is no guide: two that happen to be close would otherwise
//! make the next one look precise). With few samples the allowance is large
//! and the estimator does not over-trust the smallest delay seen so far.
//! Where the delays look like timestamp noise around a centre rather than
//! queueing ([`super::edge`]), the excess is measured from that centre,
//! on either side, instead of from the minimum.

use std::collections::VecDeque;

use super::edge::{self, TailShape};

/// Samples over which the minimum delay is taken.
pub const WINDOW: usize = 64;

/// The recent delays of one source.
#[derive(Clone, Debug, Default)]
pub struct DelayWindow {
    delays: VecDeque<f64>,
    min: f64,
    /// Where the delays start ([`edge::start`]): the minimum on a queueing
    /// path, the centre of the scatter where timestamp noise dominates.
    reference: f64,
    shape: TailShape,
    gap: f64,
}

impl DelayWindow {
    /// An empty window.
    pub fn new() -> Self {
        DelayWindow {
            delays: VecDeque::with_capacity(WINDOW),
            min: f64::INFINITY,
            reference: f64::INFINITY,
            shape: TailShape::default(),
            gap: 0.0,
        }
    }

    /// Records a delay (seconds; negative values count as zero).
    pub fn push(&mut self, delay: f64) {
        if !delay.is_finite() {
            return;
        }
        if self.delays.len() == WINDOW {
            self.delays.pop_front();
        }
        self.delays.push_back(delay.max(0.0));
        let mut sorted: Vec<f64> = self.delays.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let (a, n) = (sorted[0], sorted.len());
        let second_gap = sorted.get(1).map_or(a, |b| b - a);
        // The shape sees the delay as measured: a negative round trip (a
        // reply stamped later than it arrived) is noise's signature, and
        // clamping it would make a hard edge at zero.
        self.shape.push(delay);
        self.reference = edge::start(&sorted, self.shape.noise());
        let median_excess = sorted[n / 2] - self.reference;
        self.min = a;
        self.gap = second_gap.max(0.7 * median_excess / (n as f64).sqrt()).max(a / n as f64);
    }

    /// How far the delays look from queueing (0) towards timestamp noise
    /// around a centre (1): see [`edge`].
    pub fn noise(&self) -> f64 {
        self.shape.noise()
    }

    /// The smallest recent delay (infinite when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Number of delays held.
    pub fn len(&self) -> usize {
        self.delays.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.delays.is_empty()
    }

    /// The offset variance of a sample with round-trip `delay`, given the
    /// variance `floor` of its timestamps (clock precisions).
    pub fn variance(&self, delay: f64, floor: f64) -> f64 {
        let excess = if self.reference.is_finite() { (delay - self.reference).abs() } else { delay.max(0.0) };
        let e = excess + self.gap;
        floor + e * e / 12.0
    }

    /// The information-equivalent variance of one recent sample: the
    /// harmonic mean of the samples' variances (the low-delay samples
    /// dominate it, as they dominate the estimate).
    pub fn effective_variance(&self, floor: f64) -> f64 {
        if self.delays.is_empty() {
            return f64::INFINITY;
        }
        let info: f64 = self.delays.iter().map(|&d| 1.0 / self.variance(d, floor)).sum();
        self.delays.len() as f64 / info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_grows_with_excess_delay() {
        let mut w = DelayWindow::new();
        for d in [0.010, 0.011, 0.020, 0.030] {
            w.push(d);
        }
        assert_eq!(w.min(), 0.010);
        let v_min = w.variance(0.010, 1e-12);
        let v_big = w.variance(0.030, 1e-12);
        // Allowance: max(gap 1 ms, 0.7 × median excess 10 ms / √4 = 3.5 ms).
        assert!((v_min - (1e-12 + 0.0035f64.powi(2) / 12.0)).abs() < 1e-15, "{v_min}");
        assert!(v_big > 20.0 * v_min);
        let eff = w.effective_variance(1e-12);
        assert!(eff > v_min && eff < v_big);
    }

    #[test]
    fn two_close_early_delays_do_not_make_a_sample_look_precise() {
        // Two samples of a path with 1 ms of jitter that happen to take
        // 2.05 and 1.97 ms: their spread says nothing yet, the minimum may
        // be far below. Before the `min / n` allowance the second looked
        // good to 24 µs (σ); it may be 1 ms off.
        let mut w = DelayWindow::new();
        w.push(2.05e-3);
        w.push(1.97e-3);
        let sd = w.variance(1.97e-3, 0.0).sqrt();
        assert!(sd > 250e-6, "{sd}");
        // With many samples the allowance shrinks to what their spread says.
        for i in 0..WINDOW {
            w.push(50e-6 + (i % 8) as f64 * 1e-6);
        }
        assert!(w.variance(50e-6, 0.0).sqrt() < 1e-6, "{}", w.variance(50e-6, 0.0).sqrt());
    }

    #[test]
    fn noisy_delays_are_weighted_around_their_centre_queueing_from_the_minimum() {
        // Round trips scattered 1 µs (sd) around 50 µs by transmit-stamp
        // noise: a delay 1.5 µs short is as doubtful as one 1.5 µs long
        // (its offset is the one pushed high). Measured from the minimum,
        // the short one looked several times better.
        let mut w = DelayWindow::new();
        for v in edge::draws(4 * WINDOW, true, 1) {
            w.push(50e-6 + v * 1e-6);
        }
        assert!(w.noise() > 0.95, "{}", w.noise());
        let (short, long) = (w.variance(48.5e-6, 0.0), w.variance(51.5e-6, 0.0));
        assert!((short / long - 1.0).abs() < 0.5, "{short} {long}");
        // Round trips over a queueing path rise from a hard minimum.
        let mut q = DelayWindow::new();
        for v in edge::draws(4 * WINDOW, false, 1) {
            q.push(50e-6 + v * 100e-6);
        }
        assert_eq!(q.noise(), 0.0);
        assert!(q.variance(q.min(), 0.0) * 10.0 < q.variance(q.min() + 150e-6, 0.0));
    }

    #[test]
    fn old_minimum_expires() {
        let mut w = DelayWindow::new();
        w.push(0.001);
        for _ in 0..WINDOW {
            w.push(0.005);
        }
        assert_eq!(w.min(), 0.005);
        w.push(f64::NAN);
        assert_eq!(w.len(), WINDOW);
    }
}
