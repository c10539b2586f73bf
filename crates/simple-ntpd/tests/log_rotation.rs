//! Log rotation the way logrotate does it (rename, then SIGUSR1; the shipped
//! deploy/debian/simple-ntpd.logrotate is run for real by
//! scripts/suites/debian.sh): while clients keep the daemon busy — numbered
//! API requests, each logged at debug level and audited, and NTP traffic —
//! the log file and the audit log are renamed and reopened five times, and
//! every request is found exactly once across the files.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_test_support::{build_request, free_tcp_port, free_udp_port, DaemonProcess, TempDir};

const CLIENTS: usize = 4;
const REQUESTS: usize = 300;
const ROTATIONS: usize = 5;

/// How often each request `(client, request)` appears in the files of `dir`
/// whose name starts with `prefix`, where a line names it as
/// `<marker><client>/<request><end>`; and how many files name any.
fn count(dir: &Path, prefix: &str, marker: &str, end: char) -> (HashMap<(usize, usize), usize>, usize) {
    let mut counts = HashMap::new();
    let mut files_with_lines = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut any = false;
        for line in text.lines() {
            let Some((_, rest)) = line.split_once(marker) else { continue };
            let Some((id, _)) = rest.split_once(end) else { continue };
            let Some((c, r)) = id.split_once('/') else { continue };
            *counts.entry((c.parse().unwrap(), r.parse().unwrap())).or_insert(0) += 1;
            any = true;
        }
        files_with_lines += usize::from(any);
    }
    (counts, files_with_lines)
}

#[test]
fn rotation_under_load_loses_no_line() {
    let dir = TempDir::new("rotation").unwrap();
    common::readable_like_etc(dir.path());
    let logs = dir.subdir("log").unwrap();
    // Writable by the user the daemon switches to, as LogsDirectory= makes it.
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ntp = SocketAddr::new(ip, free_udp_port(ip));
    let api = SocketAddr::new(ip, free_tcp_port(ip));
    let config = dir
        .write(
            "c.toml",
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {}\n[ntp_server]\nstratum = 3\n[monitoring]\nlisten = \"{api}\"\ntoken = \"rotation-token\"\n[logging]\nlevel = \"debug\"\noutput = \"file\"\nfile = \"{}\"\naudit_file = \"{}\"\n",
                ntp.port(),
                logs.join("simple-ntpd.log").display(),
                logs.join("audit.log").display()
            ),
        )
        .unwrap();
    let mut daemon = DaemonProcess::spawn(common::bin(), ["run", "-c", config.to_str().unwrap()]).unwrap();
    daemon.wait_until_serving(ntp, Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);

    let stop = Arc::new(AtomicBool::new(false));
    let ntp_answered = Arc::new(AtomicU64::new(0));
    let ntp_load = {
        let (stop, answered) = (stop.clone(), ntp_answered.clone());
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.connect(ntp).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut buf = [0u8; 128];
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                sock.send(&build_request(4, 1)).unwrap();
                if sock.recv(&mut buf).is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Requests come in ROTATIONS + 1 phases: a client starts its requests of
    // phase p only once the p-th rotation is done (the daemon has reopened
    // both files), and rotation k waits until phase k - 1 is half answered,
    // so rotations fall among the requests whatever the machine's load.
    let phase_len = REQUESTS.div_ceil(ROTATIONS + 1);
    let rotations_done = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (rotations_done, answered) = (rotations_done.clone(), answered.clone());
            std::thread::spawn(move || {
                for r in 0..REQUESTS {
                    let phase = (r / phase_len) as u64;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while rotations_done.load(Ordering::Acquire) < phase {
                        assert!(Instant::now() < deadline, "rotation {phase} never came");
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    let (code, _) = common::http_get(api, &format!("/rotation/{c}/{r}"), Some("rotation-token"));
                    assert_eq!(code, 404);
                    answered.fetch_add(1, Ordering::Release);
                }
            })
        })
        .collect();
    let started = Instant::now();
    for k in 1..=ROTATIONS {
        let half_of_phase = ((k - 1) * phase_len + phase_len / 2).min(REQUESTS) * CLIENTS;
        let deadline = Instant::now() + Duration::from_secs(60);
        while (answered.load(Ordering::Acquire) as usize) < half_of_phase {
            assert!(Instant::now() < deadline, "requests of phase {} stalled", k - 1);
            std::thread::sleep(Duration::from_millis(2));
        }
        for name in ["simple-ntpd.log", "audit.log"] {
            std::fs::rename(logs.join(name), logs.join(format!("{name}.{k}"))).unwrap();
        }
        daemon.signal("USR1").unwrap();
        // The daemon reopens on its own time: the next phase starts once
        // both files exist again (each rotation gets lines of its own).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(logs.join("simple-ntpd.log").exists() && logs.join("audit.log").exists()) {
            assert!(Instant::now() < deadline, "the daemon did not reopen its files after rotation {k}");
            std::thread::sleep(Duration::from_millis(2));
        }
        rotations_done.store(k as u64, Ordering::Release);
    }
    for c in clients {
        c.join().unwrap();
    }
    let busy = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    ntp_load.join().unwrap();
    // The log writer is a background thread: let it drain.
    std::thread::sleep(Duration::from_millis(500));
    daemon.signal("TERM").unwrap();
    daemon.wait_exit(Duration::from_secs(10)).unwrap();

    let (log_counts, log_files) = count(&logs, "simple-ntpd.log", "path=/rotation/", ' ');
    let (audit_counts, audit_files) = count(&logs, "audit.log", "\"path\":\"/rotation/", '"');
    let total = CLIENTS * REQUESTS;
    eprintln!(
        "{total} requests in {:.1} s with {} NTP replies alongside; {ROTATIONS} rotations: \
         log lines found {} in {log_files} files, audit lines {} in {audit_files} files",
        busy.as_secs_f64(),
        ntp_answered.load(Ordering::Relaxed),
        log_counts.values().sum::<usize>(),
        audit_counts.values().sum::<usize>(),
    );
    for (what, counts) in [("log", &log_counts), ("audit", &audit_counts)] {
        let missing: Vec<_> = (0..CLIENTS)
            .flat_map(|c| (0..REQUESTS).map(move |r| (c, r)))
            .filter(|k| counts.get(k) != Some(&1))
            .collect();
        assert!(
            missing.is_empty(),
            "{what}: {} requests not found exactly once, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    // The rotations happened while the requests were coming in: every
    // phase's lines are in a file of their own.
    assert!(
        log_files > ROTATIONS && audit_files > ROTATIONS,
        "lines in {log_files} log files and {audit_files} audit files"
    );
    let reopened = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .map(|t| t.matches("log files reopened").count())
        .sum::<usize>();
    assert_eq!(reopened, ROTATIONS);
}
