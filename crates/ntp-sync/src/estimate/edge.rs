//! Where a source's delays start: the reference each exchange's excess
//! delay is measured from, and the edges of the channel fit.
//!
//! Queueing only ever adds delay, so delays rise from a hard edge (the
//! path's minimum) and the exchanges nearest it are the most trustworthy:
//! their error is bounded by their small excess. Timestamp noise is
//! different. A server that writes its reply's *predicted* departure from an
//! average send latency (any server correcting for its send latency that
//! way; simple-ntpd's batched sends did, with a median, until they took the
//! quick end) is right on average but scatters around it, and a reply
//! stamped later than it left looks quicker *and* its offset is too high by
//! half the stamp's error: the quickest exchanges are then the most wrong,
//! and an estimator that trusts them (the channel fit's extremes, a
//! variance that grows from the minimum delay) is biased by the extreme of
//! the noise (≈ +0.7 µs at 1 µs of stamp noise in `ntp-sim`'s
//! `quiet-predicted-transmit`). Such delays scatter around a centre, and the
//! reference must be that centre.
//!
//! The two are told apart by the shape of the lower tail of the delays:
//! with `m` the minimum, `q₁` the lower quartile and `q₂` the median,
//! `r = (q₁ − m) / (q₂ − q₁)` is about 1.2 for a round trip of two
//! exponential directions but about 3 for a bell curve of 256 values, whose
//! minimum lies far out in its tail: over 256 values, 1st–99th percentiles
//! 0.84–1.82 for queueing (1.1–2.8 with a little noise on it), 2.0–5.3 for
//! normal noise; over 64 they overlap (queueing up to 2.4). On loopback the
//! delays of a noisy server gave 1.7–9.9 over 150 exchanges (their lower
//! tail is heavier than a normal one). So [`TailShape`] keeps the last
//! [`SHAPE_WINDOW`] delays and, from [`MIN_VALUES`] on, a running mean of
//! their ratio; between [`QUEUEING`] and [`NOISE`] the reference moves from
//! the minimum to the median.

/// Mean tail ratio at or below which delays count as queueing.
pub const QUEUEING: f64 = 1.9;
/// Mean tail ratio at or above which delays count as noise around a centre.
pub const NOISE: f64 = 2.5;
/// Delays the shape is judged over.
pub const SHAPE_WINDOW: usize = 256;
/// Values needed before a ratio means anything.
const MIN_VALUES: usize = 128;
/// Weight of one window's ratio in the running mean (the first ones average
/// evenly).
const GAIN: f64 = 1.0 / 32.0;

/// `(q₁ − m) / (q₂ − q₁)` of `sorted` (ascending), or `None` with fewer
/// than [`MIN_VALUES`] values or no spread.
pub fn tail_ratio(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n < MIN_VALUES {
        return None;
    }
    let (min, q1, q2) = (sorted[0], sorted[n / 4], sorted[n / 2]);
    (q2 > q1).then(|| (q1 - min) / (q2 - q1))
}

/// Where `sorted` (ascending, not empty) starts when the delays are
/// `noise` (0: queueing, 1: noise) of the way from queueing to noise: the
/// minimum, the median, or in between.
pub fn start(sorted: &[f64], noise: f64) -> f64 {
    let Some(&min) = sorted.first() else { return f64::NAN };
    min + noise.clamp(0.0, 1.0) * (sorted[sorted.len() / 2] - min)
}

/// A source's recent delays and the running mean of their tail ratio.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TailShape {
    delays: std::collections::VecDeque<f64>,
    mean: f64,
    windows: u32,
}

impl TailShape {
    /// Takes in a delay (s) and the ratio of the window it completes.
    pub fn push(&mut self, delay: f64) {
        if !delay.is_finite() {
            return;
        }
        if self.delays.len() == SHAPE_WINDOW {
            self.delays.pop_front();
        }
        self.delays.push_back(delay);
        let mut sorted: Vec<f64> = self.delays.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let Some(r) = tail_ratio(&sorted) else { return };
        if !r.is_finite() {
            return;
        }
        self.windows = self.windows.saturating_add(1);
        let gain = (1.0 / f64::from(self.windows)).max(GAIN);
        self.mean += gain * (r - self.mean);
    }

    /// How far the delays are from queueing (0) towards noise around a
    /// centre (1); 0 until a ratio was seen.
    pub fn noise(&self) -> f64 {
        if self.windows == 0 {
            return 0.0;
        }
        ((self.mean - QUEUEING) / (NOISE - QUEUEING)).clamp(0.0, 1.0)
    }
}

/// Uniform values in [0, 1) from the xorshift sequence that starts at
/// `state`: the estimation tests' one generator.
#[cfg(test)]
pub(crate) fn uniforms(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` test values from a fixed xorshift sequence (`seed` picks one):
/// round trips of two exponential directions (mean 1 each), or standard
/// normal (sum of 12 uniforms − 6). Shared by the estimation tests.
#[cfg(test)]
pub(crate) fn draws(n: usize, normal: bool, seed: u64) -> Vec<f64> {
    let mut u = uniforms(0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (0..n)
        .map(
            |_| {
                if normal {
                    (0..12).map(|_| u()).sum::<f64>() - 6.0
                } else {
                    -u().max(1e-12).ln() - u().max(1e-12).ln()
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(n: usize, normal: bool, seed: u64) -> Vec<f64> {
        let mut v = draws(n, normal, seed);
        v.sort_by(f64::total_cmp);
        v
    }

    fn shape_of(normal: bool) -> TailShape {
        let mut s = TailShape::default();
        for d in draws(4 * SHAPE_WINDOW, normal, 7) {
            s.push(d);
        }
        s
    }

    #[test]
    fn queueing_starts_at_its_minimum() {
        let s = shape_of(false);
        assert_eq!(s.noise(), 0.0, "{s:?}");
        let v = window(64, false, 1);
        assert_eq!(start(&v, s.noise()), v[0]);
    }

    #[test]
    fn noise_starts_at_its_centre() {
        let s = shape_of(true);
        assert_eq!(s.noise(), 1.0, "{s:?}");
        let v = window(64, true, 1);
        assert_eq!(start(&v, s.noise()), v[32]);
    }

    #[test]
    fn too_few_or_equal_values_say_nothing() {
        let mut s = TailShape::default();
        for d in draws(MIN_VALUES - 1, true, 3) {
            s.push(d);
        }
        assert_eq!(s.noise(), 0.0);
        let mut s = TailShape::default();
        for _ in 0..100 {
            s.push(1.0);
        }
        s.push(f64::NAN);
        assert_eq!(s.noise(), 0.0);
        assert_eq!(start(&[2.0; 20], 1.0), 2.0);
        assert!(start(&[], 0.5).is_nan());
    }
}
