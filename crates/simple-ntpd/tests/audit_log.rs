//! The audit log (`[logging] audit_file`) of a real daemon: the
//! configuration loaded at start and what differs from the defaults, the
//! privileges kept, API requests with a token, an accepted reload with its
//! changes and the key file's new keys, and refused reloads with the reason
//! — one JSON object per line, and never a secret.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use ntp_test_support::{free_tcp_port, free_udp_port, DaemonProcess, TempDir};
use serde_json::{json, Value};

const TOKEN: &str = "audit-secret-token";
const KEY_1: &str = "1 SHA256 HEX:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_2: &str = "2 AES128 HEX:0f0e0d0c0b0a09080706050403020100";

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line: {e}: {l}")))
        .collect()
}

/// Waits (bounded) until the audit log has an event matching `pred`; returns it.
fn wait_event(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = events(path).into_iter().find(|e| pred(e)) {
            return e;
        }
        assert!(Instant::now() < deadline, "no {what} in the audit log:\n{:#?}", events(path));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn change<'a>(event: &'a Value, key: &str) -> Option<&'a Value> {
    event["changes"].as_array().unwrap().iter().find(|c| c["key"] == key)
}

#[test]
fn loads_reloads_privileges_and_token_access_are_audited() {
    let dir = TempDir::new("audit").unwrap();
    common::readable_like_etc(dir.path());
    let audit = dir.join("audit.log");
    let keys = dir.write("ntp.keys", &format!("{KEY_1}\n")).unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ntp = SocketAddr::new(ip, free_udp_port(ip));
    let api = SocketAddr::new(ip, free_tcp_port(ip));
    let config = |stratum: u8, keys: &Path| {
        format!(
            "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {}\n[ntp_server]\nstratum = {stratum}\n[monitoring]\nlisten = \"{api}\"\ntoken = \"{TOKEN}\"\n[logging]\naudit_file = \"{}\"\n[security.authentication]\nenabled = true\nkey_file = \"{}\"\n",
            ntp.port(),
            audit.display(),
            keys.display()
        )
    };
    let file = dir.write("c.toml", &config(3, &keys)).unwrap();
    let mut daemon = DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
    daemon.wait_until_serving(ntp, Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);

    // Start: the configuration, as changes from the built-in defaults.
    let load = wait_event(&audit, "config_load", |e| e["event"] == "config_load");
    assert_eq!((&load["trigger"], &load["result"]), (&json!("start"), &json!("accepted")), "{load}");
    assert_eq!(load["files"], json!([file.display().to_string()]));
    assert_eq!(change(&load, "ntp_server.stratum").unwrap()["to"], 3);
    assert_eq!(change(&load, "monitoring.token").unwrap()["to"], "<redacted>");
    assert!(load["time"].as_str().unwrap().ends_with('Z'));
    let privileges = wait_event(&audit, "privileges", |e| e["event"] == "privileges");
    assert!(privileges["capabilities"].is_array() || privileges["capabilities"] == "all", "{privileges}");

    // API access with a token: path, client, result; probes are not audited.
    assert_eq!(common::http_get(api, "/api/v1/status", Some(TOKEN)).0, 200);
    assert_eq!(common::http_get(api, "/api/v1/clients", Some("guessed")).0, 401);
    assert_eq!(common::http_get(api, "/metrics", None).0, 401);
    assert_eq!(common::http_get(api, "/healthz", None).0, 200);
    let ok = wait_event(&audit, "token access", |e| e["event"] == "api_access" && e["path"] == "/api/v1/status");
    assert_eq!((&ok["token"], &ok["status"], &ok["client"]), (&json!("valid"), &json!(200), &json!("127.0.0.1")));
    let bad = wait_event(&audit, "refused access", |e| e["event"] == "api_access" && e["path"] == "/api/v1/clients");
    assert_eq!((&bad["token"], &bad["status"]), (&json!("invalid"), &json!(401)));
    let none = wait_event(&audit, "tokenless access", |e| e["event"] == "api_access" && e["path"] == "/metrics");
    assert_eq!(none["token"], "missing");
    assert!(!events(&audit).iter().any(|e| e["path"] == "/healthz"));

    // An accepted reload: what changed, and the key file's new key ids.
    std::fs::write(&keys, format!("{KEY_1}\n{KEY_2}\n")).unwrap();
    std::fs::write(&file, config(4, &keys)).unwrap();
    daemon.signal("HUP").unwrap();
    let reload = wait_event(&audit, "accepted reload", |e| e["event"] == "config_reload");
    assert_eq!((&reload["trigger"], &reload["result"]), (&json!("SIGHUP"), &json!("accepted")), "{reload}");
    assert_eq!(reload["changes"], json!([{ "key": "ntp_server.stratum", "from": 3, "to": 4 }]));
    let keys_event = wait_event(&audit, "key file change", |e| e["event"] == "key_file_change");
    assert_eq!((&keys_event["keys_before"], &keys_event["keys_after"]), (&json!([1]), &json!([1, 2])));

    // Refused: a file that does not parse, then one that names a missing key file.
    std::fs::write(&file, "[network]\nlisten_port = \"x\"\n").unwrap();
    daemon.signal("HUP").unwrap();
    let refused = wait_event(&audit, "refused reload", |e| e["event"] == "config_reload" && e["result"] == "refused");
    assert!(refused["reason"].as_str().unwrap().contains("listen_port"), "{refused}");
    std::fs::write(&file, config(5, &dir.join("missing.keys"))).unwrap();
    daemon.signal("HUP").unwrap();
    let refused = wait_event(&audit, "refused preflight", |e| {
        e["event"] == "config_reload" && e["result"] == "refused" && e["changes"].is_array()
    });
    assert!(refused["reason"].as_str().unwrap().contains("missing.keys"), "{refused}");
    assert_eq!(change(&refused, "ntp_server.stratum").unwrap()["to"], 5);
    assert_eq!(ntp_test_support::sntp_probe(ntp, 4, Duration::from_secs(2)).unwrap().stratum, 4, "still in force");

    let text = std::fs::read_to_string(&audit).unwrap();
    for secret in [TOKEN, "00112233445566778899", "0f0e0d0c0b0a0908"] {
        assert!(!text.contains(secret), "the audit log holds a secret:\n{text}");
    }
    eprintln!("{} audit lines, e.g. {}", text.lines().count(), text.lines().next().unwrap());
    daemon.signal("TERM").unwrap();
    daemon.wait_exit(Duration::from_secs(10)).unwrap();
}
