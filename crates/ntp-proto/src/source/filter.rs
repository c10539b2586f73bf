//! The RFC 5905 clock filter (§10) of one source: the last eight samples,
//! the minimum-delay one chosen as the source's offset and delay, the
//! dispersion as the weighted sum of the samples' dispersions (which grow at
//! PHI while they age), and the jitter as the RMS of the other samples'
//! offsets around the chosen one.
//!
//! These are the per-source figures the status display shows (ntpq's
//! offset/delay/disp/jitter columns) and the ones the engine uses for the
//! source's correctness interval. The engine's own estimator uses every raw
//! sample, weighted by how much longer its delay was than the minimum.

use super::{MAX_DISPERSION, PHI};
use crate::timestamp::NtpTimestamp;

/// Number of stages of the filter.
pub const STAGES: usize = 8;

/// One stage of the filter: a sample, or a missed poll (dispersion
/// [`MAX_DISPERSION`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// Offset, seconds.
    pub offset: f64,
    /// Round-trip delay, seconds.
    pub delay: f64,
    /// Dispersion as of the last insertion, seconds.
    pub dispersion: f64,
    /// Local time of the sample.
    pub time: NtpTimestamp,
}

/// What the filter says about its source.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FilterStats {
    /// Offset of the minimum-delay sample (server minus local), seconds.
    pub offset: f64,
    /// Its round-trip delay, seconds.
    pub delay: f64,
    /// Weighted dispersion of the filter's samples, seconds.
    pub dispersion: f64,
    /// RMS of the other samples' offsets around the chosen one, seconds.
    pub jitter: f64,
    /// Valid samples in the filter (0–8).
    pub samples: usize,
    /// Local time of the chosen sample.
    pub time: NtpTimestamp,
}

/// The eight-stage clock filter.
#[derive(Clone, Debug, Default)]
pub struct ClockFilter {
    entries: [Option<Entry>; STAGES],
    next: usize,
    updated: Option<NtpTimestamp>,
    stats: FilterStats,
}

impl ClockFilter {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The figures as of the last insertion.
    pub fn stats(&self) -> FilterStats {
        self.stats
    }

    /// The stages in use, oldest first (for debugging displays).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        (0..STAGES).filter_map(move |i| self.entries[(self.next + i) % STAGES].as_ref())
    }

    /// Inserts a sample taken at local time `time` and recomputes the
    /// figures. Non-finite or negative inputs are stored as a missing sample.
    pub fn insert(&mut self, offset: f64, delay: f64, dispersion: f64, time: NtpTimestamp) -> FilterStats {
        let valid = offset.is_finite() && delay.is_finite() && delay >= 0.0 && dispersion.is_finite();
        let entry = if valid {
            Entry { offset, delay, dispersion: dispersion.clamp(0.0, MAX_DISPERSION), time }
        } else {
            Entry { offset: 0.0, delay: 0.0, dispersion: MAX_DISPERSION, time }
        };
        self.push(entry, time)
    }

    /// Records a poll that got no answer: a missing sample of maximum
    /// dispersion, so the source's dispersion grows while it is silent.
    pub fn insert_missing(&mut self, time: NtpTimestamp) -> FilterStats {
        self.push(Entry { offset: 0.0, delay: 0.0, dispersion: MAX_DISPERSION, time }, time)
    }

    /// Shifts every stored local time by `offset_s` after the local clock
    /// was stepped, so ages stay right.
    pub fn clock_stepped(&mut self, offset_s: f64) {
        let d = crate::timestamp::NtpDuration::from_seconds(offset_s);
        for e in self.entries.iter_mut().flatten() {
            e.time = e.time + d;
        }
        if let Some(t) = self.updated.as_mut() {
            *t = *t + d;
        }
        self.stats.time = self.stats.time + d;
    }

    fn push(&mut self, entry: Entry, now: NtpTimestamp) -> FilterStats {
        // Age the stored samples' dispersion since the last insertion.
        if let Some(prev) = self.updated {
            let age = now.since(prev).to_seconds().max(0.0);
            for e in self.entries.iter_mut().flatten() {
                e.dispersion = (e.dispersion + PHI * age).min(MAX_DISPERSION);
            }
        }
        self.updated = Some(now);
        self.entries[self.next] = Some(entry);
        self.next = (self.next + 1) % STAGES;
        self.recompute();
        self.stats
    }

    fn recompute(&mut self) {
        let mut sorted: [Entry; STAGES] =
            [Entry { offset: 0.0, delay: 0.0, dispersion: MAX_DISPERSION, time: NtpTimestamp::ZERO }; STAGES];
        let mut n = 0;
        for e in self.entries.iter().flatten() {
            sorted[n] = *e;
            n += 1;
        }
        let sorted = &mut sorted[..n];
        // Valid samples by increasing delay, missing ones last.
        sorted.sort_by(|a, b| {
            let ka = (a.dispersion >= MAX_DISPERSION, a.delay);
            let kb = (b.dispersion >= MAX_DISPERSION, b.delay);
            ka.partial_cmp(&kb).unwrap_or(core::cmp::Ordering::Equal)
        });
        let valid = sorted.iter().filter(|e| e.dispersion < MAX_DISPERSION).count();
        let mut dispersion = 0.0;
        let mut weight = 0.5;
        for i in 0..STAGES {
            let d = sorted.get(i).map_or(MAX_DISPERSION, |e| e.dispersion);
            dispersion += d * weight;
            weight *= 0.5;
        }
        if valid == 0 {
            self.stats = FilterStats { dispersion, samples: 0, ..self.stats };
            return;
        }
        let best = sorted[0];
        let jitter = if valid > 1 {
            let ss: f64 = sorted[1..valid].iter().map(|e| (e.offset - best.offset).powi(2)).sum();
            (ss / (valid - 1) as f64).sqrt()
        } else {
            0.0
        };
        self.stats =
            FilterStats { offset: best.offset, delay: best.delay, dispersion, jitter, samples: valid, time: best.time };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u32) -> NtpTimestamp {
        NtpTimestamp::from_bits(u64::from(s) << 32)
    }

    #[test]
    fn chooses_the_minimum_delay_sample() {
        let mut f = ClockFilter::new();
        f.insert(0.010, 0.050, 1e-6, t(1));
        f.insert(0.001, 0.005, 1e-6, t(2));
        let s = f.insert(0.020, 0.080, 1e-6, t(3));
        assert_eq!(s.offset, 0.001);
        assert_eq!(s.delay, 0.005);
        assert_eq!(s.samples, 3);
        // Jitter: RMS of (0.009, 0.019) around the chosen offset.
        let want = ((0.009f64.powi(2) + 0.019f64.powi(2)) / 2.0).sqrt();
        assert!((s.jitter - want).abs() < 1e-12);
    }

    #[test]
    fn entries_are_listed_oldest_first() {
        let mut f = ClockFilter::new();
        assert_eq!(f.entries().count(), 0);
        for i in 0..10 {
            f.insert(f64::from(i), 0.01, 0.0, t(i));
        }
        let offsets: Vec<f64> = f.entries().map(|e| e.offset).collect();
        assert_eq!(offsets, [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }

    #[test]
    fn old_samples_fall_out_after_eight_stages() {
        let mut f = ClockFilter::new();
        f.insert(0.5, 0.001, 0.0, t(0));
        for i in 1..=8 {
            f.insert(0.1, 0.010, 0.0, t(i));
        }
        assert_eq!(f.stats().offset, 0.1);
    }

    #[test]
    fn dispersion_grows_with_missing_samples_and_bad_input_is_missing() {
        let mut f = ClockFilter::new();
        let full = f.insert(0.0, 0.01, 0.0, t(0)).dispersion;
        let mut last = full;
        for i in 1..8 {
            let d = f.insert_missing(t(i * 64)).dispersion;
            assert!(d >= last);
            last = d;
        }
        assert!(last > 7.9, "{last}");
        // The ninth insertion pushes the only valid sample out.
        let s = f.insert(f64::NAN, -1.0, 0.0, t(1000));
        assert_eq!(s.samples, 0);
        assert!(s.offset.is_finite());
    }

    #[test]
    fn step_shifts_times() {
        let mut f = ClockFilter::new();
        f.insert(0.0, 0.01, 0.0, t(10));
        f.clock_stepped(5.0);
        assert_eq!(f.stats().time, t(15));
    }
}
