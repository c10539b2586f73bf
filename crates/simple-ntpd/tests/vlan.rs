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
        assert_eq!(
            log.lines().filter(|l| l.contains(needle) && l.contains("interface vlan-")).count() >= 1,
            true,
            "{needle}\n{log}"
        );
    }
}
