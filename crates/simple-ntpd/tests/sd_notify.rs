//! The service manager's view (`Type=notify` in
//! deploy/systemd/simple-ntpd.service): the daemon is given a
//! `NOTIFY_SOCKET` the test reads, as systemd would, and a watchdog
//! interval in `WATCHDOG_USEC`. READY=1 comes once it serves, STATUS= follows
//! the serving state, WATCHDOG=1 comes at half the interval, a reload is
//! framed by RELOADING=1 and READY=1, and SIGTERM sends STOPPING=1.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use ntp_test_support::{free_tcp_port, free_udp_port, sntp_probe, DaemonProcess, TempDir};

/// The socket systemd would listen on.
struct NotifySocket {
    socket: UnixDatagram,
    _dir: TempDir,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = TempDir::new("notify").unwrap();
        common::readable_like_etc(dir.path());
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        // The daemon sends after dropping root, as systemd's socket allows.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        NotifySocket { socket, _dir: dir, path }
    }

    /// The next message, within `wait`.
    fn next(&self, wait: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Messages until one contains `needle` (bounded by `within`); all of them.
    fn until(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.next(deadline.saturating_duration_since(Instant::now())) {
                let done = m.contains(needle);
                seen.push(m);
                if done {
                    return seen;
                }
            }
        }
        panic!("no {needle:?} within {within:?}; got {seen:?}");
    }
}

#[test]
fn readiness_status_watchdog_reload_and_stop_reach_the_service_manager() {
    let notify = NotifySocket::bind();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ntp = SocketAddr::new(ip, free_udp_port(ip));
    let api = SocketAddr::new(ip, free_tcp_port(ip));
    let dir = TempDir::new("notify-config").unwrap();
    common::readable_like_etc(dir.path());
    let config = dir
        .write(
            "c.toml",
            &format!("[ntp_server]\nstratum = 3\n[monitoring]\nlisten = \"{api}\"\n[development]\nenable_test_endpoints = true\n"),
        )
        .unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", config.to_str().unwrap(), "--listen", &ntp.to_string()]);
    cmd.env_remove("SIMPLE_NTPD_CONFIG").env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "1000000");
    let mut daemon = DaemonProcess::spawn_command(cmd).unwrap();

    // READY once serving: the first message, and NTP and the API answer then.
    let first = notify.next(Duration::from_secs(10)).unwrap_or_else(|| panic!("no message\n{}", daemon.log()));
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    assert!(first.contains("STATUS=local reference, stratum 3"), "{first:?}");
    assert_eq!(sntp_probe(ntp, 4, Duration::from_secs(1)).unwrap().stratum, 3, "serving when READY=1 arrives");
    assert_eq!(common::http_get(api, "/readyz", None).0, 200);

    // WATCHDOG=1 every half second or so (WatchdogSec=1s).
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2600) {
        if notify.next(Duration::from_millis(200)).is_some_and(|m| m.contains("WATCHDOG=1")) {
            pings += 1;
        }
    }
    assert!((3..=8).contains(&pings), "{pings} watchdog pings in 2.6 s (expected about 5)");

    // STATUS= follows the serving state (here an injected fault).
    let (code, body) =
        common::http_send(api, "POST", "/test/fault", Some(r#"{"fault":"unsynchronised","duration_seconds":2}"#), None);
    assert_eq!(code, 201, "{body}");
    notify.until("STATUS=unsynchronised, test faults: unsynchronised", Duration::from_secs(3));
    notify.until("STATUS=local reference, stratum 3", Duration::from_secs(5));

    // A reload: RELOADING=1 with the monotonic time, then READY=1 again.
    daemon.signal("HUP").unwrap();
    let seen = notify.until("RELOADING=1", Duration::from_secs(5));
    let reloading = seen.last().unwrap();
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    notify.until("READY=1", Duration::from_secs(5));

    daemon.signal("TERM").unwrap();
    notify.until("STOPPING=1", Duration::from_secs(5));
    assert!(daemon.wait_exit(Duration::from_secs(10)).unwrap().success());
}

#[test]
fn without_a_notify_socket_nothing_is_sent_and_nothing_breaks() {
    let (run, api) = common::start_with_api(4, "");
    assert_eq!(common::http_get(api, "/readyz", None).0, 200);
    assert!(!run.daemon.log().contains("cannot notify the service manager"), "{}", run.daemon.log());
}
