//! Percentiles of signed nanosecond samples in constant memory.
//!
//! A log-linear histogram (like HdrHistogram): magnitudes below 128 ns are
//! exact; above, each power of two is split into 128 buckets, so any reported
//! value is within 0.4 % of a recorded one (the bucket midpoint, clamped to the
//! exact min and max). Negative samples go to a mirrored half. Recording is a
//! few integer operations and never allocates.

/// Sub-bucket bits: 2^7 = 128 buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// Buckets for magnitudes 0..2^64.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB_COUNT;

/// A histogram of signed nanosecond values.
#[derive(Clone)]
pub struct Histogram {
    positive: Vec<u64>,
    negative: Vec<u64>,
    count: u64,
    min: i64,
    max: i64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { positive: vec![0; BUCKETS], negative: vec![0; BUCKETS], count: 0, min: i64::MAX, max: i64::MIN }
    }
}

/// Bucket index of a magnitude.
fn index(v: u64) -> usize {
    if v < SUB_COUNT as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) as usize & (SUB_COUNT - 1);
    (shift as usize + 1) * SUB_COUNT + mantissa
}

/// Lowest magnitude and width of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < SUB_COUNT {
        return (i as u64, 1);
    }
    let shift = (i / SUB_COUNT - 1) as u32;
    let mantissa = (i % SUB_COUNT) as u64;
    (((SUB_COUNT as u64) | mantissa) << shift, 1u64 << shift)
}

/// Representative value of a bucket: its midpoint (exact below 128).
fn bucket_value(i: usize) -> u64 {
    let (low, width) = bucket_range(i);
    low + (width - 1) / 2
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&mut self, v: i64) {
        if v >= 0 {
            self.positive[index(v as u64)] += 1;
        } else {
            self.negative[index(v.unsigned_abs())] += 1;
        }
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest sample, exact; `None` when empty.
    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest sample, exact; `None` when empty.
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// The nearest-rank quantile `q` (0.0..=1.0): the smallest recorded value
    /// with at least `ceil(q·count)` samples at or below it (within the bucket
    /// precision; exact for the first and last rank). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        // The small epsilon keeps float error in q·count from moving up one rank.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64 - 1e-9).ceil() as u64).max(1);
        // The extremes are kept exactly.
        if rank == 1 {
            return Some(self.min);
        }
        if rank >= self.count {
            return Some(self.max);
        }
        let mut seen = 0u64;
        // Most negative first: negative buckets from the largest magnitude down.
        for i in (0..BUCKETS).rev() {
            seen += self.negative[i];
            if seen >= rank {
                return Some(self.clamp(-(bucket_value(i) as i64)));
            }
        }
        for i in 0..BUCKETS {
            seen += self.positive[i];
            if seen >= rank {
                return Some(self.clamp(bucket_value(i) as i64));
            }
        }
        Some(self.max)
    }

    fn clamp(&self, v: i64) -> i64 {
        v.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_range_agree() {
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let (low, width) = bucket_range(i);
            assert!(low <= v && v - low < width, "v {v} bucket {i} low {low} width {width}");
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in [5, 1, 3, 2, 4] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), Some(1));
        assert_eq!(h.quantile(0.2), Some(1));
        assert_eq!(h.quantile(0.5), Some(3));
        assert_eq!(h.quantile(0.8), Some(4));
        assert_eq!(h.quantile(0.81), Some(5));
        assert_eq!(h.quantile(1.0), Some(5));
        assert_eq!((h.min(), h.max(), h.count()), (Some(1), Some(5), 5));
    }

    #[test]
    fn empty_has_no_quantiles() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.max(), None);
        assert_eq!(h.min(), None);
    }

    #[test]
    fn uniform_percentiles_within_relative_error() {
        let mut h = Histogram::default();
        for v in 1..=100_000i64 {
            h.record(v * 10); // 10 ns .. 1 ms
        }
        for (q, exact) in [(0.5, 500_000.0), (0.9, 900_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - exact).abs() / exact < 0.005, "q {q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), Some(1_000_000), "max is exact");
    }

    #[test]
    fn signed_values_order_correctly() {
        let mut h = Histogram::default();
        for v in [-3000, -20, 0, 15, 2000] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.2), Some(-3000));
        assert_eq!(h.quantile(0.4), Some(-20));
        assert_eq!(h.quantile(0.6), Some(0));
        assert_eq!(h.quantile(0.8), Some(15));
        let top = h.quantile(1.0).unwrap();
        assert_eq!(top, 2000);
        assert_eq!(h.min(), Some(-3000));
    }

    #[test]
    fn single_outlier_shows_only_at_the_top() {
        let mut h = Histogram::default();
        for _ in 0..999 {
            h.record(1_000);
        }
        h.record(5_000_000);
        let near = |v: Option<i64>| v.is_some_and(|v| (v - 1_000).abs() <= 4);
        assert!(near(h.quantile(0.99)));
        assert!(near(h.quantile(0.999)));
        assert_eq!(h.quantile(0.9991), Some(5_000_000));
    }
}
