//! Reference clocks through the real daemon (virtual clock; the system
//! clock is never touched): NMEA over a pseudo-terminal pair, chrony's SOCK
//! protocol, an NTP shared-memory segment written the way gpsd writes it,
//! and a PPS clock without a device or anything for the seconds (it used to
//! leave the engine without a source, serving leap 3). Each feeds readings
//! that are a known amount off the host clock and checks that the daemon
//! serves stratum 1 with the clock's refid, that far off the host clock.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ntp_proto::refclock::nmea::with_checksum;
use ntp_proto::refclock::shm::{ShmRecord, SHM_KEY_BASE};
use ntp_proto::refclock::sock::encode_64;
use simple_ntpd::refclock::shm_segment::{self, Segment};

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Runs `f(whole_second)` at `after` seconds past every whole second of the
/// system clock, until dropped (bounded to five minutes); a call that would
/// be more than 100 ms late is skipped.
struct EverySecond {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EverySecond {
    fn start(after: f64, mut f: impl FnMut(i64) + Send + 'static) -> EverySecond {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let now = unix_now();
                let next = now.floor() + 1.0 + after;
                std::thread::sleep(Duration::from_secs_f64((next - now).max(0.0)));
                // A receiver is never late by much; a writer descheduled on
                // a loaded machine would be (by up to seconds), and its
                // sentence would tell the daemon a wrong time: skip it.
                if unix_now() - next > 0.1 {
                    continue;
                }
                f(next.floor() as i64);
            }
        });
        EverySecond { stop, thread: Some(thread) }
    }
}

impl Drop for EverySecond {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits (bounded) until the daemon serves stratum 1; returns the best of
/// a few probes (offset = served time minus the host clock).
fn wait_for_stratum_1(run: &common::Running, timeout: Duration) -> ntp_test_support::ProbeReply {
    let deadline = Instant::now() + timeout;
    loop {
        let r = common::min_delay_probe(run.addr, 5);
        if r.li != 3 && r.stratum == 1 {
            return r;
        }
        assert!(Instant::now() < deadline, "never stratum 1; last reply {r:?}\n{}", run.daemon.log_context());
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Settled served offset: after the first sample the engine still slews;
/// the median of several probes a few seconds apart.
fn settled_offset(addr: SocketAddr) -> f64 {
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_secs(1));
            common::min_delay_probe(addr, 5).offset
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[2]
}

fn sources_json(api: SocketAddr) -> serde_json::Value {
    let out = common::cli(&["sources", "--api", &api.to_string(), "--json"]);
    assert!(out.success(), "{}", out.describe());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    common::assert_matches_openapi("Sources", &doc);
    doc
}

fn clock_row<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc}"))
}

#[test]
fn a_lone_pps_without_device_serves_the_local_reference_not_leap_3() {
    let (run, api) = common::start_with_api(
        10,
        "[clock]\ndiscipline = \"virtual\"\n[sources.hardware.pps]\nenabled = true\ndevice = \"/nonexistent/pps0\"\n",
    );
    std::thread::sleep(Duration::from_secs(2));
    let r = common::min_delay_probe(run.addr, 3);
    assert_eq!((r.li, r.stratum), (0, 10), "the host clock at the local stratum, not leap 3: {r:?}");
    let doc = sources_json(api);
    let pps = clock_row(&doc, "PPS");
    assert_eq!(pps["address"], "/nonexistent/pps0");
    assert_eq!(pps["refclock"]["status"], "error");
    assert!(pps["refclock"]["message"].as_str().unwrap().contains("No such file"), "{pps}");
    let (code, metrics) = common::http_get(api, "/metrics", None);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("ntp_source_refclock_status{address=\"/nonexistent/pps0\",name=\"PPS\",status=\"error\"} 1"),
        "{metrics}"
    );
    common::assert_promtool_clean(&metrics);
    assert!(run.daemon.log().contains("retrying"), "{}", run.daemon.log_context());
}

#[test]
fn nmea_from_a_pseudo_terminal_serves_stratum_1_within_50_ms() {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let mut master = std::fs::File::from(pty.master);
    // Sentences 5 ms after each second (the configured offset takes the
    // latency out), first without a fix; a garbage line and a truncated
    // sentence now and then: counted, logged once, never fatal.
    let fix = Arc::new(AtomicBool::new(false));
    let has_fix = fix.clone();
    let writer = EverySecond::start(0.005, move |sec| {
        let (date, time) = civil(sec);
        let (status, quality) = if has_fix.load(Ordering::Relaxed) { ("A", 1) } else { ("V", 0) };
        let mut burst = with_checksum(&format!("$GPRMC,{time}.00,{status},4807.038,N,01131.000,E,0.0,0.0,{date},,,A"));
        burst += &with_checksum(&format!("$GPGGA,{time}.00,4807.038,N,01131.000,E,{quality},08,0.9,545.4,M,46.9,M,,"));
        if sec % 4 == 0 {
            burst += "\u{7f}garbage line\r\n$GPRMC,1234\r\n";
        }
        let _ = master.write_all(burst.as_bytes());
    });
    let config = format!(
        "[clock]\ndiscipline = \"virtual\"\n[[sources.refclocks]]\ndriver = \"NMEA\"\npath = \"{}\"\nbaud = 9600\nrefid = \"GPS\"\noffset = 0.005\npoll = 2\n",
        slave.display()
    );
    let (run, api) = common::start_with_api(10, &config);
    // Without a fix: reported, and no time served from it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while clock_row(&sources_json(api), "GPS")["refclock"]["status"] != "no_fix" {
        assert!(Instant::now() < deadline, "no_fix never reported\n{}", run.daemon.log_context());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(common::min_delay_probe(run.addr, 3).li, 3, "nothing to serve without a fix");
    fix.store(true, Ordering::Relaxed);
    let r = wait_for_stratum_1(&run, Duration::from_secs(60));
    assert_eq!(r.refid_string(), "GPS");
    let offset = settled_offset(run.addr);
    eprintln!("NMEA over a pty: served minus host clock {:+.6} s", offset);
    assert!(offset.abs() < 0.050, "served time {offset} s off the host clock");
    let doc = sources_json(api);
    let gps = clock_row(&doc, "GPS");
    assert_eq!((gps["state"].as_str(), gps["stratum"].as_u64()), (Some("selected"), Some(0)));
    assert_eq!(gps["refclock"]["driver"], "NMEA");
    assert_eq!(gps["refclock"]["status"], "ok");
    assert!(gps["refclock"]["bad_input"].as_u64().unwrap() >= 2, "{gps}");
    let log = run.daemon.log();
    assert_eq!(log.matches("malformed input dropped").count(), 2, "once per kind (framing, field):\n{log}");
    assert!(log.contains("the receiver reports no fix"), "{log}");
    drop(writer);
}

#[test]
fn sock_samples_in_chronys_layout_are_served_with_their_offset() {
    let dir = ntp_test_support::TempDir::new("refclock-sock").unwrap();
    let path = dir.join("chrony.test.sock");
    let config = format!(
        "[clock]\ndiscipline = \"virtual\"\n[[sources.refclocks]]\ndriver = \"SOCK\"\npath = \"{}\"\nrefid = \"SOCK\"\npoll = 1\n",
        path.display()
    );
    let (run, api) = common::start_with_api(10, &config);
    wait_for_socket(&path);
    // The reference says true time is 10 ms ahead of the system clock.
    let target = path.clone();
    let sender = EverySecond::start(0.2, move |sec| {
        let s = UnixDatagram::unbound().unwrap();
        let now = unix_now();
        let _ = s.send_to(&encode_64(now.floor() as i64, ((now.fract()) * 1e6) as i64, 0.010, false, 0), &target);
        if sec % 3 == 0 {
            let _ = s.send_to(b"nonsense", &target);
            let _ = s.send_to(&[0u8; 40], &target);
        }
    });
    let r = wait_for_stratum_1(&run, Duration::from_secs(60));
    assert_eq!(r.refid_string(), "SOCK");
    let offset = settled_offset(run.addr);
    eprintln!("SOCK +10 ms: served minus host clock {:+.6} s", offset);
    assert!((offset - 0.010).abs() < 0.002, "served {offset} s, the samples said +0.010");
    let row = clock_row(&sources_json(api), "SOCK").clone();
    assert!(row["refclock"]["bad_input"].as_u64().unwrap() >= 2, "{row}");
    drop(sender);
}

fn wait_for_socket(path: &Path) {
    for _ in 0..100 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

/// Removes the test's segment whatever happens.
struct SegmentGuard(i32);

impl Drop for SegmentGuard {
    fn drop(&mut self) {
        shm_segment::remove(self.0);
    }
}

/// An SHM unit nobody uses (gpsd has 0 and 1): from the process id,
/// skipping units whose segment exists.
fn free_shm_unit() -> u32 {
    (0..100)
        .map(|i| 100 + (std::process::id() + i) % 150)
        .find(|u| Segment::exists(SHM_KEY_BASE + *u as i32) == Some(false))
        .expect("a free SHM unit")
}

#[test]
fn a_shared_memory_segment_written_like_gpsd_is_served_with_its_offset() {
    let unit = free_shm_unit();
    let key = SHM_KEY_BASE + unit as i32;
    let _guard = SegmentGuard(key);
    let config = format!(
        "[clock]\ndiscipline = \"virtual\"\n[[sources.refclocks]]\ndriver = \"SHM\"\nunit = {unit}\nperm = \"0600\"\nrefid = \"GPS\"\npoll = 1\n"
    );
    // The daemon creates the segment (as chronyd does), the writer attaches later.
    let (run, api) = common::start_with_api(10, &config);
    assert_eq!(Segment::exists(key), Some(true), "created by the daemon");
    let writer = Segment::open(key, 0o600).unwrap();
    let feeder = EverySecond::start(0.005, move |_| {
        // The reference says the system clock is 20 ms fast.
        let now = unix_now();
        let clock = now - 0.020;
        writer.write(&ShmRecord {
            mode: 1,
            clock_sec: clock.floor() as i64,
            clock_usec: (clock.fract() * 1e6) as i32,
            clock_nsec: (clock.fract() * 1e9) as u32,
            receive_sec: now.floor() as i64,
            receive_usec: (now.fract() * 1e6) as i32,
            receive_nsec: (now.fract() * 1e9) as u32,
            precision: -20,
            ..ShmRecord::default()
        });
    });
    let r = wait_for_stratum_1(&run, Duration::from_secs(60));
    assert_eq!(r.refid_string(), "GPS");
    let offset = settled_offset(run.addr);
    eprintln!("SHM -20 ms: served minus host clock {:+.6} s", offset);
    assert!((offset + 0.020).abs() < 0.002, "served {offset} s, the segment said -0.020");
    let row = clock_row(&sources_json(api), "GPS").clone();
    assert_eq!(
        (row["address"].as_str(), row["refclock"]["status"].as_str()),
        (Some(format!("SHM {unit}").as_str()), Some("ok"))
    );
    drop(feeder);
}

/// `ddmmyy` and `hhmmss` of Unix second `sec`.
fn civil(sec: i64) -> (String, String) {
    let days = sec.div_euclid(86_400);
    let sod = sec.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{d:02}{m:02}{:02}", y % 100), format!("{:02}{:02}{:02}", sod / 3600, sod / 60 % 60, sod % 60))
}

#[test]
fn civil_dates() {
    assert_eq!(civil(0), ("010170".into(), "000000".into()));
    assert_eq!(civil(1_767_225_599), ("311225".into(), "235959".into()));
    assert_eq!(civil(1_709_164_800 + 3723), ("290224".into(), "010203".into()));
}

#[test]
fn a_reload_that_restarts_the_engine_keeps_the_clocks_open() {
    use std::os::unix::fs::MetadataExt;
    let dir = ntp_test_support::TempDir::new("refclock-reload").unwrap();
    let path = dir.join("chrony.reload.sock");
    let clock = format!(
        "[clock]\ndiscipline = \"virtual\"\n[[sources.refclocks]]\ndriver = \"SOCK\"\npath = \"{}\"\nrefid = \"SOCK\"\npoll = 1\n",
        path.display()
    );
    let (mut run, api) = common::start_with_api(10, &clock);
    common::readable_like_etc(run.dir.path());
    wait_for_socket(&path);
    let inode = std::fs::metadata(&path).unwrap().ino();
    let target = path.clone();
    let _sender = EverySecond::start(0.2, move |_| {
        let now = unix_now();
        let s = UnixDatagram::unbound().unwrap();
        let _ = s.send_to(&encode_64(now.floor() as i64, (now.fract() * 1e6) as i64, 0.010, false, 0), &target);
    });
    wait_for_stratum_1(&run, Duration::from_secs(60));
    // Root is gone now: the socket could not be created again. A change
    // that restarts the engine must hand it the running driver.
    let file = run.dir.path().join("simple-ntpd.toml");
    let mut config = std::fs::read_to_string(&file).unwrap();
    config.push_str("\n[server.makestep]\nthreshold = 0.5\n");
    std::fs::write(&file, config).unwrap();
    let before = clock_row(&sources_json(api), "SOCK")["refclock"]["readings"].as_u64().unwrap();
    run.daemon.signal("HUP").unwrap();
    run.daemon.wait_for_log("configuration reloaded", Duration::from_secs(10)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = clock_row(&sources_json(api), "SOCK").clone();
        if row["state"] == "selected" && row["refclock"]["readings"].as_u64().unwrap() > before + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new engine never selected the clock: {row}\n{}",
            run.daemon.log_context()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "the same socket");
    let log = run.daemon.log();
    assert_eq!(log.matches("reference clock added").count(), 2, "registered with both engines:\n{log}");
    assert!(!log.contains("cannot create socket"), "{log}");
    wait_for_stratum_1(&run, Duration::from_secs(10));
    let offset = settled_offset(run.addr);
    assert!(
        (offset - 0.010).abs() < 0.002,
        "served {offset} s after the reload, the samples say +0.010\n{}",
        run.daemon.log()
    );
}
