//! Per-source estimation: every raw sample of a source goes through a
//! Kalman filter ([`kalman`]) whose measurement variance comes from the
//! sample's excess delay ([`noise`]) and whose process noise (the local
//! oscillator's wander) is learnt from its residuals ([`wander`]). The
//! same samples feed a channel fit ([`channel`]), which treats each delay
//! as a hard bound on its sample's error; where it is the more precise (a
//! jittery path polled often) it outweighs the filter. The result is the
//! source's offset and offset rate at any time, with their variances, and
//! the poll interval the source deserves.
//!
//! A sample may be older than the clock's last frequency changes: an
//! interleaved sample (RFC 9769) completes the previous exchange, one poll
//! ago, and the engine has slewed the clock since. [`controls`] remembers
//! those changes so such a sample is first brought into the clock's current
//! timescale (chrony does the same to its stored timestamps whenever it
//! changes the clock).

pub mod channel;
pub mod controls;
pub mod edge;
pub mod kalman;
pub mod noise;
pub mod slopes;
pub mod wander;

use channel::ChannelFit;
use controls::ControlHistory;
use kalman::OffsetFilter;
use noise::DelayWindow;
use wander::WanderEstimator;

/// Samples before a source's estimate counts as settled (poll advice stays
/// at the settling poll until then).
pub const SETTLE_SAMPLES: u64 = 8;

/// Residuals beyond this many standard deviations are outliers (popcorn
/// spikes) and skipped …
pub const OUTLIER_SIGMAS: f64 = 6.0;
/// … unless this many come in a row: then the change is taken as real.
pub const OUTLIERS_ACCEPTED_AFTER: u32 = 1;

/// How many times the fit's variance the oscillator may wander (`q·T³/3`)
/// over the channel fit's window.
pub const WANDER_ALLOWANCE: f64 = 4.0;

/// A source's estimate at some time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Offset (source minus local), s.
    pub offset: f64,
    /// Its variance, s².
    pub offset_var: f64,
    /// Offset rate under the current frequency correction, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
}

/// What became of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Used.
    Accepted,
    /// Skipped as a spike.
    Outlier,
}

/// The estimator of one source.
#[derive(Clone, Debug)]
pub struct SourceEstimator {
    filter: Option<OffsetFilter>,
    delays: DelayWindow,
    wander: WanderEstimator,
    samples: u64,
    outliers_in_row: u32,
    precision_var: f64,
    initial_rate_var: f64,
    jitter_var: f64,
    controls: ControlHistory,
    /// `None` for a source whose delays are not measured round trips.
    channel: Option<ChannelFit>,
}

impl SourceEstimator {
    /// A new estimator; `precision_var` is the variance floor of a sample's
    /// timestamps, `initial_rate_var` the prior variance of the frequency.
    pub fn new(precision_var: f64, initial_rate_var: f64) -> Self {
        SourceEstimator {
            filter: None,
            delays: DelayWindow::new(),
            wander: WanderEstimator::default(),
            samples: 0,
            outliers_in_row: 0,
            precision_var,
            initial_rate_var,
            jitter_var: 0.0,
            controls: ControlHistory::default(),
            channel: Some(ChannelFit::default()),
        }
    }

    /// No channel fit for this source: its delays are not measured round
    /// trips (a reference clock's).
    pub fn disable_channel_fit(&mut self) {
        self.channel = None;
    }

    /// Samples accepted so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The current wander estimate, (s/s)²/s.
    pub fn wander(&self) -> f64 {
        self.wander.q()
    }

    /// RMS of recent residuals, s.
    pub fn jitter(&self) -> f64 {
        self.jitter_var.sqrt()
    }

    /// The smallest recent delay, s.
    pub fn min_delay(&self) -> f64 {
        self.delays.min()
    }

    /// Incorporates a sample: offset `z` (s) measured at engine time `t`
    /// with round-trip `delay`; `floor` is the sample's own variance floor
    /// (precisions), added to the configured one. A sample measured before
    /// frequency changes made since is first corrected by what they did to
    /// the clock ([`Self::frequency_changed`]).
    pub fn on_sample(&mut self, t: f64, z: f64, delay: f64, floor: f64) -> Verdict {
        if !(t.is_finite() && z.is_finite() && delay.is_finite()) {
            return Verdict::Outlier;
        }
        // Too old to know what was done to the clock since: not usable.
        let Some(slewed) = self.controls.phase_since(t) else { return Verdict::Outlier };
        let z = z - slewed;
        // The filter clears the channel when it restarts (a real change).
        let verdict = self.filter_sample(t, z, delay, floor);
        // A sample without a measured round trip bounds nothing. One whose
        // exchange spans a frequency change is bounded less tightly
        // (`ControlHistory::change_near`).
        if delay > 0.0 {
            let spanned = self.controls.change_near(t, delay) * delay;
            if let Some(channel) = self.channel.as_mut() {
                channel.push(t, z, delay + 2.0 * spanned);
                self.refit_channel();
            }
        }
        verdict
    }

    /// The channel fit over a window short enough that the oscillator's
    /// wander stays well below the fit's own precision: `q·T³/3` is how far
    /// the phase wanders over `T` from a known start, but a line fitted over
    /// `T` follows most of that, and departs at its newest end by about 3 %
    /// of it (a least-squares line through an integrated random walk), so
    /// `q·T³/3 ≤ WANDER_ALLOWANCE · var` keeps the wander's share near a
    /// tenth of `var` (the fit's variance; the filter's measurement
    /// variance until there is a fit).
    fn refit_channel(&mut self) {
        let Some(channel) = self.channel.as_mut() else { return };
        let floor = self.precision_var.max(1e-18);
        let var = match channel.line() {
            Some(l) => l.offset_var.max(floor),
            None => self.delays.effective_variance(self.precision_var).max(floor),
        };
        let span = (3.0 * WANDER_ALLOWANCE * var / self.wander.q()).cbrt();
        channel.refit(span, self.delays.noise());
    }

    /// The Kalman filter's part of [`Self::on_sample`].
    fn filter_sample(&mut self, t: f64, z: f64, delay: f64, floor: f64) -> Verdict {
        self.delays.push(delay);
        let var_z = self.delays.variance(delay, self.precision_var + floor) * self.wander.noise_scale();
        let q = self.wander.q();
        let Some(f) = self.filter.as_mut() else {
            self.filter = Some(OffsetFilter::new(t, z, var_z, self.initial_rate_var));
            self.samples = 1;
            return Verdict::Accepted;
        };
        // A sample taken before the filter's time (a control was applied
        // while it was in flight, or it completes an earlier exchange) is
        // carried forward along the rate, which is the rate under the
        // frequency correction now in force: `slewed` above took out what
        // the corrections since `t` did beyond that.
        let z = if t < f.t { z + f.r * (f.t - t) } else { z };
        f.predict(t, q);
        let predicted_var = f.pxx + var_z;
        let residual = z - f.x;
        if residual * residual > OUTLIER_SIGMAS * OUTLIER_SIGMAS * predicted_var {
            self.outliers_in_row += 1;
            if self.outliers_in_row <= OUTLIERS_ACCEPTED_AFTER {
                return Verdict::Outlier;
            }
            // A real change (route, server, clock): restart the offset.
            f.reset(z, var_z.max(residual * residual), self.initial_rate_var);
            self.wander.forget_previous();
            self.outliers_in_row = 0;
            self.samples += 1;
            if let Some(channel) = self.channel.as_mut() {
                channel.clear();
            }
            return Verdict::Accepted;
        }
        self.outliers_in_row = 0;
        let innovation = f.update(z, var_z);
        self.samples += 1;
        if self.samples > 2 {
            self.wander.observe(innovation.residual, innovation.variance);
            self.jitter_var += (innovation.residual * innovation.residual - self.jitter_var) / 8.0;
        }
        Verdict::Accepted
    }

    /// Moves the filter forward to `t` (before a control is applied).
    pub fn advance(&mut self, t: f64) {
        let q = self.wander.q();
        if let Some(f) = self.filter.as_mut() {
            f.predict(t, q);
        }
    }

    /// The estimate at `t` (the filter is not moved): the Kalman filter's
    /// and the channel fit's, [`combine`]d.
    pub fn estimate_at(&self, t: f64) -> Option<Estimate> {
        let f = self.filter.as_ref()?;
        let q = self.wander.q();
        let (offset, offset_var) = f.predict_at(t, q);
        let dt = (t - f.t).max(0.0);
        let kalman = Estimate { offset, offset_var, rate: f.r, rate_var: f.prr + q * dt };
        let Some(line) = self.channel.as_ref().and_then(ChannelFit::line) else { return Some(kalman) };
        let dt = (t - line.t).max(0.0);
        // Never more certain than the timestamps: exchanges that all lie on
        // the line (a noiseless path) would otherwise claim no variance.
        let fit = Estimate {
            offset: line.offset + line.rate * dt,
            offset_var: line.offset_var.max(self.precision_var) + dt * dt * line.rate_var + q * dt * dt * dt / 3.0,
            rate: line.rate,
            rate_var: line.rate_var.max(self.precision_var / line.span.max(1.0).powi(2)) + q * dt,
        };
        let (offset, offset_var) = combine(kalman.offset, kalman.offset_var, fit.offset, fit.offset_var);
        let (rate, rate_var) = combine(kalman.rate, kalman.rate_var, fit.rate, fit.rate_var);
        Some(Estimate { offset, offset_var, rate, rate_var })
    }

    /// The rate under the clock's frequency correction is `df` (s/s) less
    /// than the filter assumed (a new filter's view of a running slew).
    pub fn control_frequency(&mut self, df: f64) {
        if let Some(f) = self.filter.as_mut() {
            f.control_frequency(df);
        }
    }

    /// The clock's frequency correction changed by `df` (s/s) at engine
    /// time `t` (after [`Self::advance`] to `t`): the filter follows, and
    /// the change is remembered for samples measured before `t`.
    pub fn frequency_changed(&mut self, t: f64, df: f64) {
        self.control_frequency(df);
        self.controls.push(t, df);
        if let Some(channel) = self.channel.as_mut() {
            channel.frequency_changed(t, df);
        }
    }

    /// The clock was stepped forward by `d` s.
    pub fn control_step(&mut self, d: f64) {
        if let Some(f) = self.filter.as_mut() {
            f.control_step(d);
        }
        if let Some(channel) = self.channel.as_mut() {
            channel.stepped(d);
        }
    }

    /// The poll exponent this source deserves: the largest power of two T
    /// with `q·T³/3 ≤ R / target` (R: the information-equivalent measurement
    /// variance), i.e. the oscillator wanders less over one poll than a
    /// `target`-th of one sample's noise, so the filter keeps averaging many
    /// samples; and with `var(rate)·T² ≤ R`, so the poll grows only once the
    /// frequency is known well enough to bridge it (after a start or an
    /// outage the rate is uncertain and polling stays fast). `settling`
    /// while the estimate has too few samples.
    pub fn desired_poll(&self, target: f64, settling: i8) -> i8 {
        let Some(f) = self.filter.as_ref() else { return settling };
        // Settling: too few samples, or the residuals say the filter's
        // model does not fit (yet).
        if self.samples < SETTLE_SAMPLES || self.wander.mean_nis() > 2.0 {
            return settling;
        }
        let r = self.delays.effective_variance(self.precision_var) * self.wander.noise_scale();
        let t_wander = (3.0 * r / (target.max(1e-3) * self.wander.q())).cbrt();
        let t_rate = (r / f.prr.max(1e-30)).sqrt();
        let t = t_wander.min(t_rate);
        if !t.is_finite() || t < 1.0 {
            return 0;
        }
        t.log2().floor().clamp(0.0, 17.0) as i8
    }
}

/// Two estimates `a` and `b` of one quantity from the same samples, with
/// variances `va` and `vb`, combined: each weighted by the inverse *square*
/// of its variance. They are not independent estimates to average by
/// inverse variance: where one is (nearly) the most precise estimate those
/// samples allow, as the channel fit's posterior mean is on a path with
/// exponential jitter, its covariance with the other is its own variance,
/// and the best combination is that one alone. Squared weights hand over to
/// the better one almost entirely once it is clearly better (at a quarter
/// of the other's variance: 94 %, not 80 %) and smoothly where the two are
/// close. The variance claimed is the smaller of the two. A missing or
/// invalid `b` leaves `a`.
pub fn combine(a: f64, va: f64, b: f64, vb: f64) -> (f64, f64) {
    if !b.is_finite() || !vb.is_finite() || vb < 0.0 {
        return (a, va);
    }
    if !va.is_finite() {
        return (b, vb);
    }
    // The weight of `b`: va² / (va² + vb²).
    let ratio = vb / va;
    let weight = if ratio.is_nan() { 0.5 } else { 1.0 / (1.0 + ratio * ratio) };
    (a + (b - a) * weight, va.min(vb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clearly_better_estimate_takes_almost_all_the_weight() {
        let (x, v) = combine(0.0, 4.0, 1.0, 1.0);
        assert!((x - 16.0 / 17.0).abs() < 1e-12 && v == 1.0, "{x} {v}");
        // Symmetric, and equal variances average.
        assert!((combine(1.0, 1.0, 0.0, 4.0).0 - 16.0 / 17.0).abs() < 1e-12);
        assert_eq!(combine(0.0, 2.0, 1.0, 2.0), (0.5, 2.0));
        // Degenerate inputs.
        assert_eq!(combine(0.0, 0.0, 1.0, 0.0), (0.5, 0.0));
        assert_eq!(combine(0.0, 0.0, 1.0, 1.0), (0.0, 0.0));
        assert_eq!(combine(0.0, 1.0, f64::NAN, 1.0), (0.0, 1.0));
        assert_eq!(combine(0.0, f64::INFINITY, 1.0, 1.0), (1.0, 1.0));
    }

    #[test]
    fn a_spike_is_skipped_but_a_lasting_change_is_taken() {
        let mut e = SourceEstimator::new(1e-14, 1e-10);
        for i in 0..20 {
            assert_eq!(e.on_sample(i as f64 * 64.0, 1e-4, 0.01, 0.0), Verdict::Accepted);
        }
        assert_eq!(e.on_sample(20.0 * 64.0, 0.5, 0.01, 0.0), Verdict::Outlier);
        for i in 21..24 {
            let _ = e.on_sample(i as f64 * 64.0, 0.2, 0.01, 0.0);
        }
        assert_eq!(e.on_sample(24.0 * 64.0, 0.2, 0.01, 0.0), Verdict::Accepted);
        let est = e.estimate_at(24.0 * 64.0).unwrap();
        assert!((est.offset - 0.2).abs() < 0.01, "{}", est.offset);
    }

    #[test]
    fn noisier_sources_get_longer_polls_and_new_ones_settle_first() {
        let feed = |step: f64| {
            let mut e = SourceEstimator::new(1e-14, 1e-10);
            assert_eq!(e.desired_poll(32.0, 6), 6, "settling");
            for i in 0..40 {
                e.on_sample(i as f64 * 64.0, 0.0, 0.001 + (i as f64 * 0.618).fract() * 7.0 * step, 0.0);
            }
            e.wander = WanderEstimator::default();
            e
        };
        let (quiet, noisy) = (feed(1e-6), feed(1e-3));
        let (pq, pn) = (quiet.desired_poll(32.0, 6), noisy.desired_poll(32.0, 6));
        assert!(
            pn > pq,
            "{pn} vs {pq}: {} {}",
            noisy.delays.effective_variance(1e-14),
            quiet.delays.effective_variance(1e-14)
        );
        assert!(noisy.desired_poll(1.0, 6) > noisy.desired_poll(1000.0, 6), "a higher target polls faster");
    }

    #[test]
    fn a_noiseless_path_never_claims_less_than_the_timestamps_precision() {
        let mut e = SourceEstimator::new(1e-14, 1e-10);
        for i in 0..40 {
            e.on_sample(i as f64, 1e-3, 50e-6, 0.0);
        }
        let est = e.estimate_at(39.0).unwrap();
        assert!((est.offset - 1e-3).abs() < 1e-9, "{}", est.offset);
        assert!(est.offset_var >= 1e-14 && est.rate_var > 0.0, "{est:?}");
    }

    #[test]
    fn bad_input_is_rejected_without_panic() {
        let mut e = SourceEstimator::new(1e-14, 1e-10);
        assert_eq!(e.on_sample(f64::NAN, 0.0, 0.0, 0.0), Verdict::Outlier);
        assert_eq!(e.on_sample(0.0, f64::INFINITY, 0.0, 0.0), Verdict::Outlier);
        assert!(e.estimate_at(0.0).is_none());
    }
}
