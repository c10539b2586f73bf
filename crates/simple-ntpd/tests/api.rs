//! The management endpoint: Prometheus metrics that promtool accepts and
//! that count real traffic, liveness/readiness probes, the JSON API (checked
//! against docs/openapi.yaml), the CLI that reads it, and access control.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use ntp_test_support::sntp_probe;

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap()).sum()
}

#[test]
fn metrics_pass_promtool_and_count_real_traffic() {
    let (run, api) = common::start_with_api(3, "");
    for _ in 0..25 {
        sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    }
    ntp_test_support::send_raw(run.addr, &[0u8; 10], Duration::from_millis(100));
    let (code, text) = common::http_get(api, "/metrics", None);
    assert_eq!(code, 200);
    // The readiness probe of start() sent at least one more request.
    assert!(metric(&text, "ntp_server_replies_total{") >= 25.0, "{text}");
    assert!(metric(&text, "ntp_client_requests_total{") >= 26.0, "{text}");
    // Counted under the interface it arrived on.
    assert_eq!(metric(&text, "ntp_server_dropped_total{interface=\"lo\",reason=\"too_short\"}"), 1.0);
    assert_eq!(metric(&text, "ntp_stratum "), 3.0);
    assert_eq!(metric(&text, "ntp_sync "), 1.0);
    assert!(metric(&text, "process_resident_memory_bytes") > 0.0, "{text}");
    assert!(text.contains("ntp_build_info{version="));
    common::assert_promtool_clean(&text);

    // No client address is ever a label (unbounded cardinality): a client
    // from its own address must not appear anywhere in the exposition.
    let client_ip = ntp_test_support::spare_loopback_v4();
    common::probe_from(client_ip.into(), run.addr, 42, Duration::from_secs(2)).expect("a reply");
    let (_, text) = common::http_get(api, "/metrics", None);
    assert!(!text.contains(&client_ip.to_string()), "client {client_ip} is a label:\n{text}");
    assert!(!text.contains("client="), "{text}");
}

#[test]
fn probes_and_json_api_match_the_openapi_document() {
    let (run, api) = common::start_with_api(3, "");
    sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    for (path, schema) in [
        ("/healthz", "Probe"),
        ("/readyz", "Probe"),
        ("/api/v1/status", "Status"),
        ("/api/v1/sources", "Sources"),
        ("/api/v1/clients", "Clients"),
        ("/api/v1/serverstats", "ServerStats"),
        ("/api/v1/config", "Config"),
        ("/api/v1/history", "History"),
        ("/api/v1/history?range=day", "History"),
    ] {
        let (code, body) = common::http_get(api, path, None);
        assert_eq!(code, 200, "{path}: {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        common::assert_matches_openapi(schema, &doc);
    }
    let (_, body) = common::http_get(api, "/api/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["stratum"], 3);
    assert_eq!(status["mode"], "local_reference");
    assert_eq!(status["health"]["state"], "ok");
    let (_, body) = common::http_get(api, "/api/v1/clients", None);
    let clients: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(clients["clients"][0]["address"], "127.0.0.1");
    let (code, body) = common::http_get(api, "/nope", None);
    assert_eq!(code, 404, "{body}");
}

#[test]
fn readiness_fails_while_unsynchronised() {
    let ip = "127.0.0.1".parse().unwrap();
    let api = std::net::SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let port = ntp_test_support::free_udp_port(ip);
    let dir = ntp_test_support::TempDir::new("unsync-api").unwrap();
    let file = dir
        .write(
            "c.toml",
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n[ntp_server]\nupstream_servers = [\"127.0.0.1:{}\"]\n[clock]\ndiscipline = \"virtual\"\n[monitoring]\nlisten = \"{api}\"\n",
                ntp_test_support::free_udp_port(ip)
            ),
        )
        .unwrap();
    let mut d = ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
    d.wait_until_serving(std::net::SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);
    let (code, body) = common::http_get(api, "/readyz", None);
    assert_eq!(code, 503, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    common::assert_matches_openapi("Probe", &doc);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["health"]["state"], "critical");
    let (code, _) = common::http_get(api, "/healthz", None);
    assert_eq!(code, 200);
}

#[test]
fn cli_reads_the_api_as_tables_and_json() {
    let (run, api) = common::start_with_api(3, "");
    sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    let a = api.to_string();
    for cmd in ["status", "sources", "clients", "serverstats"] {
        let out = common::cli(&[cmd, "--api", &a]);
        assert!(out.success(), "{cmd}: {}", out.describe());
        assert!(!out.stdout.trim().is_empty());
        let out = common::cli(&[cmd, "--api", &a, "--json"]);
        assert!(out.success(), "{cmd} --json: {}", out.describe());
        let _: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{cmd}: {e}\n{}", out.stdout));
    }
    let out = common::cli(&["status", "--api", &a]);
    assert!(out.stdout.contains("Stratum") && out.stdout.contains(": 3"), "{}", out.stdout);
    let out = common::cli(&["clients", "--api", &a]);
    assert!(out.stdout.contains("127.0.0.1"), "{}", out.stdout);
    // The address can also come from the daemon's configuration file.
    let cfg = run.dir.join("simple-ntpd.toml");
    let out = common::cli(&["serverstats", "-c", cfg.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("Replies sent"), "{}", out.stdout);

    let dead = std::net::SocketAddr::new(api.ip(), ntp_test_support::free_tcp_port(api.ip()));
    for cmd in ["status", "sources", "clients", "serverstats"] {
        let out = common::cli(&[cmd, "--api", &dead.to_string()]);
        assert_eq!(out.status.and_then(|s| s.code()), Some(2), "{cmd}: {}", out.describe());
        assert!(out.stderr.contains("cannot reach the daemon"), "{}", out.stderr);
    }
}

#[test]
fn token_protects_everything_but_the_probes() {
    let (run, api) = common::start_with_api(3, "token = \"s3cret-token\"\n");
    let (code, _) = common::http_get(api, "/api/v1/status", None);
    assert_eq!(code, 401);
    let (code, _) = common::http_get(api, "/metrics", Some("wrong"));
    assert_eq!(code, 401);
    let (code, _) = common::http_get(api, "/api/v1/status", Some("s3cret-token"));
    assert_eq!(code, 200);
    let (code, _) = common::http_get(api, "/healthz", None);
    assert_eq!(code, 200);
    let (_, body) = common::http_get(api, "/api/v1/config", Some("s3cret-token"));
    assert!(!body.contains("s3cret-token") && body.contains("<redacted>"), "{body}");
    // The CLI finds the token in the configuration file.
    let cfg = run.dir.join("simple-ntpd.toml");
    let out = common::cli(&["status", "-c", cfg.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    let out = common::cli(&["status", "--api", &api.to_string()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(2));
    assert!(out.stderr.contains("401"), "{}", out.stderr);
}

#[test]
fn non_loopback_api_needs_an_allow_list_or_token() {
    let dir = ntp_test_support::TempDir::new("api-open").unwrap();
    let open = dir.write("open.toml", "[monitoring]\nlisten = \"0.0.0.0:9559\"\n").unwrap();
    let out = common::cli(&["config", "check", "--no-env", open.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(out.stderr.contains("monitoring.allow") && out.stderr.contains("monitoring.token"), "{}", out.stderr);
    let allowed =
        dir.write("allowed.toml", "[monitoring]\nlisten = \"0.0.0.0:9559\"\nallow = [\"10.0.0.0/8\"]\n").unwrap();
    let out = common::cli(&["config", "check", "--no-env", allowed.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
}

#[test]
#[should_panic(expected = "does not match docs/openapi.yaml")]
fn the_openapi_check_rejects_a_wrong_document() {
    common::assert_matches_openapi("Status", &serde_json::json!({ "stratum": "three" }));
}
