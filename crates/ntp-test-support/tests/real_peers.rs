//! The harness against real chronyd, ntpdig and ntplib. Each test skips (prints
//! `SKIP:`) when a peer is missing, and fails instead when NTPD_TEST_REQUIRE_PEERS=1.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use ntp_test_support::*;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn need_chronyd() -> Result<bool, String> {
    Ok(peer_or_skip("chronyd", chronyd_path())?.is_some())
}

#[test]
fn chronyd_server_is_seen_by_probe_ntplib_and_chronyd_q() -> Result<(), String> {
    if !need_chronyd()? {
        return Ok(());
    }
    let server = ChronydServer::start(ChronydServerOpts::default())?;
    let addr = server.addr();

    let r = sntp_probe(addr, 4, Duration::from_secs(2))?;
    assert_eq!(r.stratum, 5, "{r:?}");
    assert_eq!((r.li, r.version, r.mode), (0, 4, 4), "{r:?}");
    assert!(r.origin_matches, "chronyd must echo our transmit timestamp: {r:?}");
    assert_eq!(r.raw.len(), 48);
    assert!(r.offset.abs() < 0.01 && r.delay >= 0.0 && r.delay < 0.1, "{r:?}");
    assert_eq!(r.refid_string(), "127.127.1.1", "chronyd's local reference id");

    // Older versions are answered with the request's version.
    let r3 = sntp_probe(addr, 3, Duration::from_secs(2))?;
    assert_eq!(r3.version, 3);

    if peer_or_skip("python3-ntplib", ntplib_python())?.is_some() {
        let n = ntplib_query(addr.ip(), addr.port(), 4, Duration::from_secs(2))?;
        assert_eq!((n.stratum, n.leap, n.mode, n.version), (5, 0, 4, 4), "{n:?}");
        assert!(n.offset.abs() < 0.01, "{n:?}");
        assert_eq!(n.ref_id, 0x7F7F_0101);
    }

    let q = chronyd_query(addr.ip(), addr.port(), "maxsamples 1", Duration::from_secs(10))?;
    assert!(q.offset_s.abs() < 0.01, "{q:?}");
    // Default: 4 iburst samples.
    let q4 = chronyd_query(addr.ip(), addr.port(), "", Duration::from_secs(15))?;
    assert!(q4.offset_s.abs() < 0.01, "{q4:?}");
    Ok(())
}

#[test]
fn ntpdig_queries_chronyd_on_spare_loopback_port_123() -> Result<(), String> {
    if !need_chronyd()? || peer_or_skip("ntpdig", ntpdig_path())?.is_none() {
        return Ok(());
    }
    let ip = IpAddr::V4(spare_loopback_v4());
    let server = ChronydServer::start(ChronydServerOpts { bind_ip: ip, port: 123, ..ChronydServerOpts::default() })?;
    let rep = ntpdig_query(ip, 2).map_err(|e| format!("{e}\n{}", server.log()))?;
    assert_eq!(rep.stratum, 5, "{rep:?}");
    assert_eq!((rep.leap.as_str(), rep.leap_indicator), ("no-leap", 0));
    assert!(rep.offset.abs() < 0.01, "{rep:?}");
    let d = rep.delay.ok_or("ntpdig -d gave no delay")?;
    assert!((0.0..0.1).contains(&d), "{rep:?}");
    assert_eq!(rep.ip, ip.to_string());
    Ok(())
}

#[test]
fn unsynchronised_server_is_rejected_by_peers_with_clear_errors() -> Result<(), String> {
    if !need_chronyd()? || peer_or_skip("ntpdig", ntpdig_path())?.is_none() {
        return Ok(());
    }
    let ip = IpAddr::V4(spare_loopback_v4());
    let server = ChronydServer::start(ChronydServerOpts {
        bind_ip: ip,
        port: 123,
        local_stratum: 0,
        ..ChronydServerOpts::default()
    })?;
    let r = sntp_probe(server.addr(), 4, Duration::from_secs(2))?;
    assert_eq!(r.li, 3, "no local reference: leap = unsynchronised: {r:?}");
    let err = ntpdig_query(ip, 1).unwrap_err();
    assert!(err.contains("no eligible servers"), "{err}");
    let t = Instant::now();
    let err = chronyd_query(ip, 123, "maxsamples 1", Duration::from_secs(3)).unwrap_err();
    assert!(err.contains("gave no offset"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(9), "bounded: {:?}", t.elapsed());
    Ok(())
}

#[test]
fn silent_port_fails_fast_and_bounded() -> Result<(), String> {
    // A bound socket that never answers.
    let quiet = std::net::UdpSocket::bind((LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let addr = quiet.local_addr().map_err(|e| e.to_string())?;
    let t = Instant::now();
    assert!(sntp_probe(addr, 4, Duration::from_millis(300)).is_err());
    assert!(send_raw(addr, &build_request(4, 1), Duration::from_millis(300)).is_none());
    assert!(send_raw_collect(addr, &build_request(4, 1), Duration::from_millis(300)).is_empty());
    assert!(t.elapsed() < Duration::from_secs(3));
    if need_chronyd()? {
        let t = Instant::now();
        let err = chronyd_query(LOCALHOST, addr.port(), "", Duration::from_secs(2)).unwrap_err();
        assert!(err.contains("Timeout reached") || err.contains("No suitable"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    }
    if ntplib_python().is_some() {
        let err = ntplib_query(LOCALHOST, addr.port(), 4, Duration::from_millis(500)).unwrap_err();
        assert!(err.contains("No response"), "{err}");
    }
    Ok(())
}

#[test]
fn chronyd_client_syncs_to_chronyd_server_with_symmetric_key() -> Result<(), String> {
    if !need_chronyd()? || peer_or_skip("chronyc", chronyc_path())?.is_none() {
        return Ok(());
    }
    let keys = TempDir::new("keys")?;
    let keyfile =
        keys.write("chrony.keys", "1 SHA256 HEX:3F1F6C04D0B16C3AE2B7A1F5E4D3C2B1A09F8E7D6C5B4A39281706F5E4D3C2B1\n")?;
    let server = ChronydServer::start(ChronydServerOpts {
        extra_config_lines: vec![format!("keyfile {}", keyfile.display())],
        ..ChronydServerOpts::default()
    })?;
    let mut opts = ChronydClientOpts::new(server.ip(), server.port());
    opts.server_opts.push_str(" key 1");
    opts.extra_config_lines.push(format!("keyfile {}", keyfile.display()));
    let mut client = ChronydClient::start(opts)?;
    let t = client.wait_for_sync(Duration::from_secs(20))?;
    assert_eq!(t.stratum, 6, "{t:?}");
    assert!(t.system_time_s.abs() < 0.01, "{t:?}");
    let sources = client.sources()?;
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].stratum, 5);
    let nd = client.ntpdata()?;
    assert_eq!(nd.get("Authenticated").map(String::as_str), Some("Yes"), "{nd:?}");
    assert_eq!(nd.get("Mode").map(String::as_str), Some("Server"), "{nd:?}");
    let m = client.wait_for_measurements(2, Duration::from_secs(10))?;
    assert!(m.iter().all(|x| x.all_tests_passed() && x.stratum == 5), "{m:?}");
    // The server's chronyc works over its private socket too.
    let stats = parse_key_values(&server.chronyc(&["serverstats"])?);
    let received: u64 = stats
        .get("NTP packets received")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("serverstats: {stats:?}"))?;
    assert!(received >= 2, "{stats:?}");
    Ok(())
}

#[test]
fn chronyd_server_on_ipv6_loopback() -> Result<(), String> {
    if !need_chronyd()? {
        return Ok(());
    }
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    if std::net::UdpSocket::bind(SocketAddr::new(lo6, 0)).is_err() {
        println!("SKIP: no IPv6 loopback on this machine");
        return Ok(());
    }
    let server = ChronydServer::start(ChronydServerOpts { bind_ip: lo6, ..ChronydServerOpts::default() })?;
    let r = sntp_probe(server.addr(), 4, Duration::from_secs(2))?;
    assert_eq!(r.stratum, 5);
    let q = chronyd_query(lo6, server.port(), "maxsamples 1", Duration::from_secs(10))?;
    assert!(q.offset_s.abs() < 0.01, "{q:?}");
    Ok(())
}

#[test]
fn daemon_process_is_killed_on_drop() -> Result<(), String> {
    let pid;
    {
        let mut d = DaemonProcess::spawn("sleep", ["30"])?;
        pid = d.pid();
        assert!(d.is_running());
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    // Reaped: no zombie left either.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().contains("sleep")
    );
    Ok(())
}
