//! The statistics logs of `[logging] statistics` side by side with chronyd's
//! own: one upstream (a simple-ntpd local reference at stratum 1) is polled
//! by simple-ntpd (virtual clock) and by a real chronyd (`-x`, `log
//! measurements statistics tracking`). Both sets of files must carry the same
//! banners byte for byte and, line for line, the same column layout (every
//! column the same shape: date, address, fixed or exponent notation, width
//! of the code columns), so whatever reads chrony's logs reads ours; and
//! chrony's own measurements parser (ntp-test-support) must read our file.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ntp_test_support::{chronyd_path, parse_measurements_log, peer_or_skip, ChronydClient, ChronydClientOpts, TempDir};

/// The shape of one column: what a parser of chrony's format expects there.
fn shape(token: &str) -> String {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = token.strip_prefix('-').unwrap_or(token);
    if token.len() == 10 && token.as_bytes()[4] == b'-' && token.as_bytes()[7] == b'-' {
        return "date".into();
    }
    if token.len() == 8 && token.as_bytes()[2] == b':' && token.as_bytes()[5] == b':' {
        return "time".into();
    }
    if token.parse::<IpAddr>().is_ok() {
        return "address".into();
    }
    if let Some((mantissa, exp)) = unsigned.split_once('e') {
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let exp_ok = exp.len() == 3 && (exp.starts_with('+') || exp.starts_with('-')) && digits(&exp[1..]);
        if digits(int) && int.len() == 1 && digits(frac) && exp_ok {
            return format!("exp.{}", frac.len());
        }
    }
    if let Some((int, frac)) = unsigned.split_once('.') {
        if digits(int) && digits(frac) {
            return format!("fixed.{}", frac.len());
        }
    }
    if digits(unsigned) {
        return "integer".into();
    }
    if token.len() == 8 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return "hex8".into();
    }
    format!("code{}", token.len())
}

fn data_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).collect()
}

fn banner(text: &str) -> Vec<&str> {
    text.lines().take(3).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Columns that are numbers in one file and a code in the other are the
/// only difference allowed: chrony writes integers where a small count is
/// due (e.g. `Ns`), and both must be integers there.
fn shapes(line: &str) -> Vec<String> {
    line.split_whitespace().map(shape).collect()
}

#[test]
fn logs_have_chronys_banners_and_columns() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let upstream = common::start(ip, 0, 1, "[monitoring]\nenabled = false\n");
    let dir = TempDir::new("statistics-logs").unwrap();
    common::readable_like_etc(dir.path());
    let logdir = dir.join("stats");
    let ours = common::start(
        ip,
        0,
        3,
        &format!(
            "[monitoring]\nenabled = false\n[clock]\ndiscipline = \"virtual\"\n[logging]\nstatistics_dir = \"{}\"\nstatistics = [\"measurements\", \"statistics\", \"tracking\"]\n[[sources.servers]]\naddress = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = 0\n",
            logdir.display(),
            upstream.addr
        ),
    );
    let chrony = ChronydClient::start(ChronydClientOpts::new(ip, upstream.addr.port())).unwrap();
    let names = ["measurements.log", "statistics.log", "tracking.log"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let enough = |d: &Path| names.iter().all(|n| data_lines(&read(&d.join(n))).len() >= 3);
        if enough(&logdir) && enough(&chrony.dir().join("log")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "too few log lines after 60 s\n--- ours ---\n{}\n--- chronyd ---\n{}",
            ours.daemon.log(),
            chrony.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for name in names {
        let (mine, theirs) = (read(&logdir.join(name)), read(&chrony.dir().join("log").join(name)));
        assert_eq!(banner(&mine), banner(&theirs), "{name}: banner");
        // chronyd's first tracking line may be its unsynchronised start
        // (0.0.0.0, stratum 0); every line of ours must match one of its lines.
        let theirs_lines = data_lines(&theirs);
        for line in data_lines(&mine) {
            // Fixed-width fields line up with chrony's too (same format strings).
            assert!(
                theirs_lines.iter().any(|t| shapes(t) == shapes(line) && t.len() == line.len()),
                "{name}: no chronyd line has the columns and widths of\n{line:?}:\n{theirs}"
            );
        }
        eprintln!(
            "{name}: {} lines, e.g.\n  ours:    {}\n  chronyd: {}",
            data_lines(&mine).len(),
            data_lines(&mine)[0],
            data_lines(&theirs)[0]
        );
    }

    // chrony's measurements parser reads ours, and the values are those of
    // this upstream on this host: offsets (against the virtual clock, which
    // follows the upstream) and delays of loopback.
    let ours_m = parse_measurements_log(&read(&logdir.join("measurements.log")));
    assert!(ours_m.len() >= 3);
    let theirs_m = chrony.measurements();
    for m in &ours_m {
        assert_eq!(m.ip, "127.0.0.1");
        assert_eq!(m.stratum, 1);
        assert!(m.all_tests_passed(), "{m:?}");
        assert_eq!(m.refid, theirs_m[0].refid, "the upstream's reference id, as chronyd reads it");
        assert_eq!(m.mode_txrx, "4B D K");
        assert!(m.offset_s.abs() < 0.05 && (0.0..0.5).contains(&m.peer_delay_s), "{m:?}");
    }
    let tracking = read(&logdir.join("tracking.log"));
    for line in data_lines(&tracking) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((cols[2], cols[3], cols[7]), ("127.0.0.1", "2", "N"), "{line}");
    }
}
