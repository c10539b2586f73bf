//! A two-state Kalman filter of one source's offset: `x` (source minus
//! local clock, s) and `r = dx/dt` (how fast that offset changes under the
//! frequency correction in force, s/s).
//!
//! Model: the local oscillator's frequency is a random walk with spectral
//! density `q` ((s/s)²/s, "wander"), so over `dt` the state moves as
//! `x += r·dt`, with process noise covariance
//! `q·[dt³/3, dt²/2; dt²/2, dt]`. Every frequency change the engine makes is
//! a known control input (`r -= Δf`), every step likewise (`x -= Δ`), so the
//! filter stays valid while the clock is steered.

/// The filter state and covariance at time `t` (engine timeline, s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OffsetFilter {
    /// Time of the state.
    pub t: f64,
    /// Offset estimate, s.
    pub x: f64,
    /// Offset rate estimate, s/s.
    pub r: f64,
    /// Covariance: var(x).
    pub pxx: f64,
    /// Covariance: cov(x, r).
    pub pxr: f64,
    /// Covariance: var(r).
    pub prr: f64,
}

/// The result of one measurement update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Innovation {
    /// Measurement minus prediction, s.
    pub residual: f64,
    /// Its predicted variance (prediction variance + measurement variance).
    pub variance: f64,
}

impl Innovation {
    /// The squared residual in units of its predicted variance.
    pub fn normalised_sq(&self) -> f64 {
        if self.variance > 0.0 {
            self.residual * self.residual / self.variance
        } else {
            0.0
        }
    }
}

impl OffsetFilter {
    /// A filter starting from a first measurement `x` with variance `var_x`
    /// and an unknown rate of variance `var_r`.
    pub fn new(t: f64, x: f64, var_x: f64, var_r: f64) -> Self {
        OffsetFilter { t, x, r: 0.0, pxx: var_x, pxr: 0.0, prr: var_r }
    }

    /// The predicted offset and its variance at `t` without changing state.
    pub fn predict_at(&self, t: f64, q: f64) -> (f64, f64) {
        let dt = (t - self.t).max(0.0);
        let var = self.pxx + 2.0 * dt * self.pxr + dt * dt * self.prr + q * dt * dt * dt / 3.0;
        (self.x + self.r * dt, var.max(0.0))
    }

    /// Moves the state forward to `t` (never backwards).
    pub fn predict(&mut self, t: f64, q: f64) {
        let dt = t - self.t;
        if dt <= 0.0 || !dt.is_finite() {
            return;
        }
        self.x += self.r * dt;
        self.pxx += 2.0 * dt * self.pxr + dt * dt * self.prr + q * dt * dt * dt / 3.0;
        self.pxr += dt * self.prr + q * dt * dt / 2.0;
        self.prr += q * dt;
        self.t = t;
    }

    /// Incorporates a measured offset `z` with variance `var_z`, taken at
    /// the filter's time.
    pub fn update(&mut self, z: f64, var_z: f64) -> Innovation {
        let residual = z - self.x;
        let s = self.pxx + var_z;
        if s <= 0.0 || !s.is_finite() || !residual.is_finite() {
            return Innovation { residual: 0.0, variance: s.max(0.0) };
        }
        let kx = self.pxx / s;
        let kr = self.pxr / s;
        self.x += kx * residual;
        self.r += kr * residual;
        let (pxx, pxr, prr) = (self.pxx, self.pxr, self.prr);
        self.pxx = (1.0 - kx) * pxx;
        self.pxr = (1.0 - kx) * pxr;
        self.prr = (prr - kr * pxr).max(0.0);
        // Keep the covariance positive semi-definite against rounding.
        let limit = (self.pxx * self.prr).sqrt();
        self.pxr = self.pxr.clamp(-limit, limit);
        Innovation { residual, variance: s }
    }

    /// The engine changed the clock's frequency correction by `df` (s/s,
    /// positive = faster): the offset now changes `df` more slowly.
    pub fn control_frequency(&mut self, df: f64) {
        self.r -= df;
    }

    /// The engine stepped the clock forward by `d` seconds.
    pub fn control_step(&mut self, d: f64) {
        self.x -= d;
    }

    /// Restarts from offset `x` after a run of outliers that turned out to
    /// be a real change (of offset or of frequency): var(x) and var(r) to at
    /// least `var_x` and `var_r`, no correlation.
    pub fn reset(&mut self, x: f64, var_x: f64, var_r: f64) {
        self.x = x;
        self.pxx = self.pxx.max(var_x);
        self.prr = self.prr.max(var_r);
        self.pxr = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_rate_from_noise_free_samples() {
        let mut f = OffsetFilter::new(0.0, 0.0, 1e-12, 1e-8);
        for i in 1..20 {
            let t = i as f64 * 16.0;
            f.predict(t, 1e-20);
            f.update(50e-6 * t, 1e-12);
        }
        assert!((f.r - 50e-6).abs() < 1e-9, "{}", f.r);
        assert!((f.x - 50e-6 * 304.0).abs() < 1e-8, "{}", f.x);
    }

    #[test]
    fn controls_shift_the_state() {
        let mut f = OffsetFilter::new(0.0, 0.01, 1e-12, 1e-12);
        f.r = 1e-5;
        f.control_frequency(1e-5);
        f.control_step(0.01);
        f.predict(100.0, 0.0);
        assert!(f.x.abs() < 1e-15 && f.r.abs() < 1e-15);
    }

    #[test]
    fn prediction_variance_grows_with_wander() {
        let f = OffsetFilter::new(0.0, 0.0, 1e-12, 0.0);
        let (_, v1) = f.predict_at(100.0, 1e-18);
        let (_, v2) = f.predict_at(1000.0, 1e-18);
        assert!(v2 > v1 * 100.0);
        let mut g = f;
        g.predict(-5.0, 1e-18);
        assert_eq!(g, f, "never predicts backwards");
    }
}
