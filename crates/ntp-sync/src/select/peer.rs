//! The system peer: which of the combined sources we name as ours (its
//! stratum + 1 is served, its address is our reference id).
//!
//! The lowest stratum is preferred, as chrony does: each stratum above the
//! lowest combined one counts as [`STRATUM_WEIGHT`] of extra root distance
//! (chrony's `stratumweight`), so a stratum-3 server must be a millisecond
//! closer than a stratum-1 server to win. And the choice is sticky: the
//! current peer stays while it is combined and no other source is better
//! by more than [`RESELECT_DISTANCE`] (chrony's `reselectdist`). Root
//! distances move with every sample (a source's grows at 15 ppm between its
//! polls), so without that margin equally good servers polled at different
//! moments would take turns several times per poll interval, and the
//! served stratum and reference id with them.

use super::Candidate;

/// Extra distance per stratum above the lowest combined, s.
pub const STRATUM_WEIGHT: f64 = 1e-3;
/// How much better (s) another source must be to replace the current peer.
pub const RESELECT_DISTANCE: f64 = 1e-4;

/// The system peer among `chosen` (indices into `candidates`, not empty),
/// given the current one (an index into `candidates`, if it is one).
pub fn system_peer(candidates: &[Candidate], chosen: &[usize], current: Option<usize>) -> usize {
    let lowest = chosen.iter().map(|&i| candidates[i].stratum).min().unwrap_or(0);
    let score = |i: usize| {
        let c = &candidates[i];
        c.distance + f64::from(c.stratum.saturating_sub(lowest)) * STRATUM_WEIGHT
    };
    let mut best = chosen[0];
    for &i in chosen {
        if score(i) < score(best) {
            best = i;
        }
    }
    match current {
        Some(c) if chosen.contains(&c) && score(c) <= score(best) + RESELECT_DISTANCE => c,
        _ => best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_proto::LeapIndicator;

    fn cand(distance: f64, stratum: u8) -> Candidate {
        Candidate {
            offset: 0.0,
            offset_var: 1e-12,
            rate: 0.0,
            rate_var: 1e-16,
            distance,
            jitter: 1e-6,
            server_error: 0.0,
            stratum,
            prefer: false,
            trust: false,
            leap: LeapIndicator::NoWarning,
        }
    }

    #[test]
    fn lower_stratum_wins_unless_a_millisecond_worse() {
        let c = [cand(20e-6, 3), cand(30e-6, 1), cand(10e-6, 2)];
        assert_eq!(system_peer(&c, &[0, 1, 2], None), 1);
        let c = [cand(20e-6, 3), cand(2.1e-3, 1)];
        assert_eq!(system_peer(&c, &[0, 1], None), 0, "stratum 3, 2.08 ms closer");
    }

    #[test]
    fn the_current_peer_stays_unless_another_is_clearly_better() {
        let c = [cand(50e-6, 1), cand(10e-6, 1)];
        assert_eq!(system_peer(&c, &[0, 1], None), 1);
        assert_eq!(system_peer(&c, &[0, 1], Some(0)), 0, "40 µs better is not enough");
        let c = [cand(500e-6, 1), cand(10e-6, 1)];
        assert_eq!(system_peer(&c, &[0, 1], Some(0)), 1);
        assert_eq!(system_peer(&c, &[1], Some(0)), 1, "a peer no longer combined is replaced");
    }
}
