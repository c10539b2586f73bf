//! The daemon answers real NTP clients: ntpsec's ntpdig, chronyd -Q, Python
//! ntplib, an independent SNTP probe and our own `query`, over IPv4 and IPv6,
//! with one and several workers.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use ntp_test_support::{
    chronyd_path, chronyd_query, ntpdig_path, ntpdig_query, ntplib_python, ntplib_query, peer_or_skip, sntp_probe,
    spare_loopback_v4,
};

const SECOND: Duration = Duration::from_secs(1);

fn assert_good_reply(addr: std::net::SocketAddr, version: u8, stratum: u8) {
    let r = sntp_probe(addr, version, 2 * SECOND).unwrap();
    assert!(r.origin_matches, "origin not echoed bit-exact: {r:?}");
    assert_eq!(r.mode, 4);
    assert_eq!(r.version, version);
    assert_eq!(r.stratum, stratum);
    assert_eq!(r.li, 0);
    assert_eq!(r.refid, [127, 127, 1, 1], "local reference refid");
    assert!(r.receive_ts <= r.transmit_ts, "T2 {} > T3 {}", r.receive_ts, r.transmit_ts);
    assert!(r.t1 <= r.receive_time + 1e-6, "T2 {} before T1 {}", r.receive_time, r.t1);
    assert!(r.transmit_time <= r.t4 + 1e-6, "T3 {} after T4 {}", r.transmit_time, r.t4);
    common::assert_same_clock_offset(r.offset, r.delay, "sntp probe");
    assert!(r.precision < -10, "precision {}", r.precision);
}

/// The acceptance figure: |offset| < 1 ms on loopback, judged on the
/// minimum-delay probe of up to ten (NTP's clock filter does the same) so a
/// descheduled client on a busy machine does not decide it.
fn assert_offset_under_a_millisecond(addr: std::net::SocketAddr) {
    let b = common::min_delay_probe(addr, 10);
    assert!(b.offset.abs() < 1e-3, "offset {} s (delay {} s) on loopback", b.offset, b.delay);
}

#[test]
fn ipv4_clients_accept_the_reply() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 3, "");
    let addr = run.addr;
    assert_good_reply(addr, 4, 3);
    assert_good_reply(addr, 3, 3);
    assert_offset_under_a_millisecond(addr);

    // Our own client, as an operator would use it.
    let out = common::cli(&["query", "--json", &addr.to_string()]);
    assert!(out.success(), "{}", out.describe());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["stratum"], 3);
    assert_eq!(v["leap"], 0);
    assert_eq!(v["refid"], "127.127.1.1");
    common::assert_same_clock_offset(v["offset"].as_f64().unwrap(), v["delay"].as_f64().unwrap(), "query --json");

    if peer_or_skip("python3-ntplib", ntplib_python()).unwrap().is_some() {
        for version in [3, 4] {
            // ntplib timestamps in Python userspace: on a busy machine a
            // descheduled client skews one sample, so judge the
            // minimum-delay sample of three, as NTP's clock filter does.
            let r = (0..3)
                .map(|_| ntplib_query(addr.ip(), addr.port(), version, 2 * SECOND).unwrap())
                .min_by(|a, b| a.delay.total_cmp(&b.delay))
                .unwrap();
            assert_eq!(r.stratum, 3);
            assert_eq!(r.version, version);
            assert_eq!(r.leap, 0);
            common::assert_same_clock_offset(r.offset, r.delay, "ntplib");
        }
    }
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_some() {
        let r = chronyd_query(addr.ip(), addr.port(), "", Duration::from_secs(20)).unwrap();
        assert!(r.offset_s.abs() < 1e-3, "chronyd -Q offset {} s\n{}", r.offset_s, r.log);
    }
}

#[test]
fn ipv6_listen_flag_serves_clients() {
    let ip: IpAddr = "::1".parse().unwrap();
    let port = ntp_test_support::free_udp_port(ip);
    // --listen replaces the configured addresses.
    let dir = ntp_test_support::TempDir::new("v6").unwrap();
    let file = dir.write("c.toml", "[ntp_server]\nstratum = 4\n").unwrap();
    let listen = format!("[::1]:{port}");
    let mut daemon = ntp_test_support::DaemonProcess::spawn(
        common::bin(),
        ["run", "-c", file.to_str().unwrap(), "--listen", &listen],
    )
    .unwrap();
    let addr = std::net::SocketAddr::new(ip, port);
    daemon.wait_until_serving(addr, 10 * SECOND).unwrap();
    assert_good_reply(addr, 4, 4);
    assert_offset_under_a_millisecond(addr);
    let out = common::cli(&["query", "--json", &listen]);
    assert!(out.success(), "{}", out.describe());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!((v["stratum"].as_u64(), v["leap"].as_u64()), (Some(4), Some(0)), "{v}");
    common::assert_same_clock_offset(v["offset"].as_f64().unwrap(), v["delay"].as_f64().unwrap(), "query [::1]");
    if peer_or_skip("python3-ntplib", ntplib_python()).unwrap().is_some() {
        let r = ntplib_query(ip, port, 4, 2 * SECOND).unwrap();
        assert_eq!(r.stratum, 4);
    }
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_some() {
        let r = chronyd_query(ip, port, "", Duration::from_secs(20)).unwrap();
        assert!(r.offset_s.abs() < 1e-3, "chronyd -Q offset {} s\n{}", r.offset_s, r.log);
    }
}

#[test]
fn ntpdig_on_port_123_of_a_spare_loopback_address() {
    if peer_or_skip("ntpdig", ntpdig_path()).unwrap().is_none() {
        return;
    }
    let ip = IpAddr::V4(spare_loopback_v4());
    let run = common::start(ip, 123, 3, "");
    let r = ntpdig_query(ip, 3).unwrap_or_else(|e| panic!("{e}\n{}", run.daemon.log()));
    assert_eq!(r.stratum, 3, "{r:?}");
    let delay = r.delay.unwrap_or_else(|| panic!("ntpdig printed no delay: {}", r.stdout));
    common::assert_same_clock_offset(r.offset, delay, "ntpdig");
    assert_eq!(r.leap_indicator, 0);
}

#[test]
fn several_workers_answer_every_request() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 5, "[performance]\nworker_threads = 3\n");
    for _ in 0..50 {
        let r = sntp_probe(run.addr, 4, 2 * SECOND).unwrap();
        assert!(r.origin_matches);
        assert_eq!(r.stratum, 5);
    }
}

#[test]
fn wildcard_listen_replies_from_the_arrival_address() {
    // Bound to 0.0.0.0, asked on 127.0.0.x: the reply must come from 127.0.0.x
    // (the probe uses a connected socket, so a reply from another address
    // would never reach it).
    let port = ntp_test_support::free_udp_port("0.0.0.0".parse().unwrap());
    let _run = common::start("0.0.0.0".parse().unwrap(), port, 6, "");
    for ip in [spare_loopback_v4(), spare_loopback_v4()] {
        let r = sntp_probe(std::net::SocketAddr::new(IpAddr::V4(ip), port), 4, 2 * SECOND).unwrap();
        assert_eq!(r.stratum, 6);
        assert!(r.origin_matches);
    }
}

#[test]
fn per_reply_sends_and_pinning_still_serve_correct_replies() {
    // batch_send is the default (and every other test uses it); this is the
    // path that stamps and sends each reply on its own.
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        4,
        "[performance]\nworker_threads = 2\nbatch_send = false\nrecv_batch = 8\ncpu_affinity = [0]\n",
    );
    for _ in 0..20 {
        assert_good_reply(run.addr, 4, 4);
    }
    if peer_or_skip("python3-ntplib", ntplib_python()).unwrap().is_some() {
        let r = ntplib_query(run.addr.ip(), run.addr.port(), 4, 2 * SECOND).unwrap();
        assert_eq!(r.stratum, 4);
    }
}

#[test]
fn a_local_reference_never_answers_unsynchronised_at_start() {
    // The very first replies, asked for every millisecond from the moment
    // the daemon is spawned, already carry the configured stratum: the state
    // is published before the workers start.
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    for _ in 0..3 {
        let port = ntp_test_support::free_udp_port(ip);
        let dir = ntp_test_support::TempDir::new("first-reply").unwrap();
        let file = dir
            .write(
                "c.toml",
                &format!(
                    "[network]\nlisten_address = \"{ip}\"\nlisten_port = {port}\n[ntp_server]\nstratum = 5\n[monitoring]\nenabled = false\n"
                ),
            )
            .unwrap();
        let sock = std::net::UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let _d = ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
        let deadline = std::time::Instant::now() + 10 * SECOND;
        let mut replies = Vec::new();
        let mut buf = [0u8; 128];
        while replies.len() < 20 && std::time::Instant::now() < deadline {
            let _ = sock.send_to(&ntp_test_support::build_request(4, 1), (ip, port));
            if let Ok(n) = sock.recv(&mut buf) {
                replies.push(ntp_test_support::decode_packet(&buf[..n]).unwrap());
            }
        }
        assert!(!replies.is_empty(), "no reply within 10 s");
        for r in &replies {
            assert_eq!((r.li, r.stratum), (0, 5), "an early reply: {r:?}");
        }
    }
}
