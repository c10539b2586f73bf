//! Leap seconds from a file, end to end: a local reference (stratum 1, as a
//! reference clock server would be) announces the leap second of its
//! `server.leapfile` to real clients during the day that ends with it and
//! reports the table in `/api/v1/status`; a corrupt list is reported, makes
//! health a warning and announces nothing. A real chronyd (`-x`) reads the
//! announcement from us, and measures the smeared time a daemon serves
//! instead when `server.leap_smear` is on. The clock is never touched.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntp_test_support::{chronyd_path, peer_or_skip, sntp_probe, ChronydClient, ChronydClientOpts};

const NTP_UNIX: u64 = 2_208_988_800;

/// A leap-seconds.list whose last entry adds `tai` − 37 seconds at `at`.
fn list(at: u64, tai: i32) -> String {
    common::leap_seconds_list(at, tai)
}

/// Now, NTP seconds.
fn now_ntp() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() + NTP_UNIX as f64
}

/// NTP seconds of the coming UTC midnight.
fn tonight() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + NTP_UNIX;
    (now / 86_400 + 1) * 86_400
}

/// With less than `margin` seconds to midnight the day could end under the
/// test: wait for the next one.
fn not_too_close_to_midnight(margin: u64) {
    let secs_left = tonight() - (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + NTP_UNIX);
    if secs_left < margin {
        std::thread::sleep(Duration::from_secs(secs_left + 2));
    }
}

fn status(api: std::net::SocketAddr) -> serde_json::Value {
    let (code, body) = common::http_get(api, "/api/v1/status", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_local_reference_announces_the_leap_second_of_its_file_for_the_day() {
    not_too_close_to_midnight(60);
    let at = tonight();
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

#[test]
fn chronyd_reads_the_announced_leap_second() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    not_too_close_to_midnight(120);
    for (tai, status, mark) in [(38, "Insert second", '+'), (36, "Delete second", '-')] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leap-seconds.list");
        std::fs::write(&file, list(tonight(), tai)).unwrap();
        let (run, _api) = common::start_with_api(1, &format!("[server]\nleapfile = \"{}\"\n", file.display()));
        let mut client = ChronydClient::start(ChronydClientOpts::new(run.addr.ip(), run.addr.port())).unwrap();
        let m = client
            .wait_for_measurements(2, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}\n{}", run.daemon.log()));
        assert!(m.iter().all(|m| m.leap == mark && m.stratum == 1), "chronyd's measurements: {m:?}");
        let data = client.ntpdata().unwrap();
        assert_eq!(data.get("Leap status").map(String::as_str), Some(status), "{data:?}");
    }
}

/// The fraction of an inserted leap second at `leap` a linear smear of
/// `duration` seconds, centred on it, has absorbed at NTP time `t`.
fn linear_fraction(t: f64, leap: f64, duration: f64) -> f64 {
    ((t - leap + duration / 2.0) / duration).clamp(0.0, 1.0)
}

/// A smearing daemon (virtual clock, following a stratum 1 that announces
/// tonight's inserted leap second, with the same table) serves time behind
/// UTC by the smear's fraction and no leap indicator; chronyd measures both.
/// The window is centred on midnight and at most a day long, so before
/// about noon UTC "now" is outside it: then the served offset must be zero.
#[test]
fn chronyd_measures_the_smear_and_sees_no_leap() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    not_too_close_to_midnight(300);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leap-seconds.list");
    let leap = tonight();
    std::fs::write(&file, list(leap, 38)).unwrap();
    let leapfile = format!("leapfile = \"{}\"", file.display());
    let upstream = common::start("127.0.0.1".parse().unwrap(), 0, 1, &format!("[server]\n{leapfile}\n"));
    // A window holding the next hour when the day allows it.
    let duration = (2.0 * (leap as f64 - now_ntp()) + 3600.0).min(86_400.0).floor();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let api = std::net::SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let port = ntp_test_support::free_udp_port(ip);
    let config = format!(
        "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n\
         [[sources.servers]]\naddress = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = 1\n\
         [clock]\ndiscipline = \"virtual\"\n[monitoring]\nlisten = \"{api}\"\n\
         [server]\n{leapfile}\nleap_smear = {{ enabled = true, duration = {duration} }}\n",
        upstream.addr
    );
    let conf = dir.path().join("smearing.toml");
    std::fs::write(&conf, &config).unwrap();
    let mut smearing =
        ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", conf.to_str().unwrap()]).unwrap();
    let addr = std::net::SocketAddr::new(ip, port);
    smearing.wait_until_serving(addr, Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);
    // Bounded wait until it is synchronised to the upstream.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status(api)["synchronised"] != true {
        assert!(std::time::Instant::now() < deadline, "not synchronised: {}", smearing.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = status(api);
    assert_eq!(s["leap_seconds"]["smear"], true, "{s}");
    assert_eq!(s["leap"], 0, "no announcement while smearing: {s}");
    let before = now_ntp();
    let mut client = ChronydClient::start(ChronydClientOpts::new(ip, port)).unwrap();
    let m =
        client.wait_for_measurements(1, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}\n{}", smearing.log()));
    let after = now_ntp();
    // Served = UTC − fraction; chronyd's first sample is raw (nothing
    // corrected yet), source − local.
    let (hi, lo) = (-linear_fraction(before, leap as f64, duration), -linear_fraction(after, leap as f64, duration));
    let got = m[0].offset_s;
    assert!(
        got > lo - 0.005 && got < hi + 0.005,
        "chronyd measured {got} s; the smear is {hi}..{lo} s (window {duration} s centred on {leap})"
    );
    assert_eq!(m[0].leap, 'N', "a smearing server announces no leap: {:?}", m[0]);
    let data = client.ntpdata().unwrap();
    assert_eq!(data.get("Leap status").map(String::as_str), Some("Normal"), "{data:?}");
    eprintln!("chronyd measured {got:.6} s from the smearing server, expected {hi:.6}..{lo:.6} s");
}
