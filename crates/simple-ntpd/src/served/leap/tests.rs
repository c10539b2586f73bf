//! Loading and judging leap second tables, the indicator of engine-less
//! plans, and the smear as the serving path applies it.

use super::*;
use crate::served::local::LocalReference;
use ntp_sync::leap::{timestamp_of, DAY};

const LIST: &str = "/usr/share/zoneinfo/leap-seconds.list";
/// 2017-01-01 00:00 UTC.
const LAST: u64 = 3_692_217_600;

fn file(path: &str) -> LeapSettings {
    LeapSettings { file: Some(path.into()), ..LeapSettings::default() }
}

#[test]
fn the_real_list_is_used_until_it_expires_then_reported_and_ignored() {
    let ok = load(&file(LIST), timestamp_of(LAST + 1000));
    assert_eq!(ok.state, TableState::Ok, "{ok:?}");
    assert!(ok.table.is_some());
    assert_eq!(ok.source, format!("file {LIST}"));
    assert_eq!(ok.tai_offset(timestamp_of(LAST + 1000)), Some(37));
    let expires = ok.expires.unwrap();
    let late = load(&file(LIST), timestamp_of(expires + 1));
    assert_eq!(late.state, TableState::Expired);
    assert!(late.table.is_none(), "an expired list is not used");
    assert!(late.problem.as_deref().unwrap().contains("expired"), "{late:?}");
}

#[test]
fn corrupt_and_missing_lists_are_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(LIST).unwrap();
    let corrupt = dir.path().join("leap-seconds.list");
    let edited: String = text
        .lines()
        .map(|l| if l.starts_with("3692217600") { l.replacen("37", "38", 1) } else { l.to_owned() } + "\n")
        .collect();
    std::fs::write(&corrupt, edited).unwrap();
    let s = load(&file(corrupt.to_str().unwrap()), timestamp_of(LAST));
    assert_eq!(s.state, TableState::Invalid);
    assert!(s.table.is_none());
    assert!(s.problem.as_deref().unwrap().contains("SHA-1"), "{s:?}");
    let missing = load(&file("/nonexistent/leap-seconds.list"), timestamp_of(LAST));
    assert_eq!(missing.state, TableState::Invalid);
    assert!(missing.problem.as_deref().unwrap().contains("cannot read"), "{missing:?}");
    let none = load(&LeapSettings::default(), timestamp_of(LAST));
    assert_eq!((none.state, none.source.as_str()), (TableState::None, "sources"));
}

#[test]
fn the_right_utc_zone_is_found_by_name() {
    let s = load(&LeapSettings { tz: Some("right/UTC".into()), ..LeapSettings::default() }, timestamp_of(LAST));
    assert_eq!(s.state, TableState::Ok, "{s:?}");
    assert_eq!(s.expires, None, "the tz database has no expiry");
    assert_eq!(s.next_leap(timestamp_of(LAST - 10)), Some(LeapEvent { at: LAST, insert: true }));
    let plain = load(&LeapSettings { tz: Some("UTC".into()), ..LeapSettings::default() }, timestamp_of(LAST));
    assert_eq!(plain.state, TableState::Invalid, "a zone without leap records");
}

#[test]
fn engineless_plans_announce_the_tables_leap_for_its_day() {
    let state = load(&file(LIST), timestamp_of(LAST - 10));
    let local = LocalReference { stratum: 1, precision: -20 };
    let at = |t: u64| announce(local.snapshot(timestamp_of(t)), &state, timestamp_of(t)).server.leap;
    assert_eq!(at(LAST - DAY - 1), LeapIndicator::NoWarning);
    assert_eq!(at(LAST - DAY + 1), LeapIndicator::Insert);
    assert_eq!(at(LAST - 1), LeapIndicator::Insert);
    assert_eq!(at(LAST + 1), LeapIndicator::NoWarning);
    let unsync = announce(crate::served::local::unsynchronised(-20), &state, timestamp_of(LAST - 1));
    assert_eq!(unsync.server.leap, LeapIndicator::Unknown, "unsynchronised stays unsynchronised");
}

/// What workers serve over a smear window when the publisher renews the
/// correction once a second (the sync loop's pace) and a virtual clock
/// applies the leap at its instant: the ideal smear curve (exactly for a
/// linear smear, within the curvature bound for a cosine one), and never a
/// step back.
#[test]
fn served_time_follows_the_smear_curve_through_the_leap() {
    for (shape, duration) in [(Shape::Linear, 3600.0), (Shape::Cosine, 3600.0), (Shape::Cosine, 86_400.0)] {
        for insert in [true, false] {
            let smear = Smear { duration, shape };
            let event = LeapEvent { at: LAST, insert };
            let s = -event.step();
            let mut worst: f64 = 0.0;
            let mut last_served: Option<f64> = None;
            // System time runs with true elapsed time; the clock applies the
            // leap at its instant by a step of its correction.
            let mut t = -duration / 2.0 - 100.0;
            while t < duration / 2.0 + 100.0 {
                let applied = t >= 0.0;
                let base = Correction {
                    offset: NtpDuration::from_seconds(if applied { -s } else { 0.0 }),
                    ..Correction::IDENTITY
                };
                let published_at = timestamp_of(LAST) + NtpDuration::from_seconds(t);
                let reading = base.apply(published_at);
                let (announced, done) = if applied { (None, Some(event)) } else { (Some(event), None) };
                let c = match smear_at(&smear, announced, done, reading) {
                    Some((offset, rate)) => smeared(base, published_at, offset, rate),
                    None => base,
                };
                // Served at several points until the next renewal.
                for k in 0..4 {
                    let dt = f64::from(k) * 0.25;
                    let system = published_at + NtpDuration::from_seconds(dt);
                    let served = c.apply(system).since(timestamp_of(LAST)).to_seconds();
                    let ideal = t + dt - s * smear.fraction(t + dt);
                    worst = worst.max((served - ideal).abs());
                    if let Some(prev) = last_served {
                        assert!(served > prev, "served time never goes back ({shape:?}, insert {insert}, {t})");
                    }
                    last_served = Some(served);
                }
                t += 1.0;
            }
            let bound = 1e-9 + smear.curvature() / 2.0;
            assert!(worst < bound, "{shape:?} {duration} insert {insert}: {worst} > {bound}");
        }
    }
}

#[test]
fn the_publisher_wakes_at_the_smears_edges_still_ahead() {
    let state = LeapState { smear: Some(Smear { duration: 3600.0, shape: Shape::Linear }), ..LeapState::default() };
    let event = LeapEvent { at: LAST, insert: true };
    let at = |d: f64| timestamp_of(LAST) + NtpDuration::from_seconds(d);
    assert_eq!(smear_edges(&state, (Some(event), None), at(-2000.0)), vec![at(-1800.0), at(1800.0)]);
    assert_eq!(smear_edges(&state, (Some(event), None), at(-10.0)), vec![at(1800.0)]);
    // After an insertion the reading lags: the window ends at reading +1799.
    assert_eq!(smear_edges(&state, (None, Some(event)), at(5.0)), vec![at(1799.0)]);
    assert!(smear_edges(&state, (None, Some(event)), at(1799.5)).is_empty());
    assert!(smear_edges(&LeapState::default(), (Some(event), None), at(-10.0)).is_empty());
}

#[test]
fn with_a_smear_no_leap_indicator_is_served() {
    let state = LeapState { smear: Some(Smear { duration: 3600.0, shape: Shape::Linear }), ..LeapState::default() };
    let event = LeapEvent { at: LAST, insert: true };
    let mut server = LocalReference { stratum: 2, precision: -20 }.snapshot(timestamp_of(LAST)).server;
    server.leap = LeapIndicator::Insert;
    let now = timestamp_of(LAST - 900);
    let (served, c) = serve(&state, server, Correction::IDENTITY, now, (Some(event), None));
    assert_eq!(served.leap, LeapIndicator::NoWarning);
    assert!((c.apply(now).since(now).to_seconds() + 0.25).abs() < 1e-9, "a quarter of the second absorbed");
    let (served, c) = serve(&LeapState::default(), server, Correction::IDENTITY, now, (Some(event), None));
    assert_eq!((served.leap, c), (LeapIndicator::Insert, Correction::IDENTITY), "without a smear: announced");
}
