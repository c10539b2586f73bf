//! `[sources] directory` through the real daemon (virtual clock): a source
//! file written while it runs is picked up without a reload and followed
//! until the daemon is synchronised to it; a malformed line is reported with
//! file and line and skipped; removing the file removes the source.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, Instant};

fn sources(api: std::net::SocketAddr) -> serde_json::Value {
    let (code, body) = common::http_get(api, "/api/v1/sources", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_sources_file_is_followed_while_the_daemon_runs_and_dropped_when_removed() {
    let upstream = common::start("127.0.0.1".parse().unwrap(), 0, 2, "");
    let dir = ntp_test_support::TempDir::new("simple-ntpd-sourcesdir").unwrap();
    // Readable by the user the daemon becomes after dropping root, like /run/simple-ntpd.
    common::readable_like_etc(dir.path());
    let sources_dir = dir.path().join("sources.d");
    let (mut client, api) = common::start_with_api(
        10,
        &format!("[clock]\ndiscipline = \"virtual\"\n[sources]\ndirectory = \"{}\"\n", sources_dir.display()),
    );
    // An empty (even missing) directory: a client without sources, not a local reference.
    let (_, status) = common::http_get(api, "/api/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["mode"], "unsynchronised", "{status}");
    assert_eq!(sources(api)["sources"].as_array().unwrap().len(), 0);

    std::fs::create_dir_all(&sources_dir).unwrap();
    std::fs::write(
        sources_dir.join("udhcpc.eth0.sources"),
        format!("# lease on eth0\nserver {} iburst\nserver 192.0.2.1 nonsense\n", upstream.addr),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let selected = loop {
        let doc = sources(api);
        let list = doc["sources"].as_array().unwrap().clone();
        assert!(list.len() <= 1, "the malformed line must be skipped: {doc}");
        if list.first().is_some_and(|s| s["state"] == "selected") {
            break list[0].clone();
        }
        assert!(Instant::now() < deadline, "never selected the directory's source: {doc}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(selected["address"], upstream.addr.to_string(), "{selected}");
    let (_, status) = common::http_get(api, "/api/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!((status["mode"].as_str(), status["reloads"].as_u64()), (Some("synchronised"), Some(0)), "{status}");

    std::fs::remove_file(sources_dir.join("udhcpc.eth0.sources")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sources(api)["sources"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the source stayed after its file was removed: {}", sources(api));
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = client.daemon.pid();
    assert!(client.daemon.is_running(), "the daemon (PID {pid}) must have kept running");
    let log = client.daemon.log();
    assert!(log.contains("udhcpc.eth0.sources:3: unknown option `nonsense`; line skipped"), "{log}");
    assert!(log.contains("sources directory changed"), "{log}");
    assert!(!log.contains("reloading configuration"), "{log}");
}
