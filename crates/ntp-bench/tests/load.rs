//! End-to-end runs of the `ntp-bench` binary against the in-test responder on
//! 127.0.0.1: counts, answered %, matching across sources, and that lost,
//! duplicate and malformed replies are counted rather than fatal.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod responder;

use std::process::Command;

use responder::{Behaviour, Responder};
use serde_json::Value;

/// Runs ntp-bench with `args` against `r` and returns its JSON report.
fn bench(r: &Responder, args: &[&str]) -> Value {
    let server = r.addr.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ntp-bench"))
        .args(["--server", &server, "--warmup", "0.1", "--duration", "0.5", "--json"])
        .args(args)
        .output()
        .expect("run ntp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ntp-bench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

fn int(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn closed_loop_against_a_perfect_responder() {
    let r = Responder::start(Behaviour::Answer);
    let v = bench(&r, &["--in-flight", "8"]);
    let sent = int(&v, "sent");
    assert!(sent > 100, "{v}");
    assert_eq!(int(&v, "matched"), sent, "{v}");
    assert_eq!(v["answered_pct"].as_f64(), Some(100.0));
    for k in ["lost", "late", "duplicate", "unmatched", "malformed", "unsynchronised", "send_errors", "recv_errors"] {
        assert_eq!(int(&v, k), 0, "{k}: {v}");
    }
    assert!(v["reply_rate"].as_f64().unwrap() > 0.0);
    let rtt = v["rtt_us"]["p50"].as_f64().unwrap();
    assert!(rtt > 0.0 && rtt < 200_000.0, "{v}");
    // Same host clock at both ends: the responder's T3 precedes the client's
    // kernel RX time, and its T2 follows the send.
    assert!(v["tx_error_us"]["p50"].as_f64().unwrap() > -1.0, "{v}");
    assert!(v["rx_sanity_us"]["p50"].as_f64().unwrap() > -1.0, "{v}");
}

#[test]
fn dropping_every_other_request_shows_half_answered() {
    let r = Responder::start(Behaviour::DropEveryOther);
    let v = bench(&r, &["--rate", "4000", "--timeout-ms", "100"]);
    let pct = v["answered_pct"].as_f64().unwrap();
    // Every other request is dropped: about half answered (wide margins: the
    // test shares two cores with whatever else runs).
    assert!((40.0..=60.0).contains(&pct), "{v}");
    assert_eq!(int(&v, "lost"), int(&v, "sent") - int(&v, "matched"));
    // Open loop: requests keep leaving whatever is lost. A generator that
    // waited for each lost reply's 100 ms timeout would send about 10 in the
    // 0.5 s window; 4000/s would be 2000. 200 separates the two even when
    // the machine is loaded enough to starve the generator for a while.
    assert!(int(&v, "sent") >= 200, "open loop keeps sending: {v}");
}

#[test]
fn many_sources_are_distinct_clients() {
    let r = Responder::start(Behaviour::Answer);
    let v = bench(&r, &["--in-flight", "16", "--sources", "4"]);
    assert_eq!(r.sources(), 4, "{v}");
    assert_eq!(int(&v, "matched"), int(&v, "sent"), "{v}");
}

#[test]
fn duplicates_and_garbage_are_counted() {
    let r = Responder::start(Behaviour::DuplicateAndGarbage);
    // A long timeout: on a loaded machine the responder thread can be
    // descheduled for longer than the default, and a reply counted lost
    // would make this test about scheduling instead of counting.
    let v = bench(&r, &["--rate", "2000", "--timeout-ms", "1000"]);
    let matched = int(&v, "matched");
    // Enough exchanges to compare counts (about 1000 on an idle machine;
    // a loaded one starves the generator, which changes nothing below).
    assert!(matched > 50, "{v}");
    assert_eq!(v["answered_pct"].as_f64(), Some(100.0), "{v}");
    // Every matched reply was followed by one duplicate and one garbage datagram
    // (± the few straddling the warm-up and window edges).
    for k in ["duplicate", "malformed"] {
        let n = int(&v, k);
        assert!(n + 10 >= matched && n <= matched + 10, "{k} {n} vs matched {matched}: {v}");
    }
}
