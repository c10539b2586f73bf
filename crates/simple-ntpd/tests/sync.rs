//! Keeping time from upstream sources through the real daemon (virtual
//! clock; the system clock is never touched): an upstream that runs fast and
//! ahead, a real chronyd, and a falseticker among honest servers.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_proto::packet::{LeapIndicator, ReferenceId};
use ntp_proto::server::{parse_request, write_reply, ServerState};
use ntp_proto::{NtpDuration, NtpShort, NtpTimestamp};
use ntp_test_support::{chronyd_path, free_udp_port, peer_or_skip, sntp_probe, ChronydServer, ChronydServerOpts};

/// A stratum-1 server on loopback whose clock is the system clock plus
/// `offset` seconds, running `ppm` fast from its start.
struct FakeUpstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn system_now() -> NtpTimestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos())
}

impl FakeUpstream {
    fn start(offset: f64, ppm: f64) -> FakeUpstream {
        Self::start_with_leap(offset, ppm, LeapIndicator::NoWarning)
    }

    fn start_with_leap(offset: f64, ppm: f64, leap: LeapIndicator) -> FakeUpstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let start = system_now();
        let thread = std::thread::spawn(move || {
            let fake =
                |t: NtpTimestamp| t + NtpDuration::from_seconds(offset + ppm * 1e-6 * t.since(start).to_seconds());
            let mut buf = [0u8; 512];
            let mut out = [0u8; 512];
            let deadline = Instant::now() + Duration::from_secs(300);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let rx = fake(system_now());
                let Ok(req) = parse_request(&buf[..n], from.port()) else { continue };
                let state = ServerState {
                    leap,
                    stratum: 1,
                    precision: -24,
                    reference_id: ReferenceId::from_ascii("GPS"),
                    reference_time: rx,
                    root_delay: NtpShort::ZERO,
                    root_dispersion: NtpShort::from_seconds(1e-5),
                    dispersion_rate: ServerState::PHI,
                };
                let Ok(p) = write_reply(&req, rx, &state, &mut out) else { continue };
                let len = p.finish(&mut out, fake(system_now()));
                let _ = sock.send_to(&out[..len], from);
            }
        });
        FakeUpstream { addr, stop, thread: Some(thread) }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sources_toml(addrs: &[SocketAddr]) -> String {
    let mut s = String::from("[clock]\ndiscipline = \"virtual\"\n[monitoring]\nenabled = false\n");
    for a in addrs {
        s.push_str(&format!("[[sources.servers]]\naddress = \"{a}\"\niburst = true\nminpoll = 0\nmaxpoll = 2\n"));
    }
    s
}

/// Starts the daemon with sources; waits until it serves (it answers with
/// leap 3 until synchronised, which the probe accepts as a reply).
fn start_synced_daemon(extra: &str) -> common::Running {
    common::start("127.0.0.1".parse().unwrap(), 0, 3, extra)
}

/// Served-time difference between two servers, seconds (min-delay of a few
/// probes each, to keep scheduling noise out).
fn offset_of(addr: SocketAddr) -> (f64, ntp_test_support::ProbeReply) {
    let b = common::min_delay_probe(addr, 5);
    (b.offset, b)
}

fn wait_until_tracking(
    daemon: SocketAddr,
    reference: SocketAddr,
    within: f64,
    timeout: Duration,
) -> (f64, ntp_test_support::ProbeReply) {
    let deadline = Instant::now() + timeout;
    let mut last = (f64::NAN, None);
    while Instant::now() < deadline {
        let (ours, reply) = offset_of(daemon);
        let (theirs, _) = offset_of(reference);
        let diff = ours - theirs;
        if reply.li != 3 && diff.abs() < within {
            return (diff, reply);
        }
        last = (diff, Some(reply));
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("served time never came within {within} s of {reference}: last difference {:?}, reply {:?}", last.0, last.1);
}

#[test]
fn follows_an_upstream_that_is_ahead_and_fast() {
    let up = FakeUpstream::start(0.2, 10.0);
    let run = start_synced_daemon(&sources_toml(&[up.addr]));
    let started = Instant::now();
    let (diff, reply) = wait_until_tracking(run.addr, up.addr, 1e-3, Duration::from_secs(75));
    eprintln!(
        "tracked the +0.2 s / 10 ppm upstream within {:.1} µs after {:.0} s",
        diff * 1e6,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(reply.stratum, 2, "{}", run.daemon.log());
    assert_eq!(reply.refid, [127, 0, 0, 1]);
    assert_ne!(reply.li, 3);
    // The acceptance point: 75 s after start, still within 1 ms while the
    // upstream keeps running 10 ppm fast.
    std::thread::sleep(Duration::from_secs(75).saturating_sub(started.elapsed()));
    let (ours, reply) = offset_of(run.addr);
    let (theirs, _) = offset_of(up.addr);
    eprintln!("at 75 s: {:.1} µs from the upstream", (ours - theirs) * 1e6);
    assert!((ours - theirs).abs() < 1e-3, "drifted apart: {} s", ours - theirs);
    assert_eq!((reply.stratum, reply.refid, reply.li != 3), (2, [127, 0, 0, 1], true));
}

#[test]
fn follows_a_real_chronyd_within_200_microseconds() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let chronyd = ChronydServer::start(ChronydServerOpts {
        bind_ip: ip,
        port: free_udp_port(ip),
        local_stratum: 2,
        extra_config_lines: vec![],
    })
    .unwrap();
    let run = start_synced_daemon(&sources_toml(&[chronyd.addr()]));
    let (diff, reply) = wait_until_tracking(run.addr, chronyd.addr(), 200e-6, Duration::from_secs(60));
    eprintln!("served time within {:.1} µs of chronyd", diff * 1e6);
    assert_eq!(reply.stratum, 3);
}

#[test]
fn a_falseticker_among_honest_servers_is_ignored() {
    let honest: Vec<FakeUpstream> = (0..3).map(|_| FakeUpstream::start(0.0, 0.0)).collect();
    let liar = FakeUpstream::start(3600.0, 0.0);
    let mut addrs: Vec<SocketAddr> = honest.iter().map(|u| u.addr).collect();
    addrs.push(liar.addr);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let api = SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let toml =
        sources_toml(&addrs).replace("[monitoring]\nenabled = false\n", &format!("[monitoring]\nlisten = \"{api}\"\n"));
    let run = start_synced_daemon(&toml);
    let (diff, _) = wait_until_tracking(run.addr, honest[0].addr, 2e-3, Duration::from_secs(60));
    eprintln!("with a falseticker 1 h ahead: served time {:.1} µs from the honest servers", diff * 1e6);
    common::wait_for_http(api);
    let (_, body) = common::http_get(api, "/api/v1/sources", None);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    common::assert_matches_openapi("Sources", &doc);
    let liar_state = doc["sources"].as_array().unwrap().iter().find(|s| s["address"] == liar.addr.to_string()).unwrap()
        ["state"]
        .clone();
    assert_eq!(liar_state, "falseticker", "{doc:#}");
    let (_, metrics) = common::http_get(api, "/metrics", None);
    assert!(metrics.contains("ntp_source_state{"), "{metrics}");
    // The per-source families too, with four sources in three states.
    common::assert_promtool_clean(&metrics);
}

#[test]
fn local_fallback_serves_the_local_stratum_when_no_source_answers() {
    let silent = free_udp_port("127.0.0.1".parse().unwrap());
    let toml = format!(
        "{}[server.local]\nenabled = true\nstratum = 9\n",
        sources_toml(&[SocketAddr::from(([127, 0, 0, 1], silent))])
    );
    let api =
        SocketAddr::new("127.0.0.1".parse().unwrap(), ntp_test_support::free_tcp_port("127.0.0.1".parse().unwrap()));
    let run = start_synced_daemon(
        &toml.replace("[monitoring]\nenabled = false\n", &format!("[monitoring]\nlisten = \"{api}\"\n")),
    );
    // The sync loop publishes the fallback just after serving starts (on a
    // loaded machine the first replies may precede it): wait for it, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
        if r.stratum == 9 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(r.stratum, 9, "{}", run.daemon.log());
    assert_eq!(r.li, 0);
    // Operators see that this is the fallback, not synchronised time.
    common::wait_for_http(api);
    let (code, body) = common::http_get(api, "/readyz", None);
    let probe: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, probe["mode"].as_str()), (200, Some("local_fallback")), "{body}");
    let (_, body) = common::http_get(api, "/api/v1/status", None);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["mode"], "local_fallback", "{body}");
    assert_eq!(status["stratum"], 9, "{body}");
}

#[test]
fn an_authenticated_source_is_used_only_with_the_right_key() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = ntp_test_support::TempDir::new("src-key").unwrap();
    let good = dir.write("keys", "9 AES128 HEX:00112233445566778899AABBCCDDEEFF\n").unwrap();
    let wrong = dir.write("wrong", "9 AES128 HEX:FFEEDDCCBBAA99887766554433221100\n").unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let chronyd = ChronydServer::start(ChronydServerOpts {
        bind_ip: ip,
        port: free_udp_port(ip),
        local_stratum: 6,
        extra_config_lines: vec![format!("keyfile {}", good.display())],
    })
    .unwrap();
    let toml = |keyfile: &std::path::Path| {
        format!(
            "{}key = 9\n[security.authentication]\nkey_file = \"{}\"\n",
            sources_toml(&[chronyd.addr()]),
            keyfile.display()
        )
    };
    // The right key: synchronised to chronyd (stratum 6 + 1).
    let run = start_synced_daemon(&toml(&good));
    let (_, reply) = wait_until_tracking(run.addr, chronyd.addr(), 1e-3, Duration::from_secs(30));
    assert_eq!(reply.stratum, 7, "{}", run.daemon.log());
    drop(run);
    // A wrong secret: chronyd's replies fail the MAC check and are ignored.
    let mut run = start_synced_daemon(&toml(&wrong));
    std::thread::sleep(Duration::from_secs(8));
    let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    assert_eq!((r.li, r.stratum), (3, 0), "synchronised despite a wrong key\n{}", run.daemon.log());
    // The operator fixes the secret under the same key id and reloads: the
    // new key material must reach the sources (same ids are not same keys).
    use std::os::unix::fs::PermissionsExt;
    common::readable_like_etc(dir.path());
    common::readable_like_etc(run.dir.path());
    let fixed = dir.write("fixed", "9 AES128 HEX:00112233445566778899AABBCCDDEEFF\n").unwrap();
    std::fs::set_permissions(&fixed, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&fixed, &wrong).unwrap();
    run.daemon.signal("HUP").unwrap();
    let (_, reply) = wait_until_tracking(run.addr, chronyd.addr(), 1e-3, Duration::from_secs(30));
    assert_eq!(reply.stratum, 7, "{}", run.daemon.log());
}

/// A source that answers DENY (here another simple-ntpd whose access rules
/// refuse us, with `deny_kod`) is demobilised: no longer polled or counted,
/// and the operator is told why.
#[test]
fn a_source_that_answers_deny_is_dropped_and_reported() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let upstream = common::start(
        ip,
        0,
        2,
        "[monitoring]\nenabled = false\n[security]\ndeny_kod = true\n[[security.access]]\nnetwork = \"127.0.0.0/8\"\npermission = \"deny\"\n",
    );
    let kod = sntp_probe(upstream.addr, 4, Duration::from_secs(2)).unwrap();
    assert_eq!(kod.kiss_code().as_deref(), Some("DENY"), "{kod:?}");
    let mut run = start_synced_daemon(&sources_toml(&[upstream.addr]));
    run.daemon
        .wait_for_log("the source refuses us", Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.daemon.log()));
    assert!(run.daemon.log().contains("Deny"), "{}", run.daemon.log());
    let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    assert_eq!((r.li, r.stratum), (3, 0), "synchronised to a source that refuses us");
}

/// Adding a source by reload restarts the sources' loop; clients must not
/// see that: the previous state is served (as holdover) until the new
/// engine has synchronised, so no reply carries leap 3 meanwhile.
#[test]
fn a_reload_that_changes_sources_keeps_serving_synchronised_time() {
    let (a, b) = (FakeUpstream::start(0.0, 0.0), FakeUpstream::start(0.0, 0.0));
    let mut run = start_synced_daemon(&sources_toml(&[a.addr]));
    wait_until_tracking(run.addr, a.addr, 1e-3, Duration::from_secs(30));
    common::readable_like_etc(run.dir.path());
    let file = run.dir.join("simple-ntpd.toml");
    let config = std::fs::read_to_string(&file).unwrap();
    let tmp = run.dir.join("next.toml");
    std::fs::write(&tmp, config.replace(&sources_toml(&[a.addr]), &sources_toml(&[a.addr, b.addr]))).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    run.daemon.signal("HUP").unwrap();
    let reloaded = Instant::now();
    let end = reloaded + Duration::from_secs(6);
    let mut probes = 0;
    while Instant::now() < end {
        let r = sntp_probe(run.addr, 4, Duration::from_secs(1)).unwrap();
        assert_ne!(r.li, 3, "leap 3 served {:?} after the reload\n{}", reloaded.elapsed(), run.daemon.log());
        assert_eq!(r.stratum, 2);
        probes += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(probes > 50);
    assert!(run.daemon.log().contains("serving the previous state"), "{}", run.daemon.log());
    run.daemon.wait_for_log("configuration reloaded", Duration::from_secs(2)).unwrap();
}

/// A key exchange that hangs (an NTS-KE port that accepts and never
/// answers) runs off the sources' loop: the other source is polled and
/// the daemon synchronises long before that exchange times out (10 s).
#[test]
fn a_hanging_nts_key_exchange_does_not_hold_up_other_sources() {
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = FakeUpstream::start(0.0, 0.0);
    let toml = format!(
        "{}[[sources.servers]]\naddress = \"{}\"\nnts = true\n",
        sources_toml(&[up.addr]),
        blackhole.local_addr().unwrap()
    );
    let started = Instant::now();
    let run = start_synced_daemon(&toml);
    let (_, reply) = wait_until_tracking(run.addr, up.addr, 1e-3, Duration::from_secs(30));
    assert_eq!(reply.stratum, 2);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "synchronised only after {:?}: the hanging key exchange held the loop\n{}",
        started.elapsed(),
        run.daemon.log()
    );
    drop(blackhole);
}

/// A leap second announced by the sources is passed on to clients and
/// logged once.
#[test]
fn an_announced_leap_second_is_served_and_logged() {
    let up = FakeUpstream::start_with_leap(0.0, 0.0, LeapIndicator::Insert);
    let mut run = start_synced_daemon(&sources_toml(&[up.addr]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = sntp_probe(run.addr, 4, Duration::from_secs(1)).unwrap();
        if r.li == 1 {
            assert_eq!(r.stratum, 2);
            break;
        }
        assert!(Instant::now() < deadline, "leap insert never served: {r:?}\n{}", run.daemon.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    run.daemon.wait_for_log("announce a leap second", Duration::from_secs(5)).unwrap();
    assert_eq!(run.daemon.log().matches("announce a leap second").count(), 1, "{}", run.daemon.log());
}

/// The measured frequency survives a restart: written (atomically) at
/// shutdown to `server.driftfile`, read at the next start.
#[test]
fn the_drift_file_is_written_at_shutdown_and_read_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let up = FakeUpstream::start(0.0, 10.0);
    let state = ntp_test_support::TempDir::new("drift").unwrap();
    // Written after the privilege drop (nobody when the tests run as root).
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let drift = state.join("drift");
    let toml = format!("{}[server]\ndriftfile = \"{}\"\n", sources_toml(&[up.addr]), drift.display());
    let mut run = start_synced_daemon(&toml);
    wait_until_tracking(run.addr, up.addr, 1e-3, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    run.daemon.signal("TERM").unwrap();
    run.daemon.wait_exit(Duration::from_secs(5)).unwrap();
    let text = std::fs::read_to_string(&drift).unwrap_or_else(|e| panic!("{e}\n{}", run.daemon.log()));
    let nums: Vec<f64> = text.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (ppm, sd) = (nums[0], nums[1]);
    // A few seconds of samples: a rough estimate, honestly labelled.
    assert!(sd > 0.0 && sd < 100.0, "uncertainty {sd} ppm: nothing learned ({text})");
    assert!((ppm - 10.0).abs() <= 3.0 * sd, "{ppm} ± {sd} ppm for a 10 ppm fast upstream");

    let mut again = start_synced_daemon(&toml);
    let line = again.daemon.wait_for_log("read drift file", Duration::from_secs(5)).unwrap();
    assert!(line.contains(&format!("frequency_ppm={ppm}")), "{line}\nfile: {text}");
}

/// A pool given by name is resolved (off the loop) and its members polled.
#[test]
fn a_pool_name_is_resolved_and_used() {
    let up = FakeUpstream::start(0.0, 0.0);
    let toml = format!(
        "[clock]\ndiscipline = \"virtual\"\n[monitoring]\nenabled = false\n[[sources.pools]]\nname = \"localhost:{}\"\nservers = 2\niburst = true\n",
        up.addr.port()
    );
    let run = start_synced_daemon(&toml);
    let (_, reply) = wait_until_tracking(run.addr, up.addr, 1e-3, Duration::from_secs(30));
    assert_eq!(reply.stratum, 2);
    assert!(run.daemon.log().contains(&format!("address={}", up.addr)), "{}", run.daemon.log());
}

/// A source that falls silent is reported unreachable (once), and the
/// daemon goes on serving in holdover rather than stopping.
#[test]
fn a_source_that_falls_silent_is_reported_unreachable() {
    let up = FakeUpstream::start(0.0, 0.0);
    let toml = sources_toml(&[up.addr]).replace("maxpoll = 2", "maxpoll = 0");
    let mut run = start_synced_daemon(&toml);
    wait_until_tracking(run.addr, up.addr, 1e-3, Duration::from_secs(30));
    run.daemon.wait_for_log("source reachable", Duration::from_secs(5)).unwrap();
    drop(up);
    run.daemon
        .wait_for_log("source unreachable", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.daemon.log()));
    assert_eq!(run.daemon.log().matches("source unreachable").count(), 1, "{}", run.daemon.log());
    let r = sntp_probe(run.addr, 4, Duration::from_secs(2)).unwrap();
    assert_eq!((r.li, r.stratum), (0, 2), "holdover keeps serving the last state");
}
