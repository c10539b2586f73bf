//! [`ControlHistory`]: the clock's recent frequency changes, to bring a
//! sample measured before them into the current timescale.
//!
//! The engine slews by changing the clock's frequency correction (a slew
//! is an extra frequency for a while, then its removal). A sample's offset
//! is `source − local` at the time it was measured, `t`; the filter models
//! the offset under the correction in force *now*, so the sample is first
//! reduced by the phase the clock gained over `[t, now]` beyond what the
//! current correction alone would have given it
//! ([`ControlHistory::phase_since`]).
//!
//! Steps need nothing here: the association shifts its stored local times
//! by every step (`clock_stepped`), so a sample crossing a step already
//! measures in the stepped timescale.
//!
//! Bounded: the last [`KEPT`] changes. A sample older than a change that was
//! forgotten cannot be translated exactly and is refused.

/// Changes remembered (a slew is two; several sources' updates per poll).
pub const KEPT: usize = 32;

/// Recent frequency changes, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlHistory {
    changes: std::collections::VecDeque<(f64, f64)>,
    /// Time of the newest change forgotten (`None`: none forgotten).
    forgotten: Option<f64>,
}

impl ControlHistory {
    /// The frequency correction changed by `df` (s/s) at engine time `t`.
    pub fn push(&mut self, t: f64, df: f64) {
        if !(t.is_finite() && df.is_finite()) || df == 0.0 {
            return;
        }
        if self.changes.len() == KEPT {
            if let Some((old, _)) = self.changes.pop_front() {
                self.forgotten = Some(old);
            }
        }
        self.changes.push_back((t, df));
    }

    /// The phase (s) the changes after `t` have advanced the clock by, over
    /// and above what the current correction would have done since `t`:
    /// the offset of a sample measured at `t` is that much smaller in the
    /// current timescale. `None` when a change after `t` was forgotten.
    ///
    /// With `c(s)` the correction in force at `s` and `c` today's, the
    /// filter's line assumes `c` since `t`, so the sample misses
    /// `∫ₜ^T (c(s) − c) ds = −Σ_{tᵢ>t} dfᵢ·(tᵢ − t)` up to any `T` after the
    /// last change (`c(s) − c = −Σ_{tᵢ>s} dfᵢ`).
    pub fn phase_since(&self, t: f64) -> Option<f64> {
        if self.forgotten.is_some_and(|f| f > t) {
            return None;
        }
        Some(-self.changes.iter().filter(|(ti, _)| *ti > t).map(|(ti, df)| df * (ti - t)).sum::<f64>())
    }

    /// The total size (s/s) of the changes within `half_width` of `t`: a
    /// sample whose exchange spans a change measures part of it at one
    /// frequency and part at another, so its error may exceed half its
    /// round trip by up to that much times the round trip.
    pub fn change_near(&self, t: f64, half_width: f64) -> f64 {
        self.changes.iter().filter(|(ti, _)| (ti - t).abs() <= half_width).map(|(_, df)| df.abs()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_near_a_sample_add_up_by_size() {
        let mut h = ControlHistory::default();
        h.push(100.0, 0.05);
        h.push(101.0, -0.05);
        h.push(200.0, 1e-6);
        assert_eq!(h.change_near(101.001, 0.002), 0.05);
        assert_eq!(h.change_near(100.5, 0.6), 0.1);
        assert_eq!(h.change_near(150.0, 1.0), 0.0);
    }

    #[test]
    fn a_finished_slew_counts_by_the_phase_it_gained() {
        let mut h = ControlHistory::default();
        // A slew of 1 ms over 10 s, from t = 100 to t = 110.
        h.push(100.0, 1e-4);
        h.push(110.0, -1e-4);
        // Measured before it: the slew has since gained the clock 1 ms.
        assert!((h.phase_since(90.0).unwrap() - 1e-3).abs() < 1e-12, "{:?}", h.phase_since(90.0));
        // Measured halfway: half of it.
        assert!((h.phase_since(105.0).unwrap() - 5e-4).abs() < 1e-12);
        // Measured after it: nothing to correct.
        assert_eq!(h.phase_since(110.0), Some(0.0));
        assert_eq!(h.phase_since(200.0), Some(0.0));
    }

    #[test]
    fn a_change_still_in_force_counts_against_the_current_correction() {
        let mut h = ControlHistory::default();
        h.push(100.0, 2e-6);
        // From 90 to 100 the clock ran 2e-6 slower than today's correction
        // assumes: it gained 20 µs less.
        assert!((h.phase_since(90.0).unwrap() - -2e-5).abs() < 1e-15);
    }

    #[test]
    fn memory_is_bounded_and_too_old_samples_are_refused() {
        let mut h = ControlHistory::default();
        for i in 0..(KEPT + 5) {
            h.push(i as f64, 1e-6);
        }
        assert_eq!(h.changes.len(), KEPT);
        assert_eq!(h.phase_since(1.0), None, "changes after it were forgotten");
        assert!(h.phase_since(KEPT as f64 + 10.0).is_some());
        h.push(f64::NAN, 1.0);
        h.push(1e9, f64::INFINITY);
        assert_eq!(h.changes.len(), KEPT);
    }
}
