//! The channel fit: a second estimate of a source's offset line, from what
//! each exchange's delay says about its error — a hard bound, not a
//! variance.
//!
//! An exchange with round trip `d` over a path whose minimum one-way delay
//! is `B` each way measures the offset to within `z ± (d/2 − B)`: neither
//! direction can be faster than its minimum. If the offset follows a line
//! `a + b·(t − t₀)` over the window (the oscillator's wander negligible
//! over it; the caller sizes the window so), the line and the largest `B`
//! every sample allows solve a small linear program: for a slope `b`, with
//! `uᵢ = zᵢ − b·(tᵢ − t₀)`, the largest is
//! `B(b) = (min(uᵢ + dᵢ/2) − max(uᵢ − dᵢ/2)) / 2`, concave in `b`, so a
//! golden-section search finds its maximum, the widest channel.
//!
//! That line is decided by the few exchanges closest to the minimum delay
//! in each direction, so its error shrinks like 1/n with n exchanges where
//! an average's shrinks like 1/√n: on a path with exponential jitter it is
//! several times more precise than the Kalman filter after a few minutes
//! (the skew estimator of Moon, Skelly and Towsley, 1999, applied to both
//! directions). But its slope comes from the extremes at either end of the
//! window, and the estimate is used at the newest end, where the slope's
//! error counts most. With exponential jitter the widest channel is the
//! most likely line, and the likelihood of the others is known in closed
//! form (`exp(2n·B(b)/jitter)` for slope `b`, [`super::slopes`]): the estimate
//! is their mean, the least squared error under that model, and their
//! spread is its variance.
//!
//! The window's samples are kept in the clock's current timescale: every
//! frequency change and step the engine makes is applied to them, as to the
//! Kalman filter's state ([`ChannelFit::frequency_changed`],
//! [`ChannelFit::stepped`]).

use std::collections::VecDeque;

use super::edge::start;
use super::slopes::posterior;

/// Samples kept.
pub const CAPACITY: usize = 256;
/// Samples needed before the fit is used.
pub const MIN_SAMPLES: usize = 16;
/// Largest |slope| searched, s/s (the rate under the current correction,
/// which the engine keeps near zero).
const MAX_SLOPE: f64 = 2e-3;
/// Golden-section steps: shrink the slope interval by 0.618^STEPS (to
/// about 1e-15 s/s).
const STEPS: usize = 60;
/// 1/φ.
const INV_PHI: f64 = 0.618_033_988_749_895;

/// One exchange: time (engine timeline, s), offset in the current
/// timescale (s), round trip (s).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Exchange {
    t: f64,
    z: f64,
    d: f64,
}

/// The line the fit found, anchored at `t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Anchor time (the newest sample's), s.
    pub t: f64,
    /// Offset at `t`, s.
    pub offset: f64,
    /// Its variance, s².
    pub offset_var: f64,
    /// Offset rate, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
    /// Time from the oldest exchange used to the newest, s.
    pub span: f64,
    /// The largest minimum one-way delay the exchanges allow, s (negative:
    /// no line explains them within their delays).
    pub min_one_way: f64,
}

impl Line {
    /// The line after the clock's frequency correction changed by `df` at
    /// `tc`: the offset changes `df` more slowly from `tc` on.
    fn frequency_changed(&mut self, tc: f64, df: f64) {
        self.offset += df * (tc - self.t).max(0.0);
        self.rate -= df;
    }
}

/// The window of exchanges and the latest fit.
#[derive(Clone, Debug, Default)]
pub struct ChannelFit {
    window: VecDeque<Exchange>,
    line: Option<Line>,
}

impl ChannelFit {
    /// Adds an exchange: offset `z` (in the current timescale) measured at
    /// `t` with round trip `d`.
    pub fn push(&mut self, t: f64, z: f64, d: f64) {
        if !(t.is_finite() && z.is_finite() && d.is_finite()) {
            return;
        }
        if self.window.len() == CAPACITY {
            self.window.pop_front();
        }
        self.window.push_back(Exchange { t, z, d: d.max(0.0) });
    }

    /// Forgets every exchange (the path or the source changed).
    pub fn clear(&mut self) {
        self.window.clear();
        self.line = None;
    }

    /// Exchanges held.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// True when no exchange is held.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// The clock's frequency correction changed by `df` (s/s) at `tc`.
    pub fn frequency_changed(&mut self, tc: f64, df: f64) {
        if !(tc.is_finite() && df.is_finite()) || df == 0.0 {
            return;
        }
        for e in &mut self.window {
            e.z += df * (tc - e.t).max(0.0);
        }
        if let Some(l) = self.line.as_mut() {
            l.frequency_changed(tc, df);
        }
    }

    /// The clock was stepped forward by `step` s.
    pub fn stepped(&mut self, step: f64) {
        if !step.is_finite() || step == 0.0 {
            return;
        }
        for e in &mut self.window {
            e.z -= step;
        }
        if let Some(l) = self.line.as_mut() {
            l.offset -= step;
        }
    }

    /// The latest fit, if there is one.
    pub fn line(&self) -> Option<Line> {
        self.line
    }

    /// Refits over the exchanges of the last `span` seconds before the
    /// newest; no line with fewer than [`MIN_SAMPLES`] of them or when no
    /// line explains them within their delays. `noise` (0–1, the source's
    /// [`super::noise::DelayWindow::noise`]) says how far the delays look
    /// like timestamp noise around a centre rather than queueing: the
    /// channel's edges move from the extreme bounds towards the median ones
    /// ([`super::edge`]).
    pub fn refit(&mut self, span: f64, noise: f64) -> Option<Line> {
        self.line = None;
        let newest = self.window.back()?.t;
        let from = if span.is_finite() { newest - span.max(0.0) } else { f64::NEG_INFINITY };
        let used: Vec<Exchange> = self.window.iter().copied().filter(|e| e.t >= from).collect();
        if used.len() < MIN_SAMPLES {
            return None;
        }
        let mut line = fit(&used, newest, noise);
        if line.min_one_way < 0.0 {
            return None;
        }
        line.span = newest - used[0].t;
        self.line = Some(line);
        Some(line)
    }
}

/// The line through `used`, anchored at `t0`. Only the corners of the
/// channel's two boundaries matter: the lower convex hull of the ceilings
/// `(tᵢ, zᵢ + dᵢ/2)` and the upper hull of the floors `(tᵢ, zᵢ − dᵢ/2)`, a
/// few vertices each; a golden-section search over the slope evaluates the
/// half-width `B(b)` on those alone and finds the widest channel, then
/// [`posterior`] averages the lines the exchanges allow around it. With
/// `noise` > 0 the channel's edges at the widest channel's slope move towards the
/// median bounds ([`start`]), and the variance of the medians is added.
fn fit(used: &[Exchange], t0: f64, noise: f64) -> Line {
    let points = |side: f64| used.iter().map(move |e| (e.t - t0, e.z + side * e.d / 2.0));
    let ceiling = hull(points(1.0), Side::Lower);
    let floor = hull(points(-1.0), Side::Upper);
    let channel = |b: f64| {
        let hi = ceiling.iter().map(|&(x, y)| y - b * x).fold(f64::INFINITY, f64::min);
        let lo = floor.iter().map(|&(x, y)| y - b * x).fold(f64::NEG_INFINITY, f64::max);
        ((hi - lo) / 2.0, (hi + lo) / 2.0)
    };
    let (mut lo, mut hi) = (-MAX_SLOPE, MAX_SLOPE);
    let mut c = hi - INV_PHI * (hi - lo);
    let mut d = lo + INV_PHI * (hi - lo);
    let (mut fc, mut fd) = (channel(c).0, channel(d).0);
    for _ in 0..STEPS {
        if fc < fd {
            lo = c;
            c = d;
            fc = fd;
            d = lo + INV_PHI * (hi - lo);
            fd = channel(d).0;
        } else {
            hi = d;
            d = c;
            fd = fc;
            c = hi - INV_PHI * (hi - lo);
            fc = channel(c).0;
        }
    }
    let widest = (lo + hi) / 2.0;
    let (half, _) = channel(widest);
    let n = used.len() as f64;
    // The jitter's scale: the mean one-way excess over the widest channel,
    // or, if larger, what the exchanges nearest each edge say — for
    // exponential jitter the k-th nearest lies about k/n of the mean away,
    // the same figure; where the edge is a bell curve's tail (timestamp
    // noise not yet told from queueing, `super::edge`) the nearest lie far
    // apart, and the mean excess alone would have the fit claim nanoseconds.
    let mean_excess = used.iter().map(|e| e.d / 2.0).sum::<f64>() / n - half;
    // Each side's bounds at the widest channel's slope, ascending, measured
    // so that queueing raises them (the ceilings up, the floors down).
    let bounds = |sign: f64| {
        let mut v: Vec<f64> = points(sign).map(|(x, y)| sign * (y - widest * x)).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (ceilings, floors) = (bounds(1.0), bounds(-1.0));
    let edge_excess = |v: &[f64]| {
        let k = EDGE_EXCHANGES.min(v.len() - 1);
        (v[k] - v[0]) * n / k as f64
    };
    let jitter = mean_excess.max((edge_excess(&ceilings) + edge_excess(&floors)) / 2.0);
    let post = posterior(&channel, widest, MAX_SLOPE, n, jitter);
    if noise <= 0.0 {
        return Line {
            t: t0,
            offset: post.offset,
            offset_var: post.offset_var,
            rate: post.rate,
            rate_var: post.rate_var,
            min_one_way: half,
            span: 0.0,
        };
    }
    // Each side's start, and the variance of its median: (1.2533 σ)² / n,
    // σ from the interquartile half-range.
    let side = |v: &[f64], sign: f64| {
        let n = v.len();
        let sigma = (v[n / 2] - v[n / 4]) / 0.6745;
        (sign * start(v, noise), std::f64::consts::FRAC_PI_2 * sigma * sigma / n as f64)
    };
    let ((ceiling, var_c), (floor, var_f)) = (side(&ceilings, 1.0), side(&floors, -1.0));
    Line {
        t: t0,
        offset: (ceiling + floor) / 2.0,
        offset_var: post.offset_var + noise * noise * (var_c + var_f) / 4.0,
        rate: widest,
        rate_var: post.rate_var,
        min_one_way: (ceiling - floor) / 2.0,
        span: 0.0,
    }
}

/// Exchanges nearest each edge of the channel that measure the jitter's
/// scale beside the mean excess ([`fit`]).
const EDGE_EXCHANGES: usize = 8;

/// Which convex hull [`hull`] builds.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Lower,
    Upper,
}

/// The lower or upper convex hull of `points` (monotone chain).
fn hull(points: impl Iterator<Item = (f64, f64)>, side: Side) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points.collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut h: Vec<(f64, f64)> = Vec::with_capacity(p.len());
    for q in p {
        while let [.., o, a] = h[..] {
            let cross = (a.0 - o.0) * (q.1 - o.1) - (a.1 - o.1) * (q.0 - o.0);
            let keep = match side {
                Side::Lower => cross > 0.0,
                Side::Upper => cross < 0.0,
            };
            if keep {
                break;
            }
            h.pop();
        }
        h.push(q);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exponential one-way delays (mean `jitter`) over `base`, from a
    /// fixed xorshift sequence.
    fn exchanges(n: usize, offset: f64, rate: f64, base: f64, jitter: f64) -> ChannelFit {
        seeded_exchanges(n, offset, rate, base, jitter, 0)
    }

    /// [`exchanges`] from the sequence `seed` picks.
    fn seeded_exchanges(n: usize, offset: f64, rate: f64, base: f64, jitter: f64, seed: u64) -> ChannelFit {
        let mut u = crate::estimate::edge::uniforms(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut exp = || -u().max(1e-12).ln() * jitter;
        let mut c = ChannelFit::default();
        for i in 0..n {
            let t = i as f64;
            let (up, down) = (base + exp(), base + exp());
            c.push(t, offset + rate * t + (down - up) / 2.0, up + down);
        }
        c
    }

    /// A quiet path (25 µs each way) to a server whose transmit timestamps
    /// scatter 1 µs (sd) around the true departure: a reply stamped `e`
    /// late measures the offset `e/2` high and the round trip `e` short.
    fn noisy_transmit_stamps(n: usize, offset: f64) -> ChannelFit {
        let mut c = ChannelFit::default();
        for (i, e) in crate::estimate::edge::draws(n, true, 0).into_iter().enumerate() {
            let e = e * 1e-6;
            c.push(i as f64, offset + e / 2.0, 50e-6 - e);
        }
        c
    }

    #[test]
    fn timestamp_noise_needs_the_median_edges_not_the_extremes() {
        // The extremes: the latest-stamped reply decides the floor, ≈ 2.7 σ
        // over 256 exchanges, so the line sits ≈ 1.4 µs high.
        let mut c = noisy_transmit_stamps(256, 1e-3);
        let extreme = c.refit(f64::INFINITY, 0.0).unwrap();
        assert!(extreme.offset - 1e-3 > 0.8e-6, "{}", extreme.offset - 1e-3);
        // Told the delays are noise around a centre: the medians.
        let centred = c.refit(f64::INFINITY, 1.0).unwrap();
        assert!((centred.offset - 1e-3).abs() < 0.15e-6, "{}", centred.offset - 1e-3);
        // Its variance is at least that of the medians (σ/2 per exchange
        // over 256): the jackknife over the extremes alone would claim less.
        assert!(centred.offset_var.sqrt() > 0.02e-6 && centred.offset_var.sqrt() < 0.2e-6, "{}", centred.offset_var);
        // A queueing path is unchanged by `noise` 0.
        let mut q = exchanges(200, 1e-3, 5e-6, 25e-6, 1e-3);
        assert_eq!(q.refit(f64::INFINITY, 0.0), q.refit(f64::INFINITY, 0.0));
    }

    /// The widest channel is decided by a few extreme exchanges, and its
    /// slope by the extremes at either end of the window, so the line's
    /// newest end, where the estimate is used, is twice as far off as its
    /// middle; averaging the lines the exchanges allow (each slope weighted
    /// by its likelihood) has the least squared error there. Over 200 sets
    /// of 250 exchanges with 100 µs of exponential jitter each way: RMS
    /// 0.95 µs for the widest channel, 0.82 for the mean; and the mean's
    /// variance is what its errors show (mean squared error over claimed
    /// variance 0.97), where the jackknife over the extreme exchanges it
    /// replaced claimed too little (2.8).
    #[test]
    fn the_line_is_the_mean_of_those_the_exchanges_allow() {
        let (mut sq, mut z2) = (0.0, 0.0);
        let sets = 200;
        for seed in 1..=sets {
            let mut c = seeded_exchanges(250, 0.0, 0.0, 25e-6, 100e-6, seed);
            let l = c.refit(f64::INFINITY, 0.0).unwrap();
            sq += l.offset * l.offset;
            z2 += l.offset * l.offset / l.offset_var;
        }
        let (rms, z2) = ((sq / sets as f64).sqrt(), z2 / sets as f64);
        assert!(rms < 0.92e-6, "RMS {rms}");
        assert!((0.6..1.6).contains(&z2), "mean squared error / claimed variance {z2}");
    }

    #[test]
    fn finds_the_line_far_inside_the_jitter() {
        let mut c = exchanges(200, 1e-3, 5e-6, 25e-6, 1e-3);
        let l = c.refit(f64::INFINITY, 0.0).expect("a line");
        let truth = 1e-3 + 5e-6 * 199.0;
        // 1 ms of jitter each way; an average of 200 would be ≈ 50 µs off.
        assert!((l.offset - truth).abs() < 20e-6, "{} vs {truth}", l.offset);
        assert!((l.rate - 5e-6).abs() < 0.3e-6, "{}", l.rate);
        // The true line fits within the true minimum, so the widest channel is no narrower.
        assert!(l.min_one_way >= 25e-6 - 1e-12 && l.min_one_way < 100e-6, "{}", l.min_one_way);
        assert!(l.offset_var > 0.0 && l.offset_var.sqrt() < 50e-6, "{}", l.offset_var.sqrt());
    }

    #[test]
    fn a_quiet_path_gives_the_exact_line() {
        let mut c = exchanges(40, -2e-3, 0.0, 25e-6, 0.0);
        let l = c.refit(f64::INFINITY, 0.0).unwrap();
        assert!((l.offset + 2e-3).abs() < 1e-12, "{}", l.offset);
        assert!((l.min_one_way - 25e-6).abs() < 1e-12);
    }

    #[test]
    fn controls_move_the_samples_like_the_clock() {
        let mut c = exchanges(40, 0.0, 0.0, 25e-6, 0.0);
        // The clock runs 10 ppm faster from t = 39 on, and steps 1 ms at 39.
        c.frequency_changed(39.0, 10e-6);
        c.stepped(1e-3);
        let l = c.refit(f64::INFINITY, 0.0).unwrap();
        assert!((l.rate + 10e-6).abs() < 1e-12, "{}", l.rate);
        assert!((l.offset + 1e-3).abs() < 1e-12, "{}", l.offset);
    }

    #[test]
    fn too_few_or_inconsistent_exchanges_give_no_line() {
        let mut c = exchanges(MIN_SAMPLES - 1, 0.0, 0.0, 25e-6, 1e-4);
        assert!(c.refit(f64::INFINITY, 0.0).is_none());
        // A source that jumps by 10 ms on a 50 µs path: no line fits.
        let mut c = exchanges(20, 0.0, 0.0, 25e-6, 0.0);
        for i in 20..40 {
            c.push(i as f64, 10e-3, 50e-6);
        }
        assert!(c.refit(f64::INFINITY, 0.0).is_none());
        // Only the last 10 s: too few.
        assert!(c.refit(10.0, 0.0).is_none());
        c.push(f64::NAN, 0.0, 0.0);
        assert_eq!(c.len(), 40);
        c.clear();
        assert!(c.is_empty() && c.line().is_none());
    }
}
