//! Leap smear: instead of announcing a leap second, serve time that absorbs
//! it gradually, as the public cloud time services do (Google, AWS: 24 h,
//! linear, noon to noon around the leap). The smear is centred on the leap:
//! it starts `duration / 2` before it and ends `duration / 2` after, so
//! served time never jumps and clients never see a leap indicator.
//!
//! With `T` the true elapsed time from the leap and `f` the shape (0 → 1
//! over the window), smeared time is `UTC-without-the-leap − s·f(T)` for a
//! leap of `s` seconds (+1 inserted, −1 deleted). The clock itself still
//! applies the leap at its instant; [`Smear::offset`] gives what to add to
//! its reading, before and after, so the sum is continuous.
//!
//! Mixing smeared and unsmeared servers (or servers smearing differently)
//! makes clients see up to a second of disagreement around a leap: use
//! one kind per client population.

use super::LeapEvent;

/// How the offset moves over the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmearShape {
    /// Constant rate: 1 s / duration throughout (Google's and AWS's).
    Linear,
    /// Half a cosine: starts and ends at zero rate, peaks at π/2 s / duration
    /// in the middle.
    Cosine,
}

/// A leap smear's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smear {
    /// Length of the window, seconds (centred on the leap).
    pub duration: f64,
    /// Its shape.
    pub shape: SmearShape,
}

impl Smear {
    /// The fraction of the leap absorbed `t` seconds (true elapsed time)
    /// after the leap's instant: 0 before the window, 1 after it.
    pub fn fraction(&self, t: f64) -> f64 {
        let u = ((t + self.duration / 2.0) / self.duration).clamp(0.0, 1.0);
        match self.shape {
            SmearShape::Linear => u,
            SmearShape::Cosine => (1.0 - (std::f64::consts::PI * u).cos()) / 2.0,
        }
    }

    /// The rate at which the fraction grows, per second (from the window's
    /// first instant up to, not including, its last).
    pub fn rate(&self, t: f64) -> f64 {
        let u = (t + self.duration / 2.0) / self.duration;
        if !(0.0..1.0).contains(&u) {
            return 0.0;
        }
        match self.shape {
            SmearShape::Linear => 1.0 / self.duration,
            SmearShape::Cosine => std::f64::consts::PI / (2.0 * self.duration) * (std::f64::consts::PI * u).sin(),
        }
    }

    /// The largest rate over the window, seconds of offset per second.
    pub fn max_rate(&self) -> f64 {
        match self.shape {
            SmearShape::Linear => 1.0 / self.duration,
            SmearShape::Cosine => std::f64::consts::PI / (2.0 * self.duration),
        }
    }

    /// What to add to the reading of a clock that applies `event` (seconds),
    /// and how fast that changes (s/s), at `until` = the event's instant
    /// minus the reading; `applied` says whether the clock already applied
    /// it (its reading then lags true elapsed time by the leap).
    pub fn offset(&self, event: LeapEvent, until: f64, applied: bool) -> (f64, f64) {
        let s = -event.step();
        let t = if applied { -until + s } else { -until };
        let f = self.fraction(t);
        let offset = if applied { s * (1.0 - f) } else { -s * f };
        (offset, -s * self.rate(t))
    }

    /// The window's edges as offsets from the event's instant, seconds:
    /// whoever publishes the smear piecewise should renew it exactly there.
    pub fn edges(&self) -> [f64; 2] {
        [-self.duration / 2.0, self.duration / 2.0]
    }

    /// The largest second derivative of the offset, s/s²: renewing a
    /// linear piece every `dt` seconds stays within `curvature · dt² / 2`
    /// of the curve (0 for linear; for cosine π²/(2·duration²)).
    pub fn curvature(&self) -> f64 {
        match self.shape {
            SmearShape::Linear => 0.0,
            SmearShape::Cosine => std::f64::consts::PI.powi(2) / (2.0 * self.duration.powi(2)),
        }
    }

    /// True while `event` needs smearing at `until` (see [`Self::offset`]).
    pub fn active(&self, event: LeapEvent, until: f64, applied: bool) -> bool {
        let s = -event.step();
        let t = if applied { -until + s } else { -until };
        t >= -self.duration / 2.0 && t < self.duration / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: LeapEvent = LeapEvent { at: 3_692_217_600, insert: true };
    const DELETE: LeapEvent = LeapEvent { at: 3_692_217_600, insert: false };

    /// Served time minus true UTC-without-the-leap over the window, sampled
    /// every `step` seconds of true time, for a clock that applies the leap
    /// at its instant: (true time from the leap, served − elapsed).
    fn curve(smear: &Smear, event: LeapEvent, step: f64) -> Vec<(f64, f64)> {
        let s = -event.step();
        let half = smear.duration / 2.0;
        let mut out = Vec::new();
        let mut t = -half - 100.0;
        while t <= half + 100.0 {
            // The clock's reading relative to the leap's instant.
            let applied = t >= 0.0;
            let jump = if applied { -s } else { 0.0 };
            let (offset, _) = smear.offset(event, -(t + jump), applied);
            out.push((t, jump + offset));
            t += step;
        }
        out
    }

    #[test]
    fn served_offset_goes_from_zero_to_minus_the_leap_continuously() {
        for shape in [SmearShape::Linear, SmearShape::Cosine] {
            for event in [INSERT, DELETE] {
                let smear = Smear { duration: 86_400.0, shape };
                let s = -event.step();
                let c = curve(&smear, event, 1.0);
                assert!(c.first().unwrap().1.abs() < 1e-12, "nothing before the window");
                assert!((c.last().unwrap().1 + s).abs() < 1e-12, "the whole leap after it");
                let middle = c.iter().find(|(t, _)| *t == 0.0).unwrap().1;
                assert!((middle + s / 2.0).abs() < 1e-9, "half at the leap: {middle}");
                // No jump anywhere, the leap instant included.
                let max_step = c.windows(2).map(|w| (w[1].1 - w[0].1).abs()).fold(0.0, f64::max);
                assert!(max_step <= smear.max_rate() * (1.0 + 1e-6), "{shape:?} {event:?}: {max_step}");
                // Monotonic towards −s.
                assert!(c.windows(2).all(|w| (w[1].1 - w[0].1) * s <= 1e-15));
            }
        }
    }

    #[test]
    fn slew_rate_is_at_most_one_second_per_duration_for_linear() {
        for duration in [3_600.0, 86_400.0, 7.0 * 86_400.0] {
            let linear = Smear { duration, shape: SmearShape::Linear };
            let c = curve(&linear, INSERT, 10.0);
            let max = c.windows(2).map(|w| (w[1].1 - w[0].1).abs() / 10.0).fold(0.0, f64::max);
            assert!(max <= (1.0 + 1e-6) / duration, "linear {duration}: {max}");
            // A cosine takes the same second over the same window with zero
            // rate at both ends, so its peak is π/2 times higher.
            let cosine = Smear { duration, shape: SmearShape::Cosine };
            let c = curve(&cosine, INSERT, 10.0);
            let max = c.windows(2).map(|w| (w[1].1 - w[0].1).abs() / 10.0).fold(0.0, f64::max);
            assert!(max <= std::f64::consts::FRAC_PI_2 * (1.0 + 1e-6) / duration, "cosine {duration}: {max}");
            assert!(max > 1.5 / duration);
        }
    }

    #[test]
    fn rate_is_the_derivative_of_the_offset() {
        for shape in [SmearShape::Linear, SmearShape::Cosine] {
            let smear = Smear { duration: 86_400.0, shape };
            for until in [30_000.0, 100.0, 1.0] {
                let (a, rate) = smear.offset(INSERT, until, false);
                let (b, _) = smear.offset(INSERT, until - 1.0, false);
                assert!(((b - a) - rate).abs() < 1e-9, "{shape:?} at {until}: {} vs {rate}", b - a);
            }
            assert!(smear.active(INSERT, 100.0, false));
            assert!(!smear.active(INSERT, 50_000.0, false));
            assert!(smear.active(INSERT, -100.0, true));
            assert!(!smear.active(INSERT, -50_000.0, true));
        }
    }
}
