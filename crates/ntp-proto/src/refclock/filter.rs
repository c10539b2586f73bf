//! The reference-clock sample filter, with chrony's semantics: a refclock
//! delivers many samples per poll (one a second, or more); at each poll
//! they are reduced to one:
//!
//! 1. with more than four samples, only those whose dispersion is within
//!    1.5× the smallest are used (if at least four remain);
//! 2. sorted by offset, the 60 % closest to the median are kept (the
//!    outliers on both sides are rejected);
//! 3. the kept samples are averaged (offset and time); their spread around
//!    a straight line (so a frequency error does not count as noise) gives
//!    the standard error of the average, smoothed by a long-term average
//!    of the variance unless the new one is significantly smaller.
//!
//! The stored samples are on the local clock's timeline; when that clock
//! changes frequency or steps, [`MedianFilter::clock_changed`] moves them
//! with it, so a correction made in the middle of a poll does not bend the
//! series.

use crate::timestamp::{NtpDuration, NtpTimestamp};
use std::collections::VecDeque;

/// Fraction of the samples closest to the median that are combined.
const COMBINE_RATIO: f64 = 0.6;
/// Variances below this are taken as this (s²).
const MIN_VARIANCE: f64 = 1e-20;

/// One raw sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FilterSample {
    /// Local time of the measurement.
    pub time: NtpTimestamp,
    /// Reference minus local clock, seconds.
    pub offset: f64,
    /// Its own dispersion (precision and the like), seconds.
    pub dispersion: f64,
}

/// What a poll's samples combine to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Filtered {
    /// Mean time of the combined samples.
    pub time: NtpTimestamp,
    /// Their mean offset, seconds.
    pub offset: f64,
    /// Standard error of that offset (1σ), seconds.
    pub error: f64,
    /// Mean dispersion of the combined samples, seconds.
    pub dispersion: f64,
    /// Spread of the combined samples (1σ around their trend), seconds.
    pub jitter: f64,
    /// Samples combined.
    pub used: usize,
    /// Samples the poll had.
    pub total: usize,
}

/// The filter of one reference clock.
#[derive(Clone, Debug)]
pub struct MedianFilter {
    max_samples: usize,
    samples: VecDeque<FilterSample>,
    last: Option<FilterSample>,
    avg_var: f64,
    avg_var_n: f64,
    max_var: f64,
}

impl MedianFilter {
    /// A filter keeping at most `max_samples` (1–256) per poll; `precision`
    /// (s) is the first guess of the noise; polls whose variance exceeds
    /// `max_dispersion`² are dropped (0: no limit).
    pub fn new(max_samples: usize, precision: f64, max_dispersion: f64) -> Self {
        MedianFilter {
            max_samples: max_samples.clamp(1, 256),
            samples: VecDeque::new(),
            last: None,
            avg_var: precision * precision,
            avg_var_n: 0.0,
            max_var: max_dispersion * max_dispersion,
        }
    }

    /// Adds a sample; false (and not added) unless it is later than the
    /// previous one. The oldest sample makes room when the filter is full.
    pub fn add(&mut self, s: FilterSample) -> bool {
        if self.samples.back().is_some_and(|prev| s.time.since(prev.time).to_bits() <= 0) {
            return false;
        }
        if self.samples.len() == self.max_samples {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
        self.last = Some(s);
        true
    }

    /// The latest sample, also after a poll took the others.
    pub fn last(&self) -> Option<FilterSample> {
        self.last
    }

    /// Samples waiting for the next poll.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample waits for the next poll.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The long-term average noise (1σ), seconds.
    pub fn average_dispersion(&self) -> f64 {
        self.avg_var.sqrt()
    }

    /// Forgets everything, the latest sample included.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.last = None;
    }

    /// The local clock changed at `when`: its rate by `dfreq` (s/s, positive
    /// = faster) and its reading by `step` seconds. Samples are moved onto
    /// the new timeline.
    pub fn clock_changed(&mut self, when: NtpTimestamp, dfreq: f64, step: f64) {
        let shift = |s: &mut FilterSample| {
            let delta = s.time.since(when).to_seconds() * dfreq + step;
            s.time = s.time + NtpDuration::from_seconds(delta);
            s.offset -= delta;
        };
        self.samples.iter_mut().for_each(shift);
        if let Some(l) = self.last.as_mut() {
            shift(l);
        }
    }

    /// Combines the poll's samples into one and starts the next poll;
    /// `None` when there were none, or the result is noisier than the
    /// configured maximum.
    pub fn take(&mut self) -> Option<Filtered> {
        let total = self.samples.len();
        if total == 0 {
            return None;
        }
        let mut chosen: Vec<FilterSample> = self.samples.drain(..).collect();
        if chosen.len() > 4 {
            let min = chosen.iter().map(|s| s.dispersion).fold(f64::INFINITY, f64::min);
            let precise: Vec<FilterSample> = chosen.iter().copied().filter(|s| s.dispersion <= 1.5 * min).collect();
            if precise.len() >= 4 {
                chosen = precise;
            }
        }
        chosen.sort_by(|a, b| a.offset.total_cmp(&b.offset));
        let n = chosen.len();
        if n > 2 {
            let from = ((n as f64 * (1.0 - COMBINE_RATIO) / 2.0) as usize).clamp(1, (n - 1) / 2);
            chosen.truncate(n - from);
            chosen.drain(..from);
        }
        self.combine(&chosen, total)
    }

    fn combine(&mut self, s: &[FilterSample], total: usize) -> Option<Filtered> {
        let n = s.len();
        let base = s[0].time;
        let x: Vec<f64> = s.iter().map(|p| p.time.since(base).to_seconds()).collect();
        let mean_x = x.iter().sum::<f64>() / n as f64;
        let mean_y = s.iter().map(|p| p.offset).sum::<f64>() / n as f64;
        let (mut var, mut error, dof) = if n >= 4 {
            // Least squares around the mean time: the residual variance and
            // the standard error of the value at the mean time.
            let sxx: f64 = x.iter().map(|xi| (xi - mean_x).powi(2)).sum();
            let sxy: f64 = x.iter().zip(s).map(|(xi, p)| (xi - mean_x) * (p.offset - mean_y)).sum();
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let rss: f64 = x.iter().zip(s).map(|(xi, p)| (p.offset - mean_y - slope * (xi - mean_x)).powi(2)).sum();
            let s2 = rss / (n - 2) as f64;
            (s2, (s2 / n as f64).sqrt(), n - 2)
        } else if n >= 2 {
            let v = s.iter().map(|p| (p.offset - mean_y).powi(2)).sum::<f64>() / (n - 1) as f64;
            (v, v.sqrt(), n - 1)
        } else {
            (self.avg_var, self.avg_var.sqrt(), 1)
        };
        if var < MIN_VARIANCE {
            var = MIN_VARIANCE;
            error = error.max(var.sqrt());
        }
        if self.max_var > 0.0 && var > self.max_var {
            return None;
        }
        let jitter = var.sqrt();
        let dof_f = dof as f64;
        let mut previous = self.avg_var;
        if self.avg_var_n > 50.0 {
            self.avg_var += dof_f / (dof_f + 50.0) * (var - self.avg_var);
        } else {
            self.avg_var = (self.avg_var * self.avg_var_n + var * dof_f) / (dof_f + self.avg_var_n);
            if self.avg_var_n == 0.0 {
                previous = self.avg_var;
            }
            self.avg_var_n += dof_f;
        }
        // Unless this poll is significantly quieter than usual, its error
        // is scaled to the long-term noise (fewer jumps in the weights).
        if var * dof_f / chi2_90(dof) < previous {
            error *= (self.avg_var / var).sqrt();
        }
        let dispersion = s.iter().map(|p| p.dispersion).sum::<f64>() / n as f64;
        Some(Filtered {
            time: base + NtpDuration::from_seconds(mean_x),
            offset: mean_y,
            error,
            dispersion,
            jitter,
            used: n,
            total,
        })
    }
}

/// The 90 % quantile of the chi-square distribution with `dof` degrees of
/// freedom (Wilson–Hilferty approximation, within 3 % for dof ≥ 1).
fn chi2_90(dof: usize) -> f64 {
    let k = dof.max(1) as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + 1.281_551_6 * a.sqrt()).powi(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_767_225_600, 0) + NtpDuration::from_seconds(s)
    }

    fn sample(t: f64, offset: f64) -> FilterSample {
        FilterSample { time: at(t), offset, dispersion: 1e-6 }
    }

    #[test]
    fn outliers_on_both_sides_are_rejected() {
        let mut f = MedianFilter::new(64, 1e-6, 0.0);
        let offsets = [0.001, 0.0011, 0.0009, 0.5, 0.001, -0.3, 0.00105, 0.00095, 0.001, 0.0010];
        for (i, o) in offsets.iter().enumerate() {
            assert!(f.add(sample(i as f64, *o)));
        }
        let r = f.take().unwrap();
        assert_eq!((r.used, r.total), (6, 10));
        assert!((r.offset - 0.001).abs() < 1e-4, "{}", r.offset);
        assert!(r.jitter < 1e-3, "the spikes are not in the spread: {}", r.jitter);
        assert!(f.is_empty() && f.last().is_some(), "a poll keeps only the latest sample");
        assert_eq!(f.take(), None);
    }

    #[test]
    fn a_frequency_error_is_not_noise() {
        let mut f = MedianFilter::new(64, 1e-9, 0.0);
        // 10 ppm drift, no noise: mean offset at the mean time, tiny error.
        for i in 0..16 {
            f.add(sample(f64::from(i), 1e-3 + 1e-5 * f64::from(i)));
        }
        let r = f.take().unwrap();
        let mid = r.time.since(at(0.0)).to_seconds();
        assert!((r.offset - (1e-3 + 1e-5 * mid)).abs() < 1e-9, "{} at {mid}", r.offset);
        assert!(r.error < 1e-8 && r.jitter < 1e-8, "{r:?}");
    }

    #[test]
    fn the_error_shrinks_with_more_samples_and_tracks_the_noise() {
        let noise = [3.0, -1.0, 2.0, -4.0, 1.0, 0.0, -2.0, 4.0, -3.0, 1.5, -0.5, 2.5, -1.5, 0.5, -2.5, 3.5];
        let mut f = MedianFilter::new(64, 1e-6, 0.0);
        for (i, e) in noise.iter().enumerate() {
            f.add(sample(i as f64, e * 1e-4));
        }
        let r = f.take().unwrap();
        assert!(r.offset.abs() < 1e-4 && r.jitter > 1e-5 && r.jitter < 4e-4, "{r:?}");
        assert!(r.error < r.jitter, "the error of a mean is below the spread: {r:?}");
        // One sample: the long-term noise is its error.
        f.add(sample(100.0, 0.0));
        let one = f.take().unwrap();
        assert!((one.error - f.average_dispersion()).abs() < 1e-12, "{one:?}");
    }

    #[test]
    fn samples_move_with_the_clock() {
        let mut f = MedianFilter::new(64, 1e-6, 0.0);
        for i in 0..=10 {
            f.add(sample(f64::from(i), 0.01));
        }
        // At t = 10 the clock steps forward 5 ms and runs 100 ppm faster:
        // the later samples, on the new timeline, continue one line.
        f.clock_changed(at(10.0), 1e-4, 0.005);
        let line = |t: f64| 0.005 - 1e-4 * (t - 10.005);
        for i in 11..16 {
            let t = 10.005 + f64::from(i - 10) * (1.0 + 1e-4);
            f.add(FilterSample { time: at(t), offset: line(t), dispersion: 1e-6 });
        }
        let r = f.take().unwrap();
        let mid = r.time.since(at(0.0)).to_seconds();
        assert!((r.offset - line(mid)).abs() < 1e-7, "{r:?} at {mid}");
        assert!(r.jitter < 1e-7, "one straight line: {r:?}");
    }

    #[test]
    fn order_capacity_and_noise_limit() {
        let mut f = MedianFilter::new(4, 1e-6, 0.0);
        assert!(f.add(sample(1.0, 0.0)));
        assert!(!f.add(sample(1.0, 0.0)), "same time");
        assert!(!f.add(sample(0.5, 0.0)), "earlier");
        for i in 2..10 {
            f.add(sample(f64::from(i), f64::from(i)));
        }
        assert_eq!(f.len(), 4, "the oldest make room");
        let mut noisy = MedianFilter::new(64, 1e-6, 1e-3);
        for i in 0..8 {
            noisy.add(sample(f64::from(i), if i % 2 == 0 { 0.1 } else { -0.1 }));
        }
        assert_eq!(noisy.take(), None, "above max dispersion");
    }

    #[test]
    fn chi2_quantiles() {
        for (dof, want) in [(1, 2.706), (2, 4.605), (10, 15.987), (64, 78.860)] {
            assert!((chi2_90(dof) / want - 1.0).abs() < 0.03, "{dof}: {}", chi2_90(dof));
        }
    }
}
