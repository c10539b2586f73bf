//! The RFC 5905 cluster algorithm (§11.2.2): among the intersection's
//! survivors, repeatedly drop the one whose offset is furthest from the
//! others (largest selection jitter) while that spread exceeds the smallest
//! source jitter and more than [`MIN_CLUSTER`] remain.

/// Survivors the cluster algorithm keeps at least (RFC 5905 NMIN).
pub const MIN_CLUSTER: usize = 3;

/// Which of the `(offset, jitter)` survivors the cluster keeps.
pub fn cluster(points: &[(f64, f64)]) -> Vec<bool> {
    let mut keep = vec![true; points.len()];
    loop {
        let alive: Vec<usize> = (0..points.len()).filter(|&i| keep[i]).collect();
        if alive.len() <= MIN_CLUSTER {
            return keep;
        }
        let mut worst = (f64::NEG_INFINITY, usize::MAX);
        for &i in &alive {
            let ss: f64 = alive.iter().map(|&j| (points[i].0 - points[j].0).powi(2)).sum();
            let phi = (ss / (alive.len() - 1) as f64).sqrt();
            if phi > worst.0 {
                worst = (phi, i);
            }
        }
        let min_jitter = alive.iter().map(|&i| points[i].1).fold(f64::INFINITY, f64::min);
        if worst.0 <= min_jitter || worst.1 == usize::MAX {
            return keep;
        }
        keep[worst.1] = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_outlier_down_to_three() {
        let keep = cluster(&[(0.0, 1e-4), (1e-4, 1e-4), (-1e-4, 1e-4), (5e-3, 1e-4), (4e-3, 1e-4)]);
        assert_eq!(keep, vec![true, true, true, false, false]);
        assert_eq!(cluster(&[(0.0, 1e-4), (9.0, 1e-4)]), vec![true, true]);
    }

    #[test]
    fn stops_when_spread_is_within_jitter() {
        let keep = cluster(&[(0.0, 1e-3), (1e-4, 1e-3), (-1e-4, 1e-3), (2e-4, 1e-3)]);
        assert!(keep.iter().all(|&k| k));
    }
}
