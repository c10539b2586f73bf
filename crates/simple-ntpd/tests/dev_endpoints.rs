//! The development endpoints of seed 000's development profile: off by
//! default, on with the profile as written, and each test fault injected,
//! seen where operators look (NTP replies, `/readyz`, `status`, the log) and
//! recovered by itself. Remote clients are in api_remote.rs.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_matches_openapi, http_get, http_send};
use ntp_test_support::{free_tcp_port, free_udp_port, sntp_probe, DaemonProcess, TempDir};
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `check` every 200 ms until it holds (bounded by `within`).
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn development_endpoints_are_off_by_default() {
    let (_run, api) = common::start_with_api(3, "");
    for path in ["/debug/state", "/debug/log-level", "/test/fault"] {
        let (code, body) = http_get(api, path, None);
        assert_eq!(code, 404, "{path}: {body}");
    }
    let (code, _) =
        http_send(api, "POST", "/test/fault", Some(r#"{"fault":"unsynchronised","duration_seconds":5}"#), None);
    assert_eq!(code, 404);
    let (code, _) = http_send(api, "PUT", "/debug/log-level", Some(r#"{"level":"trace"}"#), None);
    assert_eq!(code, 404);
    let status = json(&http_get(api, "/api/v1/status", None).1);
    assert!(status.get("faults").is_none(), "{status}");
}

/// examples/seed000/2-development.conf, unchanged, with only the addresses
/// moved to free loopback ports.
#[test]
fn the_seed_000_development_profile_serves_them() {
    let profile = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed000/2-development.conf");
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ntp = SocketAddr::new(ip, free_udp_port(ip));
    let api = SocketAddr::new(ip, free_tcp_port(ip));
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", profile.to_str().unwrap(), "--listen", &ntp.to_string()]);
    cmd.env_remove("SIMPLE_NTPD_CONFIG").env("SIMPLE_NTPD_MONITORING_LISTEN", api.to_string());
    let mut daemon = DaemonProcess::spawn_command(cmd).unwrap();
    daemon.wait_until_serving(ntp, Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);
    assert!(!daemon.log().contains("not implemented"), "{}", daemon.log());

    let (code, body) = http_get(api, "/debug/state", None);
    assert_eq!(code, 200, "{body}");
    let state = json(&body);
    assert_matches_openapi("DebugState", &state);
    assert_eq!(state["pid"], daemon.pid());
    assert_eq!(state["log_level"], "DEBUG");
    assert_eq!(state["served"]["stratum"], 10, "the built-in local reference");
    assert!(state["memory"]["rss_bytes"].as_u64().unwrap() > 1 << 20, "{state}");
    assert!(state["server"]["listeners"][0]["address"].as_str().unwrap().ends_with(&ntp.port().to_string()));

    // The log level, at run time.
    let level = json(&http_get(api, "/debug/log-level", None).1);
    assert_matches_openapi("LogLevelState", &level);
    assert_eq!((level["level"].as_str(), level["configured"].as_str()), (Some("DEBUG"), Some("DEBUG")));
    let (code, body) = http_send(api, "PUT", "/debug/log-level", Some(r#"{"level":"warning"}"#), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["level"], "WARN");
    daemon.wait_for_log("log level changed at run time", Duration::from_secs(5)).unwrap();
    assert_eq!(json(&http_get(api, "/debug/log-level", None).1)["level"], "WARN");
    let (code, body) = http_send(api, "POST", "/debug/log-level", Some(r#"{"level":"loud"}"#), None);
    assert_eq!(code, 400, "{body}");
    assert_matches_openapi("Error", &json(&body));

    // Faults that do not apply to a local reference are refused, saying why.
    for (request, code) in [
        (r#"{"fault":"offset","offset_seconds":1,"duration_seconds":5}"#, 409),
        (r#"{"fault":"drop_source","source":"192.0.2.1","duration_seconds":5}"#, 409),
        (r#"{"fault":"refuse_nts_ke","duration_seconds":5}"#, 409),
        (r#"{"fault":"unsynchronised","duration_seconds":0}"#, 400),
        (r#"{"fault":"unsynchronised","duration_seconds":5,"source":"x"}"#, 400),
        (r#"{"fault":"melt","duration_seconds":5}"#, 400),
        ("not json", 400),
    ] {
        let (got, body) = http_send(api, "POST", "/test/fault", Some(request), None);
        assert_eq!(got, code, "{request}: {body}");
        assert_matches_openapi("Error", &json(&body));
    }
    // One that does, ended early.
    let (code, body) =
        http_send(api, "POST", "/test/fault", Some(r#"{"fault":"unsynchronised","duration_seconds":600}"#), None);
    assert_eq!(code, 201, "{body}");
    assert_eq!(sntp_probe(ntp, 4, Duration::from_secs(2)).unwrap().li, 3);
    let (code, body) = http_send(api, "DELETE", "/test/fault", None, None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["ended"].as_array().unwrap().len(), 1);
    assert_eq!(sntp_probe(ntp, 4, Duration::from_secs(2)).unwrap().stratum, 10);
    daemon.signal("TERM").unwrap();
    daemon.wait_exit(Duration::from_secs(10)).unwrap();
}

/// A daemon with one upstream (a stratum-1 local reference), the virtual
/// clock and the test endpoints on; returns once it is synchronised.
fn synchronised_client(extra: &str) -> (common::Running, common::Running, SocketAddr) {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let upstream = common::start(ip, 0, 1, "[monitoring]\nenabled = false\n");
    let (client, api) = common::start_with_api(
        3,
        &format!(
            "[development]\nenable_test_endpoints = true\n[clock]\ndiscipline = \"virtual\"\n[[sources.servers]]\naddress = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = 0\n{extra}",
            upstream.addr
        ),
    );
    eventually(Duration::from_secs(30), "the client synchronises", || {
        sntp_probe(client.addr, 4, Duration::from_secs(1)).is_ok_and(|r| r.li != 3 && r.stratum == 2)
    });
    (upstream, client, api)
}

fn inject(api: SocketAddr, request: &str) -> Value {
    let (code, body) = http_send(api, "POST", "/test/fault", Some(request), None);
    assert_eq!(code, 201, "{request}: {body}");
    let fault = json(&body);
    assert_matches_openapi("Fault", &fault);
    fault
}

fn ready(api: SocketAddr) -> bool {
    http_get(api, "/readyz", None).0 == 200
}

#[test]
fn unsynchronised_and_offset_faults_end_by_themselves() {
    let (_upstream, mut client, api) = synchronised_client("");
    assert!(ready(api));

    let fault = inject(api, r#"{"fault":"unsynchronised","duration_seconds":3}"#);
    let started = Instant::now();
    assert_eq!(sntp_probe(client.addr, 4, Duration::from_secs(1)).unwrap().li, 3, "replies say unsynchronised");
    assert!(!ready(api), "/readyz fails");
    let status = json(&http_get(api, "/api/v1/status", None).1);
    assert_matches_openapi("Status", &status);
    assert_eq!(status["faults"][0]["id"], fault["id"]);
    assert_eq!(status["mode"], "unsynchronised");
    let shown = common::cli(&["status", "--api", &api.to_string()]);
    assert!(shown.stdout.contains("Test fault") && shown.stdout.contains("unsynchronised"), "{}", shown.describe());
    eventually(Duration::from_secs(8), "the fault ends by itself", || ready(api));
    assert!(started.elapsed() >= Duration::from_millis(2900), "ended early: {:?}", started.elapsed());
    assert_ne!(sntp_probe(client.addr, 4, Duration::from_secs(1)).unwrap().li, 3);
    assert!(json(&http_get(api, "/api/v1/status", None).1).get("faults").is_none());

    // Served time 0.5 s ahead; the host clock and the upstream are not.
    let before = common::min_delay_probe(client.addr, 5).offset;
    inject(api, r#"{"fault":"offset","offset_seconds":0.5,"duration_seconds":3}"#);
    let during = common::min_delay_probe(client.addr, 5).offset;
    assert!((during - before - 0.5).abs() < 0.02, "offset {before} → {during}");
    eventually(Duration::from_secs(8), "the offset ends by itself", || {
        (common::min_delay_probe(client.addr, 3).offset - before).abs() < 0.02
    });
    let log = client.daemon.wait_for_log("test fault ended", Duration::from_secs(5)).unwrap();
    assert!(log.contains("test fault injected"), "{log}");
    assert_eq!(log.matches("test fault ended").count(), 2, "{log}");
}

#[test]
fn a_dropped_source_turns_unreachable_and_comes_back() {
    let (upstream, _client, api) = synchronised_client("");
    let source_age = || {
        let sources = json(&http_get(api, "/api/v1/sources", None).1);
        sources["sources"][0]["last_response_seconds_ago"].as_f64().unwrap_or(f64::INFINITY)
    };
    inject(api, &format!(r#"{{"fault":"drop_source","source":"{}","duration_seconds":5}}"#, upstream.addr.ip()));
    // Polled every second, answered, but the answers are dropped.
    eventually(Duration::from_secs(6), "no reply taken for 3 s", || source_age() >= 3.0);
    eventually(Duration::from_secs(10), "replies taken again", || source_age() < 2.0);
    let state = json(&http_get(api, "/api/v1/status", None).1);
    assert!(state.get("faults").is_none(), "{state}");
}

#[test]
fn refused_nts_ke_connections_are_accepted_again() {
    let dir = TempDir::new("fault-nts").unwrap();
    common::readable_like_etc(dir.path());
    let (_, chain, key) = common::certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let (run, api) = common::start_with_api(
        2,
        &format!(
            "[development]\nenable_test_endpoints = true\n[security.nts]\nenabled = true\nke_listen = \"{ke}\"\ncertificate_chain = \"{}\"\nprivate_key = \"{}\"\n",
            chain.display(),
            key.display()
        ),
    );
    // Refused: closed at once, before any TLS. Accepted: the server waits
    // for our ClientHello, so nothing arrives.
    let closed_at_once = || {
        let mut s = TcpStream::connect_timeout(&ke, Duration::from_secs(2)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        matches!(s.read(&mut [0u8; 16]), Ok(0))
    };
    assert!(!closed_at_once(), "NTS-KE refuses before any fault");
    let failures = || json(&http_get(api, "/api/v1/serverstats", None).1)["nts_ke_failures"].as_u64().unwrap();
    let failed_before = failures();
    inject(api, r#"{"fault":"refuse_nts_ke","duration_seconds":3}"#);
    assert!(closed_at_once() && closed_at_once(), "{}", run.daemon.log());
    assert!(failures() >= failed_before + 2);
    eventually(Duration::from_secs(8), "NTS-KE accepts again", || !closed_at_once());
}
