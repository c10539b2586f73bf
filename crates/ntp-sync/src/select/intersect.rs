//! Marzullo intersection (the core of RFC 5905 §11.2.1, without its
//! midpoint rule, which rejects truechimers with wide intervals): the
//! interval that the correctness intervals `[offset − distance, offset +
//! distance]` of as many candidates as possible, and more than half of
//! them, share. Sources whose interval misses it are falsetickers.

/// Endpoint kinds, ordered so that at equal values lower ends come first.
const LOWER: i32 = -1;
const UPPER: i32 = 1;

/// The intersection interval, or `None` when no interval is shared by more
/// than half the candidates.
/// Each input is `(offset, distance)`.
pub fn intersect(intervals: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = intervals.len();
    if n == 0 {
        return None;
    }
    let mut edges: Vec<(f64, i32)> = Vec::with_capacity(3 * n);
    for &(offset, distance) in intervals {
        if !(offset.is_finite() && distance.is_finite()) {
            continue;
        }
        let d = distance.abs();
        edges.push((offset - d, LOWER));
        edges.push((offset + d, UPPER));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let n = edges.len() / 2;
    let mut allow = 0;
    while 2 * allow < n {
        let need = (n - allow) as i32;
        let mut chime = 0;
        let mut low = f64::INFINITY;
        for &(edge, kind) in &edges {
            chime -= kind;
            if chime >= need {
                low = edge;
                break;
            }
        }
        chime = 0;
        let mut high = f64::NEG_INFINITY;
        for &(edge, kind) in edges.iter().rev() {
            chime += kind;
            if chime >= need {
                high = edge;
                break;
            }
        }
        if low <= high {
            return Some((low, high));
        }
        allow += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_far_source_among_four_is_left_out() {
        let (lo, hi) = intersect(&[(0.001, 0.01), (0.002, 0.01), (-0.001, 0.01), (1.0, 0.01)]).unwrap();
        assert!(lo <= 0.0 && (0.0..0.5).contains(&hi), "{lo} {hi}");
    }

    #[test]
    fn two_disagreeing_sources_have_no_majority() {
        assert_eq!(intersect(&[(0.0, 0.01), (1.0, 0.01)]), None);
        assert!(intersect(&[(0.0, 0.01), (0.005, 0.01)]).is_some());
        assert!(intersect(&[(0.0, 0.01)]).is_some());
        assert_eq!(intersect(&[]), None);
    }

    #[test]
    fn three_sources_tolerate_one_falseticker() {
        let (lo, hi) = intersect(&[(0.0, 0.01), (0.003, 0.01), (5.0, 0.01)]).unwrap();
        assert!(lo < 0.01 && hi < 0.02, "{lo} {hi}");
        assert_eq!(intersect(&[(0.0, 0.01), (3.0, 0.01), (5.0, 0.01)]), None);
    }

    #[test]
    fn a_falseticker_overlapping_every_truechimer_narrows_the_intersection() {
        // The truth (0) is in the three truechimers' intervals; the fourth
        // misses it but overlaps all three in [0.01, 0.011], where all four
        // agree: that region is chosen, and it still meets every truechimer.
        let (lo, hi) = intersect(&[(0.0, 0.011), (0.0, 0.011), (0.0, 0.011), (0.03, 0.02)]).unwrap();
        assert!((lo - 0.01).abs() < 1e-12 && (hi - 0.011).abs() < 1e-12, "{lo} {hi}");
    }

    proptest! {
        #[test]
        fn a_majority_of_truechimers_always_contains_the_truth(
            good in proptest::collection::vec((-0.01f64..0.01, 0.011f64..0.05), 3..7),
            bad in proptest::collection::vec((0.2f64..100.0, any::<bool>(), 0.0f64..0.05), 0..3),
        ) {
            // Truechimers' intervals contain 0 (|offset| < distance). The
            // falsetickers' intervals overlap no truechimer's: one that does
            // may legitimately narrow the intersection to a region without 0
            // (every interval agrees there), which is not a failure.
            prop_assume!(bad.len() * 2 < good.len() + bad.len());
            let bad = bad.iter().map(|&(o, neg, d)| (if neg { -o } else { o }, d));
            let all: Vec<(f64, f64)> = good.iter().copied().chain(bad).collect();
            let (lo, hi) = intersect(&all).expect("majority exists");
            prop_assert!(lo <= 0.0 && hi >= 0.0, "{lo} {hi}");
        }
    }
}
