//! `simple-ntpd query` against a real chronyd, against nothing, and against
//! an unsynchronised server; exit codes are the health-check contract.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, Instant};

use ntp_test_support::{chronyd_path, free_udp_port, peer_or_skip, ChronydServer, ChronydServerOpts};

#[test]
fn query_reports_chronyds_stratum() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let ip = "127.0.0.1".parse().unwrap();
    let server = ChronydServer::start(ChronydServerOpts {
        bind_ip: ip,
        port: free_udp_port(ip),
        local_stratum: 7,
        extra_config_lines: vec![],
    })
    .unwrap();
    let out = common::cli(&["query", "--json", &server.addr().to_string()]);
    assert!(out.success(), "{}\n{}", out.describe(), server.log());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["stratum"], 7);
    common::assert_same_clock_offset(v["offset"].as_f64().unwrap(), v["delay"].as_f64().unwrap(), "query vs chronyd");
    // Text output names the stratum too.
    let out = common::cli(&["query", &server.addr().to_string()]);
    assert!(out.success());
    assert!(out.stdout.contains("stratum 7"), "{}", out.stdout);
}

#[test]
fn query_against_silence_fails_within_its_timeout() {
    let port = free_udp_port("127.0.0.1".parse().unwrap());
    let started = Instant::now();
    let out = common::cli(&["query", "--timeout", "0.5", "--json", &format!("127.0.0.1:{port}")]);
    let took = started.elapsed();
    assert!(!out.success());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(out.stderr.contains("no reply"), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["error"].is_string());
}

#[test]
fn query_rejects_an_unsynchronised_server() {
    // A source that never answers (a silent loopback port): served as leap 3, stratum 0.
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let dir = ntp_test_support::TempDir::new("unsync").unwrap();
    let file = dir
        .write(
            "c.toml",
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n[ntp_server]\nupstream_servers = [\"127.0.0.1:{}\"]\n[clock]\ndiscipline = \"virtual\"\n[monitoring]\nenabled = false\n",
                free_udp_port(ip)
            ),
        )
        .unwrap();
    let mut daemon =
        ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
    let r = daemon.wait_until_serving(std::net::SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!(r.li, 3);
    assert_eq!(r.stratum, 0);
    let out = common::cli(&["query", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1), "{}", out.describe());
    assert!(out.stderr.contains("not synchronised"), "{}", out.stderr);
    // --json: exactly one object, the report with the reason it failed.
    let out = common::cli(&["query", "--json", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1), "{}", out.describe());
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!((v["stratum"].as_u64(), v["leap"].as_u64()), (Some(0), Some(3)), "{v}");
    assert!(v["error"].as_str().unwrap().contains("not synchronised"), "{v}");
    assert!(daemon.log().contains("discipline=\"virtual\""), "{}", daemon.log());
}
