//! Interleaved mode (RFC 9769, chrony's `xleave`) with a real chronyd as the
//! client: against simple-ntpd its `measurements.log` shows interleaved
//! samples (`I` in the mode column) with kernel timestamps on both sides, and
//! the server counts them; with `ntp_server.interleaved = false` the same
//! client stays in basic mode. The other way round, simple-ntpd with
//! `xleave = true` polling a real chronyd server logs interleaved samples
//! in its own chrony-format `measurements.log`. The table itself (bounded memory, eviction, a
//! spoofed origin) is unit-tested in `ntp_proto::server::interleave`.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ntp_test_support::{
    chronyd_path, parse_measurements_log, peer_or_skip, ChronyMeasurement, ChronydClient, ChronydClientOpts,
    ChronydServer, ChronydServerOpts, TempDir,
};

/// A chronyd polling `addr` four times a second in interleaved mode.
fn xleave_client(addr: SocketAddr) -> ChronydClient {
    let mut opts = ChronydClientOpts::new(addr.ip(), addr.port());
    opts.server_opts = "iburst minpoll -2 maxpoll -2 xleave".into();
    ChronydClient::start(opts).unwrap()
}

fn is_interleaved(m: &ChronyMeasurement) -> bool {
    m.mode_txrx.split_whitespace().next().is_some_and(|mode| mode.ends_with('I'))
}

/// The client's measurements once `n` interleaved ones are logged (or all
/// of them after `timeout`).
fn measurements_until_interleaved(client: &mut ChronydClient, n: usize, timeout: Duration) -> Vec<ChronyMeasurement> {
    let deadline = Instant::now() + timeout;
    loop {
        let all = client.measurements();
        if all.iter().filter(|m| is_interleaved(m)).count() >= n || Instant::now() >= deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
        .unwrap_or_else(|| panic!("{name} not in\n{metrics}")) as u64
}

#[test]
fn chronyd_with_xleave_gets_interleaved_replies() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let (run, api) = common::start_with_api(2, "");
    let mut client = xleave_client(run.addr);
    let all = measurements_until_interleaved(&mut client, 5, Duration::from_secs(40));
    let interleaved: Vec<_> = all.iter().filter(|m| is_interleaved(m)).collect();
    assert!(
        interleaved.len() >= 5,
        "no interleaved measurements: {:?}\n--- daemon ---\n{}",
        all.iter().map(|m| &m.mode_txrx).collect::<Vec<_>>(),
        run.daemon.log()
    );
    for (i, m) in interleaved.iter().enumerate() {
        // Kernel timestamps on both sides: `4I K K`.
        assert_eq!(m.mode_txrx.split_whitespace().collect::<Vec<_>>(), ["4I", "K", "K"], "{m:?}");
        // chronyd fails test A on its first interleaved sample after the
        // iburst against a chronyd server too; every later one passes all.
        if i > 0 {
            assert!(m.all_tests_passed(), "{m:?}");
        }
        assert!(m.offset_s.abs() < 1e-3 && m.peer_delay_s < 1e-2, "{m:?}");
    }
    let (status, metrics) = common::http_get(api, "/metrics", None);
    assert_eq!(status, 200);
    assert!(counter(&metrics, "ntp_server_interleaved_replies_total") >= interleaved.len() as u64, "{metrics}");
}

#[test]
fn without_interleaved_mode_the_same_client_stays_basic() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    // Right after `[ntp_server]` in the test config.
    let run = common::start(ip, 0, 2, "interleaved = false\n");
    let mut client = xleave_client(run.addr);
    let all = client.wait_for_measurements(8, Duration::from_secs(40)).unwrap();
    assert!(all.len() >= 8);
    assert!(all.iter().all(|m| !is_interleaved(m)), "{:?}", all.iter().map(|m| &m.mode_txrx).collect::<Vec<_>>());
    // The packet tests (first two groups) judge the reply; the last group
    // also judges the delay, which a loaded machine may spike once.
    assert!(all.iter().all(|m| m.tests.starts_with("111 111")), "basic replies are good replies: {all:?}");
    assert!(all.iter().filter(|m| m.all_tests_passed()).count() * 4 >= all.len() * 3, "{all:?}");
}

#[test]
fn simple_ntpd_with_xleave_gets_interleaved_samples_from_chronyd() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let upstream = ChronydServer::start(ChronydServerOpts::default()).unwrap();
    let dir = TempDir::new("xleave-client").unwrap();
    common::readable_like_etc(dir.path());
    let logdir = dir.join("stats");
    let ours = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        &format!(
            "[monitoring]\nenabled = false\n[clock]\ndiscipline = \"virtual\"\n[logging]\nstatistics_dir = \"{}\"\nstatistics = [\"measurements\"]\n[[sources.servers]]\naddress = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = 0\nxleave = true\n",
            logdir.display(),
            upstream.addr()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let measurements = loop {
        let m = parse_measurements_log(&std::fs::read_to_string(logdir.join("measurements.log")).unwrap_or_default());
        if m.iter().filter(|m| is_interleaved(m)).count() >= 3 || Instant::now() >= deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let interleaved: Vec<_> = measurements.iter().filter(|m| is_interleaved(m)).collect();
    assert!(
        interleaved.len() >= 3,
        "no interleaved samples from chronyd: {:?}\n--- ours ---\n{}",
        measurements.iter().map(|m| &m.mode_txrx).collect::<Vec<_>>(),
        ours.daemon.log()
    );
    // Packet tests on every one; the delay and loop tests of the last group
    // may fail once (the first after the basic burst, a loaded machine).
    let full = interleaved.iter().filter(|m| m.all_tests_passed()).count();
    assert!(full + 1 >= interleaved.len(), "{interleaved:?}");
    for m in interleaved {
        assert!(m.tests.starts_with("111 111"), "{m:?}");
        assert!(m.peer_delay_s < 1e-2 && m.offset_s.abs() < 1e-2, "{m:?}");
    }
}
