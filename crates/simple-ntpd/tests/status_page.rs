//! The status page and its data through the real daemon: `GET /` under the
//! API's access rules (the token may come in the page's query, the API
//! still wants the header), `/api/v1/history` from a daemon that follows an
//! upstream simple-ntpd (virtual clock) checked against docs/openapi.yaml,
//! and `simple-ntpd status --watch` on a pipe, on a terminal, and stopped
//! with Ctrl-C. The page in a real browser is scripts/suites/status-page.sh.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ntp_test_support::{free_tcp_port, run_bounded, sntp_probe, DaemonProcess, TempDir};

const TOKEN: &str = "page-t0ken";

/// An upstream simple-ntpd at stratum 1 and a follower (virtual clock,
/// API with a token) that has synchronised to it and recorded history
/// with the upstream's offset series.
struct Pair {
    _upstream: common::Running,
    follower: DaemonProcess,
    ntp: SocketAddr,
    api: SocketAddr,
    upstream: SocketAddr,
    _dir: TempDir,
}

fn start_pair() -> Pair {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let upstream = common::start(ip, 0, 1, "[monitoring]\nenabled = false\n");
    let ntp = SocketAddr::new(ip, ntp_test_support::free_udp_port(ip));
    let api = SocketAddr::new(ip, free_tcp_port(ip));
    let dir = TempDir::new("status-page").unwrap();
    let config = dir
        .write(
            "follower.toml",
            &format!(
                "[network]\nlisten_address = \"{ip}\"\nlisten_port = {}\n\
                 [[sources.servers]]\naddress = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = 1\n\
                 [clock]\ndiscipline = \"virtual\"\n\
                 [monitoring]\nlisten = \"{api}\"\ntoken = \"{TOKEN}\"\n",
                ntp.port(),
                upstream.addr
            ),
        )
        .unwrap();
    let mut follower = DaemonProcess::spawn(common::bin(), ["run", "-c", config.to_str().unwrap()]).unwrap();
    follower.wait_until_serving(ntp, Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);
    let upstream_addr = upstream.addr;
    Pair { _upstream: upstream, follower, ntp, api, upstream: upstream_addr, _dir: dir }
}

fn history(api: SocketAddr, range: &str) -> serde_json::Value {
    let (code, body) = common::http_get(api, &format!("/api/v1/history?range={range}"), Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits (bounded) until the history holds `n` synchronised samples with
/// the upstream's offset.
fn wait_for_history(p: &Pair, n: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = history(p.api, "hour");
        let synced = doc["offset_seconds"].as_array().unwrap().iter().filter(|v| v.is_number()).count();
        let upstream = doc["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["address"] == p.upstream.to_string())
            .map(|s| s["offset_seconds"].as_array().unwrap().iter().filter(|v| v.is_number()).count())
            .unwrap_or(0);
        if synced >= n && upstream >= n {
            return doc;
        }
        assert!(Instant::now() < deadline, "no {n} synchronised samples in time: {doc:#}\n{}", p.follower.log());
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_page_follows_the_api_access_rules() {
    let p = start_pair();
    // Without the token: refused, page and API alike.
    let (code, _) = common::http_get(p.api, "/", None);
    assert_eq!(code, 401);
    let (code, _) = common::http_get(p.api, "/?token=wrong", None);
    assert_eq!(code, 401);
    // The token in the page's address opens the page, not the API.
    let (code, html) = common::http_get(p.api, &format!("/?token={TOKEN}"), None);
    assert_eq!(code, 200);
    assert!(html.starts_with("<!doctype html>") && html.contains("id=\"chart-offset\""), "{html}");
    assert!(html.contains("Authorization: 'Bearer ' + token"), "the script passes the token on");
    let (code, _) = common::http_get(p.api, &format!("/api/v1/status?token={TOKEN}"), None);
    assert_eq!(code, 401, "the API takes the token from the header only");
    // The header works for the page too (curl, a reverse proxy).
    let (code, _) = common::http_get(p.api, "/", Some(TOKEN));
    assert_eq!(code, 200);

    let resp = ureq::get(&format!("http://{}/?token={TOKEN}", p.api)).call().unwrap();
    let csp = resp.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(resp.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

#[test]
fn history_of_a_daemon_with_an_upstream_matches_the_openapi_document() {
    let p = start_pair();
    // Rates are differences between samples: the traffic below must come
    // after the first sample, or (on a loaded machine) it is absorbed in it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while history(p.api, "hour")["time"].as_array().is_none_or(|t| t.is_empty()) {
        assert!(Instant::now() < deadline, "no history sample: {}", p.follower.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..5 {
        sntp_probe(p.ntp, 4, Duration::from_secs(2)).unwrap();
    }
    ntp_test_support::send_raw(p.ntp, &[0u8; 10], Duration::from_millis(100));
    let doc = wait_for_history(&p, 2);
    common::assert_matches_openapi("History", &doc);
    assert_eq!(doc["interval_seconds"], 5);
    assert_eq!(doc["capacity"], 720);
    let times: Vec<f64> = doc["time"].as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "oldest first: {times:?}");
    let now = ntp_test_support::unix_now();
    assert!((now - times.last().unwrap()).abs() < 30.0, "sampled now, on the host clock");
    assert!(doc["stratum"].as_array().unwrap().iter().any(|s| s == 2), "{doc:#}");
    // The probes and the short datagram show up as rates once a sample after them exists.
    let deadline = Instant::now() + Duration::from_secs(20);
    let doc = loop {
        let doc = history(p.api, "hour");
        if doc["dropped_per_second"]["too_short"].is_array() {
            break doc;
        }
        assert!(Instant::now() < deadline, "no too_short drop rate: {doc:#}");
        std::thread::sleep(Duration::from_millis(500));
    };
    common::assert_matches_openapi("History", &doc);
    let requests: f64 = doc["requests_per_second"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).sum();
    assert!(requests > 0.0, "{doc:#}");

    let day = history(p.api, "day");
    common::assert_matches_openapi("History", &day);
    assert_eq!(day["interval_seconds"], 300);
    assert_eq!(day["time"].as_array().unwrap().len(), 1, "the five minutes in progress");

    let (code, body) = common::http_get(p.api, "/api/v1/history?range=week", Some(TOKEN));
    assert_eq!(code, 400);
    common::assert_matches_openapi("Error", &serde_json::from_str(&body).unwrap());
}

fn watch_cmd(p: &Pair, extra: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(["status", "--watch", "--api", &p.api.to_string(), "--token", TOKEN]).args(extra);
    cmd.env_remove("SIMPLE_NTPD_CONFIG");
    cmd
}

#[test]
fn status_watch_on_a_pipe_a_terminal_and_ctrl_c() {
    let p = start_pair();
    wait_for_history(&p, 2);

    // A pipe: frames one after another, no escape codes.
    let out = run_bounded(&mut watch_cmd(&p, &["--count", "2", "--interval", "0.2"]), Duration::from_secs(30)).unwrap();
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.matches("Ctrl-C quits").count(), 2, "{}", out.stdout);
    assert!(!out.stdout.contains('\x1b'), "escape codes on a pipe: {:?}", out.stdout);
    assert!(out.stdout.contains("Synchronised to 127.0.0.1 at stratum 2"), "{}", out.stdout);
    assert!(out.stdout.contains(&p.upstream.to_string()), "the sources table: {}", out.stdout);
    let offset_line = out.stdout.lines().find(|l| l.trim_start().starts_with("offset ") && l.contains('…'));
    assert!(offset_line.is_some_and(|l| l.chars().any(|c| ('▁'..='█').contains(&c))), "a sparkline: {}", out.stdout);

    // --json: one status document per line.
    let out =
        run_bounded(&mut watch_cmd(&p, &["--count", "2", "--interval", "0.2", "--json"]), Duration::from_secs(30))
            .unwrap();
    assert!(out.success(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for l in lines {
        common::assert_matches_openapi("Status", &serde_json::from_str(l).unwrap());
    }

    // A terminal (script(1) gives it a pseudo-terminal): each frame clears the screen.
    let inner =
        format!("{} status --watch --count 2 --interval 0.2 --api {} --token {TOKEN}", common::bin().display(), p.api);
    let mut script = Command::new("script");
    script.args(["-qec", &inner, "/dev/null"]).env("NO_COLOR", "1");
    let out = run_bounded(&mut script, Duration::from_secs(30)).unwrap();
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout.matches("\x1b[H\x1b[2J").count(), 2, "{:?}", out.stdout);

    // Ctrl-C between frames: a clean exit, promptly.
    let mut child = watch_cmd(&p, &["--interval", "30"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    std::thread::sleep(Duration::from_millis(1500)); // the first frame is out, then it waits 30 s
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still running 5 s after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = reader.join().unwrap();
    assert_eq!(text.matches("Ctrl-C quits").count(), 1, "{text}");

    // An unreachable daemon: the frame says so; --count ends with exit 2.
    let dead = SocketAddr::new(p.api.ip(), free_tcp_port(p.api.ip())).to_string();
    let mut cmd = Command::new(common::bin());
    cmd.args(["status", "--watch", "--count", "1", "--api", &dead]);
    let out = run_bounded(&mut cmd, Duration::from_secs(30)).unwrap();
    assert_eq!(out.status.and_then(|s| s.code()), Some(2), "{}", out.describe());
    assert!(out.stdout.contains("cannot reach the daemon"), "{}", out.stdout);
}
