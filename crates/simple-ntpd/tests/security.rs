//! Access control, rate limiting, symmetric-key authentication (with a real
//! chronyd on both sides) and the privilege drop.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use ntp_test_support::{
    build_request, chronyd_path, free_udp_port, peer_or_skip, spare_loopback_v4, ChronydClient, ChronydClientOpts,
    ChronydServer, ChronydServerOpts, TempDir,
};

fn write_keys(dir: &TempDir, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.write("keys", text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

#[test]
fn access_rules_most_specific_network_decides() {
    let run = common::start(
        "0.0.0.0".parse().unwrap(),
        0,
        3,
        "[[security.access]]\nnetwork = \"127.0.0.0/8\"\npermission = \"allow\"\n[[security.access]]\nnetwork = \"127.0.5.0/24\"\npermission = \"deny\"\n",
    );
    let port = run.addr.port();
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        common::probe_from("127.0.5.9".parse().unwrap(), server, 1, Duration::from_millis(400)).is_none(),
        "denied client answered"
    );
    let ok =
        common::probe_from("127.0.6.1".parse().unwrap(), server, 2, Duration::from_secs(2)).expect("allowed client");
    assert_eq!(ok[1], 3, "stratum");
}

#[test]
fn denied_clients_can_get_a_deny_kiss_of_death() {
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        "[security]\ndeny_kod = true\n[[security.access]]\nnetwork = \"127.0.0.1\"\npermission = \"deny\"\n",
    );
    let kod = common::probe_from("127.0.0.1".parse().unwrap(), run.addr, 3, Duration::from_secs(2)).expect("a KoD");
    assert_eq!(kod.len(), 48);
    assert_eq!(kod[1], 0, "stratum 0");
    assert_eq!(&kod[12..16], b"DENY");
}

#[test]
fn rate_limit_lets_a_burst_and_a_leak_through() {
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        "[security.ratelimit]\nenabled = true\ninterval = 3\nburst = 8\n",
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    // The start-up readiness probes came from other addresses/ports; this client is new.
    for i in 0..100u64 {
        sock.send_to(&build_request(4, 1000 + i), run.addr).unwrap();
    }
    let mut buf = [0u8; 128];
    let mut normal = 0;
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        if len >= 48 && buf[1] != 0 {
            normal += 1;
        }
    }
    assert!((8..=50).contains(&normal), "{normal} of 100 rapid requests got normal replies");
    eprintln!("rate limit: {normal} of 100 rapid requests answered (burst 8, leak 1 in 4)");
}

#[test]
fn rate_limit_can_send_rate_kod() {
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        "[security.ratelimit]\nenabled = true\ninterval = 6\nburst = 1\nleak = 4\nkod = true\n",
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    for i in 0..5u64 {
        sock.send_to(&build_request(4, 50 + i), run.addr).unwrap();
    }
    let mut buf = [0u8; 128];
    let mut rate = 0;
    while let Ok((len, _)) = sock.recv_from(&mut buf) {
        assert!(len <= 48, "a KoD is never larger than the request");
        if buf[1] == 0 && &buf[12..16] == b"RATE" {
            rate += 1;
        }
    }
    assert!(rate >= 3, "expected RATE kiss-o'-death replies, got {rate}");
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

#[test]
fn a_flood_from_many_addresses_stays_in_fixed_memory_and_starves_nobody() {
    let run = common::start(
        "0.0.0.0".parse().unwrap(),
        0,
        3,
        "[security.ratelimit]\nenabled = true\ninterval = 0\nburst = 8\n[performance]\nworker_threads = 2\n",
    );
    let server = SocketAddr::from(([127, 0, 0, 1], run.addr.port()));
    let before = rss_kib(run.daemon.pid());
    let flood = std::thread::spawn(move || {
        let mut sent = 0u32;
        let deadline = Instant::now() + Duration::from_secs(20);
        for round in 0..3u32 {
            for i in 0..10_000u32 {
                let src = IpAddr::V4(std::net::Ipv4Addr::from(0x7f40_0000 + i + 1));
                let s = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
                s.send_to(&build_request(4, u64::from(round * 10_000 + i)), server).unwrap();
                sent += 1;
                if Instant::now() > deadline {
                    return sent;
                }
            }
        }
        sent
    });
    let me: IpAddr = "127.0.99.1".parse().unwrap();
    let mut answered = 0;
    let mut asked = 0;
    while !flood.is_finished() || asked < 3 {
        asked += 1;
        if common::probe_from(me, server, 9_000_000 + asked, Duration::from_secs(1)).is_some() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    let sent = flood.join().unwrap();
    let after = rss_kib(run.daemon.pid());
    eprintln!("flood: {sent} requests from 10000 addresses; RSS {before} KiB -> {after} KiB; steady client {answered}/{asked}");
    assert!(sent >= 10_000);
    assert_eq!(answered, asked, "the steady 1 request/s client was not answered every time");
    assert!(after.saturating_sub(before) < 64 * 1024, "RSS grew by {} KiB", after - before);
}

fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with(field)).map(|l| l[field.len()..].trim().to_owned()).unwrap()
}

const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_SYS_TIME: u64 = 1 << 25;

#[test]
fn root_daemon_drops_to_an_unprivileged_user_after_binding() {
    if !nix_is_root() {
        eprintln!("SKIP: not root");
        return;
    }
    let ip = IpAddr::V4(spare_loopback_v4());
    let mut run = common::start(ip, 123, 3, "");
    // Workers serve as soon as they are bound, a moment before the drop.
    run.daemon.wait_for_log("dropped root privileges", Duration::from_secs(10)).unwrap();
    let pid = run.daemon.pid();
    let uids: Vec<u32> = status_field(pid, "Uid:").split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(uids.iter().all(|u| *u != 0), "still root: Uid {uids:?}\n{}", run.daemon.log());
    let cap_eff = u64::from_str_radix(&status_field(pid, "CapEff:"), 16).unwrap();
    assert_eq!(cap_eff & !(CAP_NET_BIND_SERVICE | CAP_SYS_TIME), 0, "CapEff {cap_eff:x}");
    // Every thread, workers included.
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(!uid.split_whitespace().skip(1).any(|u| u == "0"), "a thread is still root: {uid}");
        let eff = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
        let eff = u64::from_str_radix(eff.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(eff & !(CAP_NET_BIND_SERVICE | CAP_SYS_TIME), 0);
    }
    assert!(run.daemon.log().contains("dropped root privileges"), "{}", run.daemon.log());
    // Still serving port 123 after the drop.
    assert_eq!(ntp_test_support::sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap().stratum, 3);
}

fn nix_is_root() -> bool {
    status_field(std::process::id(), "Uid:").split_whitespace().nth(1) == Some("0")
}

#[test]
fn runs_as_a_non_root_user_with_only_net_bind_service() {
    if !nix_is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIP: needs root and setpriv");
        return;
    }
    let ip = IpAddr::V4(spare_loopback_v4());
    let listen = format!("{ip}:123");
    let mut d = ntp_test_support::DaemonProcess::spawn(
        "/usr/bin/setpriv",
        [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+net_bind_service",
            "--ambient-caps=+net_bind_service",
            "--",
            common::bin().to_str().unwrap(),
            "run",
            "--listen",
            &listen,
            "--stratum",
            "4",
        ],
    )
    .unwrap();
    let r = d.wait_until_serving(SocketAddr::new(ip, 123), Duration::from_secs(10)).unwrap();
    assert_eq!(r.stratum, 4);
    // Logged once serving has started: wait for it rather than race it.
    d.wait_for_log("not started as root", Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
}

#[test]
fn chronyd_client_authenticates_with_sha256_and_aes_cmac_keys() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = TempDir::new("auth").unwrap();
    let keys = write_keys(
        &dir,
        "1 SHA256 HEX:6A3F9C2E8B1D4F7A0C5E9B3D7F1A4C8E2B6D0F3A7C1E5B9D\n2 AES128 HEX:00112233445566778899AABBCCDDEEFF\n",
    );
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        &format!("[security.authentication]\nenabled = true\nkey_file = \"{}\"\n", keys.display()),
    );
    for key in [1, 2] {
        let mut opts = ChronydClientOpts::new(run.addr.ip(), run.addr.port());
        opts.server_opts = format!("iburst minpoll 0 maxpoll 0 key {key}");
        opts.extra_config_lines = vec![format!("keyfile {}", keys.display())];
        let mut client = ChronydClient::start(opts).unwrap();
        client
            .wait_for_measurements(2, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("key {key}: {e}\n{}", run.daemon.log()));
        let data = client.ntpdata().unwrap();
        assert_eq!(data.get("Authenticated").map(String::as_str), Some("Yes"), "key {key}: {data:?}");
    }
    // A different secret under the same id gets nothing chronyd accepts.
    let wrong = dir.write("wrong-keys", "1 SHA256 HEX:00000000000000000000000000000000000000000000000000\n").unwrap();
    let mut opts = ChronydClientOpts::new(run.addr.ip(), run.addr.port());
    opts.server_opts = "iburst minpoll 0 maxpoll 0 key 1".into();
    opts.extra_config_lines = vec![format!("keyfile {}", wrong.display())];
    let mut client = ChronydClient::start(opts).unwrap();
    assert!(client.wait_for_measurements(1, Duration::from_secs(6)).is_err(), "wrong key accepted");
    // Our own client too, and unauthenticated requests still get plain time.
    let out =
        common::cli(&["query", "--key-file", keys.to_str().unwrap(), "--key-id", "2", "--json", &run.addr.to_string()]);
    assert!(out.success(), "{}", out.describe());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["authenticated"], true);
    assert!(ntp_test_support::sntp_probe(run.addr, 4, Duration::from_secs(2)).is_ok());
}

#[test]
fn require_for_networks_drops_unauthenticated_requests() {
    let dir = TempDir::new("auth-req").unwrap();
    let keys = write_keys(&dir, "5 AES128 HEX:00112233445566778899AABBCCDDEEFF\n");
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let cfg = dir
        .write(
            "c.toml",
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n[monitoring]\nenabled = false\n[security.authentication]\nenabled = true\nkey_file = \"{}\"\nrequire_for = [\"127.0.0.0/8\"]\n",
                keys.display()
            ),
        )
        .unwrap();
    let mut d = ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", cfg.to_str().unwrap()]).unwrap();
    d.wait_for_log("serving NTP", Duration::from_secs(10)).unwrap();
    let addr = SocketAddr::new(ip, port);
    assert!(
        ntp_test_support::sntp_probe(addr, 4, Duration::from_millis(400)).is_err(),
        "unauthenticated request answered"
    );
    let out = common::cli(&["query", "--key-file", keys.to_str().unwrap(), "--key-id", "5", &addr.to_string()]);
    assert!(out.success(), "{}\n{}", out.describe(), d.log());
    assert!(out.stdout.contains("authenticated: yes"), "{}", out.stdout);
}

#[test]
fn simple_ntpd_authenticates_to_chronyd_as_a_client() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = TempDir::new("auth-client").unwrap();
    let keys = write_keys(&dir, "9 AES256 HEX:000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n");
    let ip = "127.0.0.1".parse().unwrap();
    let server = ChronydServer::start(ChronydServerOpts {
        bind_ip: ip,
        port: free_udp_port(ip),
        local_stratum: 6,
        extra_config_lines: vec![format!("keyfile {}", keys.display())],
    })
    .unwrap();
    let out = common::cli(&[
        "query",
        "--json",
        "--key-file",
        keys.to_str().unwrap(),
        "--key-id",
        "9",
        &server.addr().to_string(),
    ]);
    assert!(out.success(), "{}\n{}", out.describe(), server.log());
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["authenticated"], true);
    assert_eq!(v["stratum"], 6);
}

#[test]
fn keygen_output_is_a_usable_key_file() {
    let out = common::cli(&["keygen", "--type", "SHA256", "--id", "10", "--count", "3"]);
    assert!(out.success(), "{}", out.describe());
    let keys = ntp_proto::auth::parse_keyfile(&out.stdout).unwrap();
    assert_eq!(keys.iter().map(|k| k.id()).collect::<Vec<_>>(), vec![10, 11, 12]);
    let out = common::cli(&["keygen", "--type", "ROT13"]);
    assert!(!out.success());
}

/// Every refused request is counted under its reason, in the API and in
/// `/metrics`, so an operator can tell an ACL from a rate limit from a bad key.
#[test]
fn refused_requests_are_counted_by_reason() {
    let dir = TempDir::new("drop-reasons").unwrap();
    let keys = write_keys(&dir, "5 AES128 HEX:00112233445566778899AABBCCDDEEFF\n");
    let (run, api) = common::start_with_api(
        3,
        &format!(
            "[[security.access]]\nnetwork = \"127.0.0.0/8\"\npermission = \"allow\"\n\
             [[security.access]]\nnetwork = \"127.0.5.0/24\"\npermission = \"deny\"\n\
             [security.ratelimit]\nenabled = true\ninterval = 3\nburst = 4\n\
             [security.authentication]\nenabled = true\nkey_file = \"{}\"\n",
            keys.display()
        ),
    );
    for n in 0..3 {
        assert!(common::probe_from("127.0.5.9".parse().unwrap(), run.addr, n, Duration::from_millis(200)).is_none());
    }
    let flood = UdpSocket::bind("127.0.8.1:0").unwrap();
    for i in 0..50u64 {
        flood.send_to(&build_request(4, 100 + i), run.addr).unwrap();
    }
    // A MAC for key 5 whose digest is wrong: never answered.
    let mut forged = build_request(4, 999).to_vec();
    forged.extend(5u32.to_be_bytes());
    forged.extend([0xAB; 16]);
    let sock = UdpSocket::bind("127.0.9.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    sock.send_to(&forged, run.addr).unwrap();
    assert!(sock.recv_from(&mut [0u8; 128]).is_err(), "a bad MAC was answered");

    std::thread::sleep(Duration::from_millis(200));
    let (_, body) = common::http_get(api, "/api/v1/serverstats", None);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    let dropped = |reason: &str| stats["dropped"][reason].as_u64().unwrap_or(0);
    assert_eq!(dropped("denied"), 3, "{stats}");
    assert!(dropped("rate_limited") >= 30, "{stats}");
    assert_eq!(dropped("authentication_failed"), 1, "{stats}");
    let (_, metrics) = common::http_get(api, "/metrics", None);
    assert!(metrics.contains("ntp_server_dropped_total{interface=\"lo\",reason=\"denied\"} 3"), "{metrics}");
    assert!(
        metrics.contains("ntp_server_dropped_total{interface=\"lo\",reason=\"authentication_failed\"} 1"),
        "{metrics}"
    );
}
