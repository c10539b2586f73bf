//! Per-VLAN (per-interface) policies through the real daemon, between
//! network namespaces: a router namespace with one veth interface per VLAN
//! (`vlan-10`, ...) and a client namespace behind each (see
//! `common::netns`). The daemon learns each request's arrival interface
//! from the kernel and applies that VLAN's `[[vlan_config]]` entry.
//!
//! Needs root and `ip`; skipped without them (a failure with
//! NTPD_TEST_REQUIRE_PEERS=1, as in CI).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::netns::{can_run, in_netns, ip, netns_command, vlan, Lan};
use ntp_test_support::{send_raw, sntp_probe, DaemonProcess, TempDir};

/// The router's NTP port and monitoring endpoint (inside its namespace).
const NTP_PORT: u16 = 123;
const API: &str = "127.0.0.1:9559";

/// Starts the daemon in the router namespace with `toml` after the
/// listening and monitoring settings; waits until `vlan-10`'s client gets
/// an answer.
fn start_router(lan: &Lan, dir: &TempDir, toml: &str) -> DaemonProcess {
    common::readable_like_etc(dir.path());
    let config = format!(
        "[network]\nlisten_address = [\"0.0.0.0\", \"::\"]\nlisten_port = {NTP_PORT}\n\
         [ntp_server]\nstratum = 3\n[monitoring]\nenabled = true\nlisten = \"{API}\"\n\
         [logging]\nlevel = \"info\"\n{toml}"
    );
    let file = dir.write("router.toml", &config).unwrap();
    let mut cmd = netns_command(&lan.router, common::bin());
    cmd.arg("run").arg("-c").arg(&file).env_remove("SIMPLE_NTPD_CONFIG");
    let mut daemon = DaemonProcess::spawn_command(cmd).unwrap();
    daemon.wait_for_log("serving NTP", Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    daemon
}

/// One plain request from `vlan`'s client namespace to the router.
fn ask(lan: &Lan, vlan: &str, v6: bool) -> Option<ntp_test_support::ProbeReply> {
    let v = lan.vlan(vlan).clone();
    let server =
        if v6 { SocketAddr::new(v.router_v6.into(), NTP_PORT) } else { SocketAddr::new(v.router_v4.into(), NTP_PORT) };
    in_netns(&v.client_ns, move || sntp_probe(server, 4, Duration::from_millis(700)).ok())
}

/// GET `path` from the router's monitoring endpoint.
fn api(lan: &Lan, path: &str) -> String {
    let path = path.to_owned();
    in_netns(&lan.router, move || {
        let (code, body) = common::http_get(API.parse().unwrap(), &path, None);
        assert_eq!(code, 200, "{path}: {body}");
        body
    })
}

fn json(lan: &Lan, path: &str) -> serde_json::Value {
    serde_json::from_str(&api(lan, path)).unwrap()
}

/// The `serverstats` row of interface `name`.
fn interface_row(stats: &serde_json::Value, name: &str) -> serde_json::Value {
    stats["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["interface"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no serverstats row for {name}: {stats:#}"))
}

fn is_rate_kiss(r: &ntp_test_support::ProbeReply) -> bool {
    r.stratum == 0 && &r.refid == b"RATE"
}

#[test]
fn each_vlan_is_served_under_its_own_policy_and_interfaces_are_followed() {
    if !can_run() {
        return;
    }
    let mut lan = Lan::create(
        "vlan",
        &[
            vlan(10, "192.0.2.1", "192.0.2.2", 25),
            vlan(20, "198.51.100.1", "198.51.100.2", 25),
            vlan(30, "203.0.113.1", "203.0.113.2", 24),
            vlan(40, "192.0.2.129", "192.0.2.130", 25),
        ],
    );
    let dir = TempDir::new("vlan-policies").unwrap();
    let mut router = start_router(
        &lan,
        &dir,
        r#"
[[vlan_config]]
vlan_ref = "vlan-10"

# Its own rate limit: one request per 64 s, RATE kiss-o'-death beyond.
[[vlan_config]]
vlan_ref = "iot"
interface = "vlan-20"
clients_only = true
ratelimit = { enabled = true, interval = 6, burst = 1, leak = 4, kod = true }

# Its own access rules: its hosts are denied (globally everyone is served).
[[vlan_config]]
vlan_ref = "guest"
interface = "vlan-30"
access = [{ network = "203.0.113.0/24", permission = "deny" }]

[[vlan_config]]
vlan_ref = "vlan-40"
enabled = false

# Not there at start: created and removed while the daemon runs.
[[vlan_config]]
vlan_ref = "vlan-50"
enabled = false
"#,
    );
    router
        .wait_for_log("interface of a configured VLAN does not exist (yet)", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("vlan-50 is missing at start and must be said so: {e}"));

    // A served VLAN answers, over IPv4 and IPv6, without limits.
    for v6 in [false, true] {
        for _ in 0..5 {
            let r =
                ask(&lan, "vlan-10", v6).unwrap_or_else(|| panic!("vlan-10 (v6 {v6}) unanswered\n{}", router.log()));
            assert!(r.origin_matches && r.stratum == 3 && r.mode == 4, "{r:?}");
        }
    }
    // A disabled VLAN is silent.
    for v6 in [false, true] {
        assert!(ask(&lan, "vlan-40", v6).is_none(), "vlan-40 is disabled but answered");
    }
    // vlan-30's own access rules deny its hosts.
    assert!(ask(&lan, "vlan-30", false).is_none(), "vlan-30 denies its clients");
    // vlan-20's own rate limit: the burst is answered, then RATE.
    let first = ask(&lan, "vlan-20", false).expect("vlan-20 answers within its burst");
    assert!(!is_rate_kiss(&first), "{first:?}");
    let later: Vec<_> = (0..6).filter_map(|_| ask(&lan, "vlan-20", false)).collect();
    assert!(later.iter().any(is_rate_kiss), "vlan-20's own rate limit never sent RATE: {later:?}");

    // Counted per interface.
    let stats = json(&lan, "/api/v1/serverstats");
    common::assert_matches_openapi("ServerStats", &stats);
    let v40 = interface_row(&stats, "vlan-40");
    assert_eq!(v40["served"], false);
    assert_eq!(v40["vlan"], "vlan-40");
    assert_eq!(v40["dropped_by_reason"]["interface_disabled"], 2, "{v40:#}");
    assert_eq!(v40["replied"], 0);
    let v10 = interface_row(&stats, "vlan-10");
    assert_eq!(
        (v10["received"].as_u64(), v10["replied"].as_u64(), v10["dropped"].as_u64()),
        (Some(10), Some(10), Some(0))
    );
    assert_eq!(interface_row(&stats, "vlan-30")["dropped_by_reason"]["denied"], 1);
    assert_eq!(interface_row(&stats, "vlan-20")["vlan"], "iot");
    assert!(interface_row(&stats, "vlan-20")["dropped_by_reason"]["rate_limited"].as_u64() >= Some(1));
    let metrics = api(&lan, "/metrics");
    assert!(
        metrics.contains("ntp_server_dropped_total{interface=\"vlan-40\",reason=\"interface_disabled\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ntp_client_requests_total{interface=\"vlan-10\",listen_address=\"0.0.0.0:123\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ntp_client_requests_total{interface=\"vlan-10\",listen_address=\"[::]:123\"} 5"),
        "{metrics}"
    );
    common::assert_promtool_clean(&metrics);
    let clients = json(&lan, "/api/v1/clients");
    common::assert_matches_openapi("Clients", &clients);
    let c10 = clients["clients"].as_array().unwrap().iter().find(|c| c["address"] == "192.0.2.2").unwrap();
    assert_eq!(c10["interface"], "vlan-10");
    let per_interface = clients["interfaces"].as_array().unwrap();
    let row = per_interface.iter().find(|r| r["interface"] == "vlan-40").unwrap();
    assert_eq!((row["clients"].as_u64(), row["dropped"].as_u64()), (Some(2), Some(2)), "{clients:#}");
    // The CLI shows the same rows.
    let mut cmd = netns_command(&lan.router, common::bin());
    cmd.args(["serverstats", "--api", API]).env_remove("SIMPLE_NTPD_CONFIG");
    let out = ntp_test_support::run_bounded(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(out.success(), "{}", out.describe());
    let line = out.stdout.lines().find(|l| l.starts_with("vlan-40")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains(" no ") && line.contains("2 interface_disabled"), "{line}");

    // A real client (NTPsec's ntpdig) is served on vlan-10 and gets
    // nothing on the disabled vlan-40.
    if ntp_test_support::peer_or_skip("ntpdig", ntp_test_support::ntpdig_path()).unwrap().is_some() {
        let (v10, v40) = (lan.vlan("vlan-10").clone(), lan.vlan("vlan-40").clone());
        let served = in_netns(&v10.client_ns, move || ntp_test_support::ntpdig_query(v10.router_v4.into(), 2));
        let served = served.unwrap_or_else(|e| panic!("ntpdig on vlan-10: {e}"));
        assert_eq!(served.stratum, 3, "{served:?}");
        let silent = in_netns(&v40.client_ns, move || ntp_test_support::ntpdig_query(v40.router_v4.into(), 1));
        assert!(silent.is_err(), "ntpdig was answered on the disabled vlan-40: {silent:?}");
        let v40 = interface_row(&json(&lan, "/api/v1/serverstats"), "vlan-40");
        assert!(v40["dropped_by_reason"]["interface_disabled"].as_u64() >= Some(3), "{v40:#}");
    }

    // An interface that appears at run time is followed: its VLAN policy
    // (disabled) applies at once, and its going away is noticed.
    lan.add_vlan(vlan(50, "198.51.100.129", "198.51.100.130", 25));
    router.wait_for_log("interface vlan-50 (index", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !router.log().contains("vlan=vlan-50") {
        assert!(Instant::now() < deadline, "no VLAN policy line for vlan-50\n{}", router.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ask(&lan, "vlan-50", false).is_none(), "vlan-50 is disabled but answered");
    let v50 = interface_row(&json(&lan, "/api/v1/serverstats"), "vlan-50");
    assert_eq!(v50["dropped_by_reason"]["interface_disabled"], 1, "{v50:#}");
    // An address added on the router side is a change.
    let v10 = lan.vlan("vlan-10").clone();
    ip(&["-n", &lan.router, "addr", "add", "192.0.2.3/25", "dev", &v10.name]).unwrap();
    router.wait_for_log("interface vlan-10 (index", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    lan.remove_vlan("vlan-50");
    router.wait_for_log("is gone", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let server: SocketAddr = "192.0.2.3:123".parse().unwrap();
    let r = in_netns(&v10.client_ns, move || {
        send_raw(server, &ntp_test_support::build_request(4, 7), Duration::from_secs(1))
    });
    assert!(r.is_some(), "the new address on vlan-10 is served");
    assert!(router.is_running(), "{}", router.log());
    let log = router.log();
    for needle in ["appeared", "changed", "is gone"] {
        assert!(log.lines().any(|l| l.contains(needle) && l.contains("interface vlan-")), "{needle}\n{log}");
    }
}

/// A stratum-1 server on a socket of another namespace whose clock is the
/// system clock plus `offset`; counts the requests it gets.
struct FakeUpstream {
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeUpstream {
    fn start(ns: &str, addr: SocketAddr, offset: f64) -> FakeUpstream {
        use ntp_proto::packet::{LeapIndicator, ReferenceId};
        use ntp_proto::server::{parse_request, write_reply, ServerState};
        use ntp_proto::{NtpDuration, NtpShort, NtpTimestamp};
        use std::sync::atomic::Ordering;
        let sock = in_netns(ns, move || std::net::UdpSocket::bind(addr).unwrap());
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, flag) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let now = || {
                let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
                NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()) + NtpDuration::from_seconds(offset)
            };
            let (mut buf, mut out) = ([0u8; 512], [0u8; 512]);
            let deadline = Instant::now() + Duration::from_secs(300);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let rx = now();
                let Ok(req) = parse_request(&buf[..n], from.port()) else { continue };
                count.fetch_add(1, Ordering::Relaxed);
                let state = ServerState {
                    leap: LeapIndicator::NoWarning,
                    stratum: 1,
                    precision: -24,
                    reference_id: ReferenceId::from_ascii("GPS"),
                    reference_time: rx,
                    root_delay: NtpShort::ZERO,
                    root_dispersion: NtpShort::from_seconds(1e-5),
                    dispersion_rate: ServerState::PHI,
                };
                let Ok(p) = write_reply(&req, rx, &state, &mut out) else { continue };
                let len = p.finish(&mut out, now());
                let _ = sock.send_to(&out[..len], from);
            }
        });
        FakeUpstream { requests, stop, thread: Some(thread) }
    }

    fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Listens for NTP broadcasts in a VLAN's client namespace, on the NTP
/// port: IPv4 broadcasts and `ff02::101` on the VLAN interface.
struct BroadcastListener {
    v4: std::net::UdpSocket,
    v6: std::net::UdpSocket,
}

/// One broadcast as received: when, from where, the bytes.
type Heard = (Instant, SocketAddr, Vec<u8>);

impl BroadcastListener {
    fn start(lan: &Lan, vlan: &str) -> BroadcastListener {
        let v = lan.vlan(vlan).clone();
        let (v4, v6) = in_netns(&v.client_ns, move || {
            let v4 = std::net::UdpSocket::bind("0.0.0.0:123").unwrap();
            let v6 = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
            v6.set_only_v6(true).unwrap();
            v6.bind(&"[::]:123".parse::<SocketAddr>().unwrap().into()).unwrap();
            let index = nix::net::if_::if_nametoindex(v.name.as_str()).unwrap();
            v6.join_multicast_v6(&"ff02::101".parse().unwrap(), index).unwrap();
            (v4, std::net::UdpSocket::from(v6))
        });
        BroadcastListener { v4, v6 }
    }

    /// Everything heard until `until`: (IPv4, IPv6).
    fn collect(&self, until: Instant) -> (Vec<Heard>, Vec<Heard>) {
        let listen = |s: std::net::UdpSocket| {
            std::thread::spawn(move || {
                let mut heard = Vec::new();
                let mut buf = [0u8; 512];
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
                    if let Ok((n, from)) = s.recv_from(&mut buf) {
                        heard.push((Instant::now(), from, buf[..n].to_vec()));
                    }
                }
                heard
            })
        };
        let (a, b) = (listen(self.v4.try_clone().unwrap()), listen(self.v6.try_clone().unwrap()));
        (a.join().unwrap(), b.join().unwrap())
    }
}

/// What every listener heard during the same `window`.
fn collect_all(listeners: &[BroadcastListener], window: Duration) -> Vec<(Vec<Heard>, Vec<Heard>)> {
    let until = Instant::now() + window;
    std::thread::scope(|s| {
        let running: Vec<_> = listeners.iter().map(|l| s.spawn(move || l.collect(until))).collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// The seed 002 resource's `vlanConfig`, verbatim (with its comments).
fn seed_002_vlan_config() -> String {
    let text = include_str!("../../ntp-config/tests/seed002/ntpservice.toml");
    let start = text.find("# VLAN-specific configuration").unwrap();
    let end = text.find("# Monitoring configuration").unwrap();
    text[start..end].to_owned()
}

const BROADCAST_KEY: &str = "[[security.authentication.keys]]\nid = 1\ntype = \"SHA256\"\nvalue = \"HEX:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n";

/// Seed 002's three VLANs as its comments describe them: the main network
/// (vlan-10) is served and gets broadcasts, the IoT and guest networks are
/// served to clients only: no broadcasts there, and a server configured
/// on one of them is never used as a source.
#[test]
fn seed_002_three_vlans_work_as_described() {
    if !can_run() {
        return;
    }
    let lan = Lan::create(
        "seed2",
        &[
            vlan(10, "192.0.2.1", "192.0.2.2", 24),
            vlan(20, "198.51.100.1", "198.51.100.2", 24),
            vlan(30, "203.0.113.1", "203.0.113.2", 24),
        ],
    );
    // A server on the IoT VLAN, configured as a source.
    let iot_server = FakeUpstream::start(&lan.vlan("vlan-20").client_ns, "198.51.100.2:1123".parse().unwrap(), 0.0);
    let listeners: Vec<_> =
        ["vlan-10", "vlan-20", "vlan-30"].iter().map(|v| BroadcastListener::start(&lan, v)).collect();
    let dir = TempDir::new("vlan-seed2").unwrap();
    let config = format!(
        "[[sources.servers]]\naddress = \"198.51.100.2:1123\"\niburst = true\nminpoll = 0\nmaxpoll = 1\n\
         [server.local]\nenabled = true\nstratum = 10\n[clock]\ndiscipline = \"virtual\"\n{}",
        seed_002_vlan_config()
    );
    let mut router = start_router(&lan, &dir, &config);
    // Every VLAN is served ("enabled: true").
    for v in ["vlan-10", "vlan-20", "vlan-30"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ask(&lan, v, false) {
                Some(r) if r.stratum == 10 => break,
                _ if Instant::now() > deadline => {
                    panic!("{v} not served at the local fallback stratum\n{}", router.log())
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    // Broadcasts on the main network only (the first goes out at once; the interval is 64 s).
    let heard = collect_all(&listeners, Duration::from_secs(3));
    let (v4, v6) = &heard[0];
    assert!(
        !v4.is_empty() && !v6.is_empty(),
        "no broadcast on vlan-10 (v4 {}, v6 {})\n{}",
        v4.len(),
        v6.len(),
        router.log()
    );
    for (_, from, bytes) in v4.iter().chain(v6.iter()) {
        let h = ntp_test_support::decode_packet(bytes).unwrap();
        assert_eq!((h.mode, h.stratum, h.poll), (5, 10, 6), "from {from}");
    }
    for (i, v) in ["vlan-20", "vlan-30"].iter().enumerate() {
        assert!(heard[i + 1].0.is_empty() && heard[i + 1].1.is_empty(), "a broadcast reached {v}: {:?}", heard[i + 1]);
    }
    // The IoT server is never asked: hosts there are only clients.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(iot_server.requests(), 0, "a source on a clients-only VLAN was polled\n{}", router.log());
    assert!(router.log().contains("clients-only VLAN: not used"), "{}", router.log());
    let sources = json(&lan, "/api/v1/sources");
    assert!(
        sources["sources"].as_array().unwrap().iter().all(|s| s["state"] == "unreachable" && s["reachability"] == 0),
        "{sources:#}"
    );
    assert!(router.is_running());
}

#[test]
fn broadcasts_arrive_on_the_broadcasting_vlan_at_the_interval_and_nowhere_else() {
    if !can_run() {
        return;
    }
    let lan = Lan::create(
        "bcast",
        &[
            vlan(10, "192.0.2.1", "192.0.2.2", 24),
            vlan(20, "198.51.100.1", "198.51.100.2", 24),
            vlan(30, "203.0.113.1", "203.0.113.2", 24),
        ],
    );
    let listeners: Vec<_> =
        ["vlan-10", "vlan-20", "vlan-30"].iter().map(|v| BroadcastListener::start(&lan, v)).collect();
    let dir = TempDir::new("vlan-bcast").unwrap();
    let router = start_router(
        &lan,
        &dir,
        &format!(
            "[[vlan_config]]\nvlan_ref = \"vlan-10\"\nbroadcast = true\nbroadcast_interval = 2\nbroadcast_key = 1\n\
             [[vlan_config]]\nvlan_ref = \"vlan-20\"\nclients_only = true\n{BROADCAST_KEY}"
        ),
    );
    let heard = collect_all(&listeners, Duration::from_secs(7));
    let key = ntp_proto::auth::SymmetricKey::new(1, ntp_proto::auth::KeyType::Sha256, (0..32).collect()).unwrap();
    let now = ntp_test_support::unix_now();
    for (family, got) in [("IPv4", &heard[0].0), ("IPv6", &heard[0].1)] {
        assert!(got.len() >= 3, "{family}: {} broadcasts in 7 s at a 2 s interval\n{}", got.len(), router.log());
        let gaps: Vec<f64> = got.windows(2).map(|w| (w[1].0 - w[0].0).as_secs_f64()).collect();
        eprintln!("{family} broadcast intervals on vlan-10: {gaps:.3?} s");
        assert!(gaps.iter().all(|g| (1.7..=2.4).contains(g)), "{family} intervals {gaps:?}");
        for (_, from, bytes) in got.iter() {
            let h = ntp_test_support::decode_packet(bytes).unwrap();
            assert_eq!((h.mode, h.version, h.stratum, h.poll), (5, 4, 3, 1), "{family} from {from}");
            assert!((h.transmit_time - now).abs() < 8.0, "transmit time {} vs now {now}", h.transmit_time);
            assert_eq!(from.port(), 123, "broadcasts leave from the NTP port");
            assert!(
                ntp_proto::auth::check_packet_mac(bytes, |id| (id == 1).then_some(&key)).is_valid(),
                "{family}: broadcast without a valid MAC"
            );
        }
        assert_eq!(got[0].1.ip().is_ipv4(), family == "IPv4");
    }
    assert_eq!(heard[0].0[0].1.ip(), std::net::IpAddr::V4(lan.vlan("vlan-10").router_v4));
    for (i, v) in ["vlan-20", "vlan-30"].iter().enumerate() {
        assert!(heard[i + 1].0.is_empty() && heard[i + 1].1.is_empty(), "a broadcast reached {v}");
    }
    // Counted, and not looped back into the router's own workers.
    let stats = json(&lan, "/api/v1/serverstats");
    let v10 = interface_row(&stats, "vlan-10");
    assert!(v10["broadcasts"].as_u64() >= Some(6), "{v10:#}");
    assert_eq!(stats["dropped_total"], 0, "{stats:#}");
    assert!(api(&lan, "/metrics").contains("ntp_server_broadcasts_total{interface=\"vlan-10\"}"));
}

/// Starts a second daemon in `vlan`'s client namespace with `toml`.
fn start_client(lan: &Lan, vlan: &str, dir: &TempDir, toml: &str) -> DaemonProcess {
    common::readable_like_etc(dir.path());
    let file = dir.write(&format!("client-{vlan}.toml"), toml).unwrap();
    let mut cmd = netns_command(&lan.vlan(vlan).client_ns, common::bin());
    cmd.arg("run").arg("-c").arg(&file).env_remove("SIMPLE_NTPD_CONFIG");
    let mut daemon = DaemonProcess::spawn_command(cmd).unwrap();
    daemon.wait_for_log("serving NTP", Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
    daemon
}

/// Served-time offset of `server` as seen from namespace `ns` (the
/// minimum-delay reply of a few).
fn offset_from(ns: &str, server: SocketAddr) -> Option<(f64, u8)> {
    in_netns(ns, move || {
        let replies: Vec<_> = (0..5).filter_map(|_| sntp_probe(server, 4, Duration::from_millis(500)).ok()).collect();
        replies.iter().min_by(|a, b| a.delay.total_cmp(&b.delay)).map(|r| (r.offset, r.li))
    })
}

/// A broadcast client in a client namespace synchronises (virtual clock)
/// to the router's authenticated broadcasts: through its serving socket on
/// the wildcard address (vlan-10, following the configured server's IPv4
/// broadcasts), and through sockets of its own when it serves elsewhere
/// (vlan-30, following whichever of IPv4 or IPv6 is heard first).
#[test]
fn broadcast_clients_synchronise_to_the_router() {
    if !can_run() {
        return;
    }
    let lan =
        Lan::create("bclient", &[vlan(10, "192.0.2.1", "192.0.2.2", 24), vlan(30, "203.0.113.1", "203.0.113.2", 24)]);
    // The router follows an upstream 0.25 s ahead of the system clock.
    const AHEAD: f64 = 0.25;
    let _upstream = FakeUpstream::start(&lan.router, "127.0.0.1:1123".parse().unwrap(), AHEAD);
    let dir = TempDir::new("vlan-bclient").unwrap();
    let sync = "[clock]\ndiscipline = \"virtual\"\n[server.makestep]\nthreshold = 0.1\nlimit = 10\n";
    let router = start_router(
        &lan,
        &dir,
        &format!(
            "[[sources.servers]]\naddress = \"127.0.0.1:1123\"\niburst = true\nminpoll = 0\nmaxpoll = 1\n{sync}\
             [[vlan_config]]\nvlan_ref = \"vlan-10\"\nbroadcast = true\nbroadcast_interval = 2\nbroadcast_key = 1\n\
             [[vlan_config]]\nvlan_ref = \"vlan-30\"\nbroadcast = true\nbroadcast_interval = 2\n\
             [security.authentication]\nenabled = true\n{BROADCAST_KEY}"
        ),
    );
    let c10 = start_client(
        &lan,
        "vlan-10",
        &dir,
        &format!(
            "[network]\nlisten_address = [\"0.0.0.0\", \"::\"]\nlisten_port = 123\n[monitoring]\nenabled = true\nlisten = \"127.0.0.1:9560\"\n{sync}\
             [[sources.broadcast]]\ninterface = \"vlan-10\"\nserver = \"192.0.2.1\"\nkey = 1\n{BROADCAST_KEY}"
        ),
    );
    let c30 = start_client(
        &lan,
        "vlan-30",
        &dir,
        &format!(
            "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 1123\n[monitoring]\nenabled = false\n{sync}\
             [[sources.broadcast]]\ninterface = \"vlan-30\"\n"
        ),
    );
    let v10 = lan.vlan("vlan-10").clone();
    let v30 = lan.vlan("vlan-30").clone();
    let router_v10 = SocketAddr::new(v10.router_v4.into(), 123);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut results = Vec::new();
    for (ns, local, name, daemon) in
        [(&v10.client_ns, "127.0.0.1:123", "vlan-10", &c10), (&v30.client_ns, "127.0.0.1:1123", "vlan-30", &c30)]
    {
        let local: SocketAddr = local.parse().unwrap();
        loop {
            // The test asks the router over IPv6, so that its requests are
            // told apart from the broadcast client's calibration.
            let theirs = offset_from(
                ns,
                SocketAddr::new(if name == "vlan-10" { v10.router_v6 } else { v30.router_v6 }.into(), 123),
            );
            let ours = offset_from(ns, local);
            if let (Some((r, 0)), Some((c, 0))) = (theirs, ours) {
                if (r - AHEAD).abs() < 0.005 && (c - r).abs() < 0.005 {
                    results.push((name, c - r, r));
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the broadcast client on {name} did not synchronise (router {theirs:?}, client {ours:?})\n--- router\n{}\n--- client\n{}",
                router.log(),
                daemon.log()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    for (name, diff, router) in &results {
        eprintln!(
            "broadcast client on {name}: serves router + {:.3} ms (router at system + {:.1} ms)",
            diff * 1e3,
            router * 1e3
        );
    }
    // It keeps following broadcasts, not polls: three intervals later it
    // is still on time, and the router answered only the calibration
    // requests (the test's own come from the IPv6 address).
    std::thread::sleep(Duration::from_secs(6));
    for (ns, local) in [(&v10.client_ns, "127.0.0.1:123"), (&v30.client_ns, "127.0.0.1:1123")] {
        let (c, li) = offset_from(ns, local.parse().unwrap()).unwrap();
        assert!(li == 0 && (c - AHEAD).abs() < 0.005, "{ns}: {c} (leap {li}) after three broadcast intervals");
    }
    let clients = json(&lan, "/api/v1/clients?limit=100");
    let calibration: u64 = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["address"] == v10.client_v4.to_string())
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    assert!(
        (1..=8).contains(&calibration),
        "the broadcast client sent {calibration} requests, not just its calibration: {clients:#}"
    );
    let stats = json(&lan, "/api/v1/serverstats");
    let v10_row = interface_row(&stats, "vlan-10");
    assert!(v10_row["broadcasts"].as_u64() >= Some(5), "{v10_row:#}");
    assert_eq!(v10_row["dropped"], 0, "{v10_row:#}");
    let _ = router_v10;
    let sources = in_netns(&v10.client_ns, || {
        let (code, body) = common::http_get("127.0.0.1:9560".parse().unwrap(), "/api/v1/sources", None);
        assert_eq!(code, 200);
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    });
    let s = &sources["sources"][0];
    assert_eq!(s["name"], "broadcast@vlan-10", "{sources:#}");
    assert_eq!(s["address"], "192.0.2.1:123");
    assert!(matches!(s["state"].as_str(), Some("selected" | "combined")), "{sources:#}");
    assert_eq!(s["poll_seconds"], 2.0, "{sources:#}");
    assert!(s["last_response_seconds_ago"].as_f64() < Some(3.0), "{sources:#}");
    assert!(s["reachability"].as_u64().unwrap().count_ones() >= 3, "{sources:#}\n{}", c10.log());
    assert!(
        c10.log().contains("listening for NTP broadcasts") && c30.log().contains("203.0.113.255:123"),
        "{}",
        c30.log()
    );
}

/// Interoperation with a real broadcaster: chronyd (`-x`, never touching
/// the clock) in the router namespace follows an upstream 50 ms ahead and
/// broadcasts (`broadcast 2 <vlan-10 broadcast address>`); a simple-ntpd
/// broadcast client in vlan-10's client namespace calibrates against it,
/// then follows its mode 5 packets and serves chronyd's time.
#[test]
fn broadcast_client_follows_a_chronyd_broadcaster() {
    if !can_run() {
        return;
    }
    let Some(chronyd) =
        ntp_test_support::peer_or_skip("chronyd", ntp_test_support::chronyd_path()).unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let lan = Lan::create("cbcast", &[vlan(10, "192.0.2.1", "192.0.2.2", 24)]);
    const AHEAD: f64 = 0.05;
    let _upstream = FakeUpstream::start(&lan.router, "127.0.0.1:1123".parse().unwrap(), AHEAD);
    let v10 = lan.vlan("vlan-10").clone();
    let dir = TempDir::new("vlan-chronyd-bcast").unwrap();
    common::readable_like_etc(dir.path());
    let d = dir.path().display();
    let conf = dir
        .write(
            "chrony.conf",
            &format!(
                "pidfile {d}/chronyd.pid\ndriftfile {d}/chronyd.drift\ncmdport 0\nbindcmdaddress /\n\
                 server 127.0.0.1 port 1123 iburst minpoll -2 maxpoll -2\n\
                 allow 192.0.2.0/24\nbroadcast 2 {}\n",
                v10.broadcast_v4()
            ),
        )
        .unwrap();
    let mut cmd = netns_command(&lan.router, &chronyd);
    cmd.args(["-x", "-d", "-4"]).args(ntp_test_support::chronyd_user_args()).arg("-f").arg(&conf);
    let mut chrony = DaemonProcess::spawn_command(cmd).unwrap();
    let router_v4 = SocketAddr::new(v10.router_v4.into(), 123);
    // chronyd serves the upstream's time before the client starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((r, 0)) = offset_from(&v10.client_ns, router_v4) {
            if (r - AHEAD).abs() < 0.005 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "chronyd did not follow its upstream\n{}", chrony.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    let sync = "[clock]\ndiscipline = \"virtual\"\n[server.makestep]\nthreshold = 0.1\nlimit = 10\n";
    let mut client = start_client(
        &lan,
        "vlan-10",
        &dir,
        &format!(
            "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 1123\n\
             [monitoring]\nenabled = true\nlisten = \"127.0.0.1:9560\"\n{sync}\
             [[sources.broadcast]]\ninterface = \"vlan-10\"\nserver = \"192.0.2.1\"\n"
        ),
    );
    let local: SocketAddr = "127.0.0.1:1123".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let diff = loop {
        let theirs = offset_from(&v10.client_ns, router_v4);
        let ours = offset_from(&v10.client_ns, local);
        if let (Some((r, 0)), Some((c, 0))) = (theirs, ours) {
            if (r - AHEAD).abs() < 0.005 && (c - r).abs() < 0.005 {
                break c - r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the broadcast client did not follow chronyd (chronyd {theirs:?}, client {ours:?})\n--- chronyd\n{}\n--- client\n{}",
            chrony.log(),
            client.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!("broadcast client following chronyd serves chronyd + {:.3} ms", diff * 1e3);
    // After the calibration it sends nothing more: three broadcast
    // intervals later its source was still heard within one interval, so
    // chronyd's mode 5 packets are what it follows.
    std::thread::sleep(Duration::from_secs(6));
    let (c, li) = offset_from(&v10.client_ns, local).unwrap();
    assert!(li == 0 && (c - AHEAD).abs() < 0.005, "{c} (leap {li}) after three broadcast intervals");
    assert!(client.log().contains("broadcast server heard: calibrating the delay"), "{}", client.log());
    let sources = in_netns(&v10.client_ns, || {
        let (code, body) = common::http_get("127.0.0.1:9560".parse().unwrap(), "/api/v1/sources", None);
        assert_eq!(code, 200);
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    });
    let s = &sources["sources"][0];
    assert_eq!(s["name"], "broadcast@vlan-10", "{sources:#}");
    assert_eq!(s["address"], "192.0.2.1:123", "{sources:#}");
    assert!(matches!(s["state"].as_str(), Some("selected" | "combined")), "{sources:#}");
    assert!(s["last_response_seconds_ago"].as_f64() < Some(3.0), "{sources:#}");
    assert!(s["reachability"].as_u64().unwrap().count_ones() >= 3, "{sources:#}\n{}", client.log());
    assert!(chrony.is_running() && client.is_running());
}
