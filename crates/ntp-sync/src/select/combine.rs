//! Weighted combining of the selected sources' estimates: offsets by the
//! inverse of their error variance (estimate variance plus the server's
//! own root distance squared), rates by the inverse of their variance.

use ntp_proto::LeapIndicator;

/// One source's contribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Contribution {
    /// Offset, s.
    pub offset: f64,
    /// Its error variance, s² (including the server's own uncertainty).
    pub offset_var: f64,
    /// The part of `offset_var` from measuring the server (without the
    /// server's own root distance), s².
    pub measurement_var: f64,
    /// Offset rate, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
    /// The server's leap indicator.
    pub leap: LeapIndicator,
}

/// The combined estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    /// Weighted offset, s.
    pub offset: f64,
    /// Its variance.
    pub offset_var: f64,
    /// The variance of the weighted offset from measuring the servers alone
    /// (their root distances left out: those are accounted separately as
    /// the selected server's root delay and dispersion).
    pub measurement_var: f64,
    /// Weighted rate, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
    /// Weighted RMS spread of the offsets around the result, s.
    pub jitter: f64,
    /// The leap indicator of a strict majority, else no warning.
    pub leap: LeapIndicator,
}

/// Combines contributions; `None` for an empty slice.
pub fn combine(parts: &[Contribution]) -> Option<Combined> {
    if parts.is_empty() {
        return None;
    }
    let w = |v: f64| 1.0 / v.max(1e-24);
    let (mut sw, mut sx, mut swr, mut sr) = (0.0, 0.0, 0.0, 0.0);
    for p in parts {
        sw += w(p.offset_var);
        sx += w(p.offset_var) * p.offset;
        swr += w(p.rate_var);
        sr += w(p.rate_var) * p.rate;
    }
    let offset = sx / sw;
    let rate = sr / swr;
    let spread: f64 = parts.iter().map(|p| w(p.offset_var) * (p.offset - offset).powi(2)).sum::<f64>() / sw;
    // Variance of a weighted mean: sum of w_i² var_i over (sum of w_i)².
    let measurement_var = parts.iter().map(|p| w(p.offset_var).powi(2) * p.measurement_var).sum::<f64>() / (sw * sw);
    let count = |l| parts.iter().filter(|p| p.leap == l).count();
    let leap = [LeapIndicator::Insert, LeapIndicator::Delete]
        .into_iter()
        .find(|&l| 2 * count(l) > parts.len())
        .unwrap_or(LeapIndicator::NoWarning);
    Some(Combined {
        offset,
        offset_var: 1.0 / sw,
        measurement_var,
        rate,
        rate_var: 1.0 / swr,
        jitter: spread.sqrt(),
        leap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(offset: f64, var: f64, leap: LeapIndicator) -> Contribution {
        Contribution { offset, offset_var: var, measurement_var: var, rate: offset * 1e-3, rate_var: var, leap }
    }

    #[test]
    fn weights_by_inverse_variance_and_leap_needs_a_majority() {
        let r = combine(&[c(0.0, 1e-8, LeapIndicator::Insert), c(1e-3, 9e-8, LeapIndicator::NoWarning)]).unwrap();
        assert!((r.offset - 1e-4).abs() < 1e-12, "{}", r.offset);
        assert_eq!(r.leap, LeapIndicator::NoWarning);
        let r = combine(&[
            c(0.0, 1e-8, LeapIndicator::Insert),
            c(0.0, 1e-8, LeapIndicator::Insert),
            c(0.0, 1e-8, LeapIndicator::NoWarning),
        ])
        .unwrap();
        assert_eq!(r.leap, LeapIndicator::Insert);
        assert!((r.offset_var - 1e-8 / 3.0).abs() < 1e-20);
        assert!(combine(&[]).is_none());
    }
}
