//! Safe reload: SIGHUP (and a file watch with enable_hot_reload) applies a
//! new configuration without dropping service; a configuration that fails
//! validation is refused and the running one stays.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_test_support::{build_request, free_udp_port, sntp_probe};

/// Closed-loop load: `threads` clients, one request in flight each; a
/// request not answered within 500 ms counts as lost.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(server: SocketAddr, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let handles = (0..threads)
            .map(|t| {
                let (stop, sent, answered) = (stop.clone(), sent.clone(), answered.clone());
                std::thread::spawn(move || {
                    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                    sock.connect(server).unwrap();
                    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                    let mut buf = [0u8; 128];
                    let mut n: u64 = (t as u64) << 48;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while !stop.load(Relaxed) && Instant::now() < deadline {
                        n += 1;
                        let req = build_request(4, n);
                        sock.send(&req).unwrap();
                        sent.fetch_add(1, Relaxed);
                        // Wait for our answer; ignore late answers to earlier requests.
                        loop {
                            match sock.recv(&mut buf) {
                                Ok(len) if len >= 48 && buf[24..32] == req[40..48] => {
                                    answered.fetch_add(1, Relaxed);
                                    break;
                                }
                                Ok(_) => continue,
                                Err(_) => break,
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, sent, answered, threads: handles }
    }

    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        (self.sent.load(Relaxed), self.answered.load(Relaxed))
    }
}

fn write_config(path: &std::path::Path, port: u16, stratum: u8, extra: &str) {
    let text = format!(
        "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n[ntp_server]\nstratum = {stratum}\n{extra}"
    );
    // Write-then-rename, as editors and config managers do.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Starts the daemon on 127.0.0.1:`port` from a configuration written by
/// [`write_config`] into a fresh directory it can re-read after dropping
/// privileges; returns once it serves at `stratum`. Keep the directory.
fn start_reloadable(
    name: &str,
    port: u16,
    stratum: u8,
    extra: &str,
) -> (ntp_test_support::TempDir, std::path::PathBuf, ntp_test_support::DaemonProcess) {
    let dir = ntp_test_support::TempDir::new(name).unwrap();
    common::readable_like_etc(dir.path());
    let file = dir.join("simple-ntpd.toml");
    write_config(&file, port, stratum, extra);
    let mut d = ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
    let served = d.wait_until_serving(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(10)).unwrap();
    assert_eq!(served.stratum, stratum);
    (dir, file, d)
}

#[test]
fn sighup_reloads_under_load_and_refuses_a_bad_config() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let api = SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let mon = format!("[monitoring]\nlisten = \"{api}\"\n");
    let (_dir, file, mut d) = start_reloadable("reload", port, 3, &mon);
    let addr = SocketAddr::new(ip, port);

    let load = Load::start(addr, 4);
    std::thread::sleep(Duration::from_millis(700));
    write_config(&file, port, 4, &mon);
    d.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    d.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let (sent, answered) = load.finish();
    assert!(sent > 1000, "load too light to mean anything: {sent}");
    let ratio = answered as f64 / sent as f64;
    eprintln!("reload under closed-loop load: answered {answered} of {sent} ({:.3}%)", ratio * 100.0);
    assert!(ratio >= 0.999, "answered {answered} of {sent} ({:.4}%) during reloads\n{}", ratio * 100.0, d.log());
    assert_eq!(sntp_probe(addr, 4, Duration::from_secs(2)).unwrap().stratum, 4);
    d.wait_for_log("configuration reloaded", Duration::from_secs(5)).unwrap();

    // A configuration that fails validation is refused; service goes on.
    std::fs::write(&file, format!("[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = \"not a port\"\n{mon}"))
        .unwrap();
    d.signal("HUP").unwrap();
    d.wait_for_log("reload refused", Duration::from_secs(5)).unwrap();
    assert!(d.is_running(), "{}", d.log());
    for _ in 0..5 {
        assert_eq!(sntp_probe(addr, 4, Duration::from_secs(2)).unwrap().stratum, 4);
    }
    let (_, body) = common::http_get(api, "/api/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(status["last_reload_error"].as_str().unwrap().contains("listen_port"), "{status}");
    assert_eq!(status["reloads"], 2);
}

#[test]
fn reload_moves_listeners_without_a_gap() {
    let ip = "127.0.0.1".parse().unwrap();
    let (p1, p2) = (free_udp_port(ip), free_udp_port(ip));
    let mon = "[monitoring]\nenabled = false\n";
    let (_dir, file, mut d) = start_reloadable("relisten", p1, 3, mon);
    std::fs::write(
        &file,
        format!(
            "[network]\nlisten_address = [\"127.0.0.1:{p1}\", \"127.0.0.1:{p2}\"]\n[ntp_server]\nstratum = 3\n{mon}"
        ),
    )
    .unwrap();
    d.signal("HUP").unwrap();
    d.wait_until_serving(SocketAddr::new(ip, p2), Duration::from_secs(5)).unwrap();
    assert!(sntp_probe(SocketAddr::new(ip, p1), 4, Duration::from_secs(1)).is_ok());
    // Drop the first address, and change worker count (listeners restart).
    std::fs::write(
        &file,
        format!("[network]\nlisten_address = \"127.0.0.1:{p2}\"\n[ntp_server]\nstratum = 5\n[performance]\nworker_threads = 3\n{mon}"),
    )
    .unwrap();
    d.signal("HUP").unwrap();
    d.wait_for_log("stopping listener", Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sntp_probe(SocketAddr::new(ip, p2), 4, Duration::from_secs(2)).unwrap().stratum, 5);
    assert!(sntp_probe(SocketAddr::new(ip, p1), 4, Duration::from_millis(300)).is_err(), "old listener still answers");
}

#[test]
fn hot_reload_follows_file_changes_without_a_signal() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let extra = "[development]\nenable_hot_reload = true\n[monitoring]\nenabled = false\n[logging]\nlevel = \"INFO\"\n";
    let (_dir, file, mut d) = start_reloadable("hot", port, 3, extra);
    let addr = SocketAddr::new(ip, port);
    std::thread::sleep(Duration::from_millis(1100)); // mtime granularity
    write_config(&file, port, 6, &extra.replace("INFO", "DEBUG"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if sntp_probe(addr, 4, Duration::from_secs(1)).map(|r| r.stratum) == Ok(6) {
            break;
        }
        assert!(Instant::now() < deadline, "stratum never changed\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = d.wait_for_log("configuration reloaded", Duration::from_secs(5)).unwrap();
    assert!(log.contains("configuration file changed"), "{log}");
    assert!(log.contains("log level DEBUG"), "{log}");
}

/// Moving the API to an address that cannot be bound keeps the old endpoint
/// answering; a later reload to a free address moves it.
#[test]
fn the_api_survives_a_reload_to_an_address_in_use() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let api = SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let taken = std::net::TcpListener::bind((ip, 0)).unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let (_dir, file, mut d) = start_reloadable("reload-api", port, 3, &format!("[monitoring]\nlisten = \"{api}\"\n"));
    common::wait_for_http(api);

    write_config(&file, port, 3, &format!("[monitoring]\nlisten = \"{taken_addr}\"\n"));
    d.signal("HUP").unwrap();
    d.wait_for_log("monitoring API stays on", Duration::from_secs(5)).unwrap();
    assert_eq!(common::http_get(api, "/healthz", None).0, 200, "{}", d.log());

    let moved = SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    write_config(&file, port, 3, &format!("[monitoring]\nlisten = \"{moved}\"\n"));
    d.signal("HUP").unwrap();
    common::wait_for_http(moved);
    assert_eq!(common::http_get(moved, "/healthz", None).0, 200);
    drop(taken);
}

/// Access rules change on reload: a client served before is refused after
/// a SIGHUP that denies its network, and served again when the rule goes.
#[test]
fn access_rules_change_on_reload() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let mon = "[monitoring]\nenabled = false\n";
    let (_dir, file, mut d) = start_reloadable("reload-acl", port, 3, mon);
    let server = SocketAddr::new(ip, port);
    let client_ip = ntp_test_support::spare_loopback_v4();
    let answered = || common::probe_from(client_ip.into(), server, 5, Duration::from_millis(300)).is_some();
    assert!(answered());
    let deny = format!("{mon}[[security.access]]\nnetwork = \"{client_ip}/32\"\npermission = \"deny\"\n");
    write_config(&file, port, 3, &deny);
    d.signal("HUP").unwrap();
    d.wait_for_log("configuration reloaded", Duration::from_secs(5)).unwrap();
    assert!(!answered(), "denied client still answered after the reload\n{}", d.log());
    write_config(&file, port, 3, mon);
    d.signal("HUP").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !answered() {
        assert!(std::time::Instant::now() < deadline, "not served again after the rule was removed\n{}", d.log());
    }
}
