//! Leap seconds from a file, end to end: a local reference (stratum 1, as a
//! reference clock server would be) announces the leap second of its
//! `server.leapfile` to real clients during the day that ends with it and
//! reports the table in `/api/v1/status`; a corrupt list is reported, makes
//! health a warning and announces nothing. The clock is never touched.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntp_test_support::sntp_probe;
use sha1::{Digest, Sha1};

const NTP_UNIX: u64 = 2_208_988_800;

/// A leap-seconds.list (valid SHA-1 line, expiring in a year) whose last
/// entry adds `tai` − 37 seconds at NTP second `at`.
fn list(at: u64, tai: i32) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + NTP_UNIX;
    let (updated, expires) = (now - 86_400, now + 365 * 86_400);
    let data = [(2_272_060_800u64, 10i32), (3_692_217_600, 37), (at, tai)];
    let mut digits = format!("{updated}{expires}");
    let mut text = format!("#\tgenerated for a test\n#$\t{updated}\n#@\t{expires}\n");
    for (t, o) in data {
        digits.push_str(&format!("{t}{o}"));
        text.push_str(&format!("{t}\t{o}\t# test\n"));
    }
    let d = Sha1::digest(digits.as_bytes());
    let words: Vec<String> =
        d.chunks(4).map(|c| format!("{:08x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect();
    text.push_str(&format!("#h\t{}\n", words.join(" ")));
    text
}

/// NTP seconds of the coming UTC midnight.
fn tonight() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + NTP_UNIX;
    (now / 86_400 + 1) * 86_400
}

fn status(api: std::net::SocketAddr) -> serde_json::Value {
    let (code, body) = common::http_get(api, "/api/v1/status", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_local_reference_announces_the_leap_second_of_its_file_for_the_day() {
    let at = tonight();
    // Less than a minute to midnight, the day could end under the test.
    let secs_left = at - (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + NTP_UNIX);
    if secs_left < 60 {
        std::thread::sleep(Duration::from_secs(secs_left + 2));
    }
    for (tai, li, kind) in [(38, 1u8, "insert"), (36, 2, "delete")] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leap-seconds.list");
        std::fs::write(&file, list(tonight(), tai)).unwrap();
        let (run, api) = common::start_with_api(1, &format!("[server]\nleapfile = \"{}\"\n", file.display()));
        // From the first reply on.
        let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
        assert_eq!((r.li, r.stratum), (li, 1), "leap {kind} announced for the day: {r:?}");
        let s = status(api);
        let leap = &s["leap_seconds"];
        assert_eq!(leap["table"], "ok", "{leap}");
        assert_eq!(leap["source"], format!("file {}", file.display()));
        assert_eq!(leap["next_leap"], (at - NTP_UNIX) as i64);
        assert_eq!(leap["next_leap_kind"], kind);
        assert_eq!(leap["tai_offset"], 37);
        assert_eq!(leap["smear"], false);
        assert_eq!(s["leap"], li, "the status shows what is served");
        drop(run);
    }
}

#[test]
fn a_corrupt_list_is_reported_and_announces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leap-seconds.list");
    std::fs::write(&file, list(tonight(), 38).replace("\t38\t", "\t39\t")).unwrap();
    let (run, api) = common::start_with_api(1, &format!("[server]\nleapfile = \"{}\"\n", file.display()));
    std::thread::sleep(Duration::from_millis(1200));
    let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    assert_eq!(r.li, 0, "{r:?}");
    let s = status(api);
    assert_eq!(s["leap_seconds"]["table"], "invalid", "{s}");
    assert!(s["leap_seconds"]["problem"].as_str().unwrap().contains("SHA-1"), "{s}");
    assert_eq!(s["health"]["state"], "warning", "{s}");
    assert!(s["health"]["reasons"].to_string().contains("leap second table"), "{s}");
    let out = common::cli(&["status", "--api", &api.to_string()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("Leap seconds") && out.stdout.contains("invalid"), "{}", out.stdout);
}
