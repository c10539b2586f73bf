//! [`Summary`]: mean, standard deviation, RMS and extremes of a series of
//! errors, the figures the accuracy benchmark reports per server.

use serde::Serialize;

/// Figures of a series, in the series' unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub sd: f64,
    /// Root mean square (includes the mean: RMS² = mean² + sd²).
    pub rms: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Median.
    pub median: f64,
}

impl Summary {
    /// The figures of `values` (all zero when empty; non-finite values are left out).
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let ms = v.iter().map(|x| x * x).sum::<f64>() / n as f64;
        Summary { n, mean, sd: var.sqrt(), rms: ms.sqrt(), min: v[0], max: v[n - 1], median: v[n / 2] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        let s = Summary::of(&[1.0, -1.0, 3.0, f64::NAN]);
        assert_eq!(s.n, 3);
        assert!((s.mean - 1.0).abs() < 1e-12);
        assert!((s.rms - (11.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((s.rms * s.rms - (s.mean * s.mean + s.sd * s.sd)).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.median), (-1.0, 3.0, 1.0));
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}
