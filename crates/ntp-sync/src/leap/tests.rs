//! The leap second table against the real files Debian's `tzdata` ships,
//! and the calendar arithmetic it relies on.

use super::*;

const LIST: &str = "/usr/share/zoneinfo/leap-seconds.list";
const RIGHT_UTC: &str = "/usr/share/zoneinfo/right/UTC";
/// 2016-12-31 24:00 UTC, the last leap second so far.
const LAST: u64 = 3_692_217_600;

fn real(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (install the tzdata package)"))
}

#[test]
fn the_real_leap_seconds_list_parses_with_its_hash_and_expiry() {
    let text = String::from_utf8(real(LIST)).unwrap();
    let t = list::parse(&text).expect("the list's SHA-1 line matches");
    let events: Vec<LeapEvent> = t.events().collect();
    assert!(events.len() >= 27, "27 leap seconds from 1972 to 2016: {}", events.len());
    assert!(events.iter().all(|e| e.insert), "all so far were insertions");
    assert_eq!(events[0], LeapEvent { at: 2_287_785_600, insert: true }, "1972-06-30");
    assert!(events.contains(&LeapEvent { at: LAST, insert: true }));
    assert_eq!(t.tai_offset(timestamp_of(LAST + 1000)), 37);
    assert_eq!(t.tai_offset(timestamp_of(LAST - 1000)), 36);
    let expires = t.expires().expect("the list has an expiry");
    assert!(expires > LAST, "{expires}");
    assert!(!t.is_expired(timestamp_of(expires - 1)));
    assert!(t.is_expired(timestamp_of(expires)), "expired from its expiry on");
    // Changing one digit of the data breaks the hash.
    let edited: String = text
        .lines()
        .map(|l| if l.starts_with("3692217600") { l.replacen("37", "38", 1) } else { l.to_owned() } + "\n")
        .collect();
    assert_ne!(edited, text);
    assert_eq!(list::parse(&edited), Err(LeapError::BadHash));
}

#[test]
fn the_right_utc_zone_gives_the_same_leap_seconds_as_the_list() {
    let from_tz = tzif::parse(&real(RIGHT_UTC)).expect("right/UTC has leap records");
    let from_list = list::parse(&String::from_utf8(real(LIST)).unwrap()).unwrap();
    let tz: Vec<LeapEvent> = from_tz.events().collect();
    let listed: Vec<LeapEvent> = from_list.events().collect();
    assert_eq!(tz, listed);
    assert_eq!(from_tz.tai_offset(timestamp_of(LAST + 1)), 37);
    // The Unix zone of the same database has no leap records.
    assert!(tzif::parse(&real("/usr/share/zoneinfo/UTC")).is_err());
}

#[test]
fn events_are_announced_for_the_day_that_ends_with_them() {
    let e = LeapEvent { at: LAST, insert: true };
    assert!(!e.announced_at(timestamp_of(LAST - DAY - 1)));
    assert!(e.announced_at(timestamp_of(LAST - DAY)));
    assert!(e.announced_at(timestamp_of(LAST - 1)));
    assert!(!e.announced_at(timestamp_of(LAST)));
    assert_eq!(e.indicator(), LeapIndicator::Insert);
    assert_eq!(e.step(), -1.0);
    assert_eq!(LeapEvent { at: LAST, insert: false }.step(), 1.0);
}

#[test]
fn calendar_arithmetic() {
    assert_eq!(utc_date(LAST), "2017-01-01");
    assert_eq!(utc_date(2_272_060_800), "1972-01-01");
    assert_eq!(unix_seconds(LAST), 1_483_228_800);
    assert!(is_last_day_of_month(timestamp_of(LAST - 1)));
    assert!(!is_last_day_of_month(timestamp_of(LAST)));
    // 2024-02-29 (leap year) and 2023-02-28.
    let feb29_2024 = 3_918_153_600 + 1000;
    assert_eq!(utc_date(feb29_2024), "2024-02-29");
    assert!(is_last_day_of_month(timestamp_of(feb29_2024)));
    assert!(!is_last_day_of_month(timestamp_of(feb29_2024 - DAY)));
    assert_eq!(end_of_day(timestamp_of(LAST - 5)), LAST);
    // After 2036 the era wraps; the pivot keeps dates until 2104 right.
    let y2040 = 4_417_977_600u64; // 2040-01-01
    assert_eq!(utc_date(y2040), "2040-01-01");
    assert_eq!(era_seconds(timestamp_of(y2040)), y2040);
    assert_eq!(era_seconds(timestamp_of(LAST)), LAST);
    assert!(is_last_day_of_month(timestamp_of(y2040 - 1)));
}

#[test]
fn tables_refuse_what_cannot_be() {
    assert!(LeapTable::new(vec![], None).is_err());
    assert!(LeapTable::new(vec![(LAST, 36), (LAST, 37)], None).is_err());
    assert!(LeapTable::new(vec![(0, 10), (LAST + 5, 37)], None).is_err(), "not at midnight");
    let t = LeapTable::new(vec![(LAST, 37), (2_272_060_800, 10)], None).unwrap();
    assert_eq!(t.next_after(timestamp_of(LAST - 10)), Some(LeapEvent { at: LAST, insert: true }));
    assert_eq!(t.next_after(timestamp_of(LAST)), None);
    assert_eq!(t.announced(timestamp_of(LAST - 10)), Some(LeapEvent { at: LAST, insert: true }));
}
