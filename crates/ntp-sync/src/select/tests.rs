//! Selection rules with one, two, three and four sources, falsetickers and
//! `prefer`.

use super::*;

fn cand(offset: f64) -> Candidate {
    Candidate {
        offset,
        offset_var: 1e-10,
        rate: 0.0,
        rate_var: 1e-16,
        distance: 0.005,
        jitter: 1e-4,
        server_error: 0.0,
        stratum: 1,
        prefer: false,
        trust: false,
        leap: LeapIndicator::NoWarning,
    }
}

fn peer(s: &Selection) -> Option<usize> {
    s.result.as_ref().ok().map(|(_, p)| *p)
}

#[test]
fn one_source_is_used_alone() {
    let s = select(&[cand(0.3)], 1, 1, None);
    assert_eq!(peer(&s), Some(0));
    assert!((s.result.unwrap().0.offset - 0.3).abs() < 1e-12);
}

#[test]
fn two_disagreeing_sources_are_both_untrusted() {
    let s = select(&[cand(0.0), cand(1.0)], 2, 1, None);
    assert!(matches!(s.result, Err(NoSelection::NoMajority { needed: 2, .. })));
    assert_eq!(s.verdicts, vec![Verdict::Falseticker, Verdict::Falseticker]);
}

#[test]
fn two_agreeing_sources_are_combined() {
    let s = select(&[cand(0.0), cand(0.002)], 2, 1, None);
    let (c, _) = s.result.unwrap();
    assert!((c.offset - 0.001).abs() < 1e-9);
    assert!(s.verdicts.iter().all(|v| matches!(v, Verdict::Combined | Verdict::SystemPeer)));
}

#[test]
fn three_sources_outvote_one_falseticker() {
    let s = select(&[cand(0.0), cand(1.0), cand(0.001)], 3, 1, None);
    assert_eq!(s.verdicts[1], Verdict::Falseticker);
    assert!(s.result.is_ok());
    // Three all disagreeing: nothing.
    assert!(select(&[cand(0.0), cand(1.0), cand(2.0)], 3, 1, None).result.is_err());
}

#[test]
fn a_lone_answer_cannot_win_while_others_are_pending() {
    // Four configured sources, only the falseticker has answered yet.
    let s = select(&[cand(1.0)], 4, 1, None);
    assert!(matches!(s.result, Err(NoSelection::NoMajority { agreeing: 1, needed: 3 })));
    // Two of four agreeing is not enough either.
    assert!(select(&[cand(1.0), cand(0.0), cand(0.001)], 4, 1, None).result.is_err());
    assert!(select(&[cand(1.0), cand(0.0), cand(0.001), cand(0.002)], 4, 1, None).result.is_ok());
}

#[test]
fn min_sources_raises_the_bar() {
    assert!(select(&[cand(0.0)], 1, 2, None).result.is_err());
    assert_eq!(needed(1, 1), 1);
    assert_eq!(needed(2, 1), 2);
    assert_eq!(needed(3, 1), 2);
    assert_eq!(needed(4, 1), 3);
    assert_eq!(needed(5, 4), 4);
}

#[test]
fn prefer_restricts_combining_and_becomes_peer() {
    let mut p = cand(0.003);
    p.prefer = true;
    p.distance = 0.01;
    let s = select(&[cand(0.0), p, cand(0.001)], 3, 1, None);
    assert_eq!(peer(&s), Some(1));
    assert!((s.result.unwrap().0.offset - 0.003).abs() < 1e-12);
    assert_eq!(s.verdicts[0], Verdict::Candidate);
}

#[test]
fn system_peer_has_the_smallest_distance() {
    let mut a = cand(0.0);
    a.distance = 0.004;
    let s = select(&[cand(0.0), a, cand(0.0)], 3, 1, None);
    assert_eq!(peer(&s), Some(1));
}

#[test]
fn a_trusted_source_is_outvoted_only_by_trusted_ones() {
    let trusted = |o: f64| Candidate { trust: true, distance: 0.001, ..cand(o) };
    // Three untrusted servers agree on 1.0; the trusted refclock says 0.0:
    // the refclock wins, the servers are falsetickers.
    let s = select(&[cand(1.0), cand(1.001), cand(0.999), trusted(0.0)], 4, 1, None);
    assert_eq!(peer(&s), Some(3));
    assert_eq!(&s.verdicts[..3], &[Verdict::Falseticker; 3]);
    // An untrusted source wholly inside the trusted interval is combined;
    // one that only overlaps it is kept as a candidate, not combined.
    let narrow = Candidate { distance: 0.0002, ..cand(0.0001) };
    let wide = cand(0.002);
    let s = select(&[narrow, wide, trusted(0.0)], 3, 1, None);
    assert_eq!(s.verdicts[1], Verdict::Candidate);
    assert!(matches!(s.verdicts[0], Verdict::Combined | Verdict::SystemPeer));
    // Two trusted sources that disagree: no majority among the trusted.
    let s = select(&[trusted(0.0), trusted(1.0), cand(0.0)], 3, 1, None);
    assert!(matches!(s.result, Err(NoSelection::NoMajority { needed: 2, .. })));
}
