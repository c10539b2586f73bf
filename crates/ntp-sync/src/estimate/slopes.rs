//! The channel fit's line as the mean over the slopes its exchanges allow
//! ([`posterior`]), not only the most likely one: with exponential jitter
//! the likelihood of every slope is known in closed form, so the mean and
//! its variance are a one-dimensional integral (the derivation is on
//! [`posterior`]). Used by [`super::channel`].

/// Bisection steps that find where the likelihood has fallen by [`TAIL`].
const BISECTIONS: usize = 60;
/// Log-likelihood below its peak at which [`posterior`] stops integrating.
const TAIL: f64 = 25.0;
/// Integration points on each side of the peak.
const POINTS: usize = 128;

/// A line's posterior mean and variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    /// Offset at the fit's anchor, s.
    pub offset: f64,
    /// Its variance, s².
    pub offset_var: f64,
    /// Slope, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
}

/// The posterior mean of the line, and its variance, when each direction's
/// delay is its minimum plus exponential jitter of mean `jitter` (s), given
/// `channel(b)` = (half-width, middle) of the channel at slope `b`, widest
/// at `widest`, over `n` exchanges.
///
/// With the ceiling `c + b·t` and floor `f + b·t` of the channel, the `n`
/// ceilings and `n` floors have likelihood `∝ exp(n(c − f)/jitter)` while
/// every exchange lies between them, so for a slope `b`, `c` lies an
/// exponential of mean `jitter/n` below the highest ceiling the exchanges
/// allow and `f` as far above the lowest floor: the offset's mean is the
/// channel's middle at `b` and its variance `jitter²/(2n²)`. Integrating
/// them out leaves the slope's likelihood `∝ exp(2n·B(b)/jitter)`. The
/// widest channel alone (its maximum) decides the line by its few extreme
/// exchanges; the mean over the slopes this allows is the estimate with the
/// least squared error under that model — at the newest exchange, where the
/// slope's uncertainty counts most, about half that of the widest channel's
/// line — and its variance comes with it.
pub fn posterior(channel: &impl Fn(f64) -> (f64, f64), widest: f64, limit: f64, n: f64, jitter: f64) -> Posterior {
    let (peak, middle) = channel(widest);
    let k = 2.0 * n / jitter;
    if !(k.is_finite() && k > 0.0) {
        // No jitter: every line allowed is the same.
        return Posterior { offset: middle, offset_var: 0.0, rate: widest, rate_var: 0.0 };
    }
    let log_weight = |b: f64| -k * (peak - channel(b).0);
    // Where the likelihood has fallen by `TAIL` on each side (or the search's
    // limit): `B` is concave, so bisection finds it.
    let reach = |limit: f64| {
        if log_weight(limit) > -TAIL {
            return limit;
        }
        let (mut inside, mut outside) = (widest, limit);
        for _ in 0..BISECTIONS {
            let b = (inside + outside) / 2.0;
            if log_weight(b) > -TAIL {
                inside = b;
            } else {
                outside = b;
            }
        }
        outside
    };
    let (mut sum_w, mut sum_b, mut sum_bb, mut sum_m, mut sum_mm) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for end in [reach(-limit), reach(limit)] {
        let step = (end - widest) / POINTS as f64;
        for i in 0..=POINTS {
            // Trapezoid rule; the peak is shared by both sides.
            let end = if i == 0 || i == POINTS { 0.5 } else { 1.0 };
            let b = widest + step * i as f64;
            let (half, mid) = channel(b);
            let w = end * step.abs() * (-k * (peak - half)).exp();
            let (db, dm) = (b - widest, mid - middle);
            sum_w += w;
            sum_b += w * db;
            sum_bb += w * db * db;
            sum_m += w * dm;
            sum_mm += w * dm * dm;
        }
    }
    if sum_w.is_nan() || sum_w <= 0.0 {
        return Posterior { offset: middle, offset_var: 0.0, rate: widest, rate_var: 0.0 };
    }
    let (mean_b, mean_m) = (sum_b / sum_w, sum_m / sum_w);
    Posterior {
        offset: middle + mean_m,
        offset_var: (sum_mm / sum_w - mean_m * mean_m).max(0.0) + 2.0 / (k * k),
        rate: widest + mean_b,
        rate_var: (sum_bb / sum_w - mean_b * mean_b).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lopsided_likelihood_moves_the_mean_off_the_widest_slope() {
        // B(b) falls 1 per unit of slope above b0 and 3 below: with
        // k = 2n/jitter the slope's likelihood is exp(−k(b − b0)) above and
        // exp(−3k(b0 − b)) below, whose mean is b0 + 2/(3k).
        let (b0, n, jitter) = (1e-6, 100.0, 1e-4);
        let k = 2.0 * n / jitter;
        let channel = |b: f64| {
            let half = if b >= b0 { -(b - b0) } else { -3.0 * (b0 - b) };
            (half, 1e-3 + 2.0 * (b - b0))
        };
        let p = posterior(&channel, b0, 2e-3, n, jitter);
        let shift = 2.0 / (3.0 * k);
        assert!(((p.rate - b0) / shift - 1.0).abs() < 0.01, "{} vs {shift}", p.rate - b0);
        assert!(((p.offset - 1e-3) / (2.0 * shift) - 1.0).abs() < 0.01, "{}", p.offset - 1e-3);
        // A symmetric one (1 per unit both ways, a Laplace law of scale 1/k):
        // the mean is the peak, var(b) = 2/k², and the offset adds the
        // channel's own jitter²/(2n²) = 2/k².
        let symmetric = |b: f64| (-(b - b0).abs(), 1e-3 + 2.0 * (b - b0));
        let p = posterior(&symmetric, b0, 2e-3, n, jitter);
        assert!((p.rate - b0).abs() < 1e-3 / k && (p.offset - 1e-3).abs() < 1e-3 / k, "{p:?}");
        assert!((p.rate_var * k * k / 2.0 - 1.0).abs() < 0.01, "{}", p.rate_var * k * k);
        assert!((p.offset_var * k * k / 10.0 - 1.0).abs() < 0.01, "{}", p.offset_var * k * k);
    }

    #[test]
    fn no_jitter_or_no_width_gives_the_widest_line() {
        let channel = |b: f64| (-(b - 1e-6).abs(), 5e-4 + b);
        let p = posterior(&channel, 1e-6, 2e-3, 50.0, 0.0);
        assert_eq!((p.rate, p.offset, p.offset_var, p.rate_var), (1e-6, 5e-4 + 1e-6, 0.0, 0.0));
    }
}
