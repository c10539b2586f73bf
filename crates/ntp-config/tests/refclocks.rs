//! Reference clocks: `[[sources.refclocks]]` with chrony's options, the
//! seed 002 hardware shorthands mapped onto it, and the checks between
//! entries.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::{err, load, ok};
use ntp_config::{PpsEdge, RefclockDriver};

#[test]
fn chrony_options_load_with_chrony_defaults() {
    let c = ok(r#"
[[sources.refclocks]]
driver = "SHM"
unit = 2
perm = "0644"
refid = "NMEA"
offset = 0.5
delay = 0.2
noselect = true

[[sources.refclocks]]
driver = "PPS"
path = "/dev/pps1"
lock = "NMEA"
edge = "clear"
rate = 2
prefer = true
trust = true
poll = 2
filter = 16
precision = 1e-7

[[sources.refclocks]]
driver = "sock"
path = "/run/chrony.ttyS0.sock"

[[sources.refclocks]]
driver = "NMEA"
path = "/dev/ttyUSB0"
baud = 115200
stratum = 2
"#)
    .config;
    let r = c.refclocks();
    assert_eq!(r.len(), 4);
    assert_eq!((r[0].driver, r[0].unit, r[0].perm_bits(), r[0].noselect), (RefclockDriver::Shm, Some(2), 0o644, true));
    assert_eq!((r[0].offset, r[0].delay), (0.5, 0.2));
    assert_eq!((r[1].lock.as_deref(), r[1].edge, r[1].rate), (Some("NMEA"), Some(PpsEdge::Clear), Some(2)));
    assert_eq!((r[1].prefer, r[1].trust, r[1].poll, r[1].filter, r[1].precision), (true, true, 2, 16, Some(1e-7)));
    // Defaults: poll 4, filter 64, delay 1 ns, stratum 0, refid as chrony.
    assert_eq!((r[2].poll, r[2].filter, r[2].delay, r[2].stratum), (4, 64, 1e-9, 0));
    assert_eq!(r[2].refid.as_deref(), Some("SOC2"));
    assert_eq!((r[3].baud, r[3].stratum, r[3].refid.as_deref()), (Some(115200), 2, Some("NME3")));
    assert!(!c.is_local_reference());
    assert!(!c.pps_on_local_clock());
}

#[test]
fn seed_002_shorthands_are_entries_of_the_same_list() {
    // chrony: refclock SHM 0 refid GPS prefer / refclock PPS /dev/pps0 lock GPS prefer
    let c = ok("[sources.hardware.gps]\nenabled = true\nprefer = true\n[sources.hardware.pps]\nenabled = true\ndevice = \"/dev/pps3\"\n")
        .config;
    let r = c.refclocks();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].driver, r[0].unit, r[0].refid.as_deref(), r[0].prefer),
        (RefclockDriver::Shm, Some(0), Some("GPS"), true)
    );
    assert_eq!(r[1].driver, RefclockDriver::Pps);
    assert_eq!(r[1].path.as_deref(), Some(std::path::Path::new("/dev/pps3")));
    assert_eq!((r[1].refid.as_deref(), r[1].lock.as_deref(), r[1].prefer), (Some("PPS"), Some("GPS"), false));
    // The PPS alone has no lock.
    let c = ok("[sources.hardware.pps]\nenabled = true\n").config;
    assert_eq!(c.refclocks()[0].lock, None);
    assert!(!c.is_local_reference(), "a PPS is a source");
    assert!(c.pps_on_local_clock(), "with nothing for the seconds, the host clock gives them");
}

#[test]
fn a_lone_pps_and_an_ignored_gps_key_warn() {
    let l = ok("[sources.hardware.pps]\nenabled = true\n");
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("without `lock`") && l.warnings[0].contains("stratum 10"), "{:?}", l.warnings);
    let l = ok("[sources.hardware.pps]\nenabled = true\n[[sources.servers]]\naddress = \"192.0.2.1\"\n");
    assert!(l.warnings.is_empty(), "servers give the seconds: {:?}", l.warnings);
    let l = ok("[sources.hardware.gps]\nenabled = true\nrefclock = false\n");
    assert_eq!(l.warnings.len(), 1);
    assert!(l.warnings[0].starts_with("sources.hardware.gps.refclock = false has no effect"), "{:?}", l.warnings);
    // The seed's defaults (disabled) warn about nothing.
    assert!(ok("[sources.hardware.gps]\nenabled = false\nrefclock = false\n").warnings.is_empty());
}

#[test]
fn wrong_options_are_errors_naming_the_key() {
    let cases = [
        ("driver = \"PPS\"", "sources.refclocks[0].path: the PPS driver needs a `path`"),
        ("driver = \"SHM\"\npath = \"/x\"", "the SHM driver takes a `unit`, not a `path`"),
        (
            "driver = \"SOCK\"\npath = \"/x\"\nunit = 1",
            "sources.refclocks[0].unit: only the SHM driver has `unit`, not SOCK",
        ),
        ("driver = \"NMEA\"\npath = \"/x\"\nlock = \"GPS\"", "only the PPS driver has `lock`"),
        ("driver = \"SHM\"\nbaud = 9600", "only the NMEA driver has `baud`"),
        ("driver = \"NMEA\"\npath = \"/x\"\nbaud = 1234", "1234 is not one of"),
        ("driver = \"SHM\"\nperm = \"rw\"", "`rw` is not octal permissions"),
        ("driver = \"SHM\"\nrefid = \"TOOLONG\"", "one to four printable ASCII characters"),
        ("driver = \"SHM\"\npoll = 20", "sources.refclocks[0].poll must be 0..=10"),
        ("driver = \"SHM\"\nfilter = 0", "sources.refclocks[0].filter must be 1..=256"),
        ("driver = \"SHM\"\noffset = 100.0", "within ±10"),
        ("driver = \"SHM\"\nprecision = 0.0", "(0, 1]"),
        ("driver = \"GPSD\"", "unknown variant `GPSD`"),
        ("driver = \"SHM\"\nspeed = 1", "unknown key `speed`"),
    ];
    for (body, want) in cases {
        let e = err(&format!("[[sources.refclocks]]\n{body}\n"));
        assert!(e.contains(want), "{body}: {e}");
    }
}

#[test]
fn locks_and_reference_ids_are_checked_across_entries() {
    let e = err("[[sources.refclocks]]\ndriver = \"PPS\"\npath = \"/dev/pps0\"\nlock = \"NMEA\"\n");
    assert!(e.contains("sources.refclocks[0].lock: no reference clock has refid `NMEA`"), "{e}");
    let e = err("[[sources.refclocks]]\ndriver = \"PPS\"\npath = \"/dev/pps0\"\nrefid = \"P\"\nlock = \"P\"\n");
    assert!(e.contains("cannot lock to itself"), "{e}");
    let e = err("[[sources.refclocks]]\ndriver = \"PPS\"\npath = \"/dev/pps0\"\nrefid = \"A\"\n[[sources.refclocks]]\ndriver = \"PPS\"\npath = \"/dev/pps1\"\nlock = \"A\"\n");
    assert!(e.contains("`A` is a PPS clock too"), "{e}");
    let e = err("[[sources.refclocks]]\ndriver = \"SHM\"\nrefid = \"GPS\"\n[sources.hardware.gps]\nenabled = true\n");
    assert!(e.contains("sources.hardware.gps: reference id `GPS` is used by two reference clocks"), "{e}");
}

#[test]
fn the_list_can_come_from_the_environment() {
    let l =
        load(&[], &[("SIMPLE_NTPD_SOURCES_REFCLOCKS", r#"[{ driver = "SHM", unit = 1, refid = "PPS" }]"#)]).unwrap();
    let r = l.config.refclocks();
    assert_eq!((r.len(), r[0].unit, r[0].refid.as_deref()), (1, Some(1), Some("PPS")));
    let l = load(&[], &[("SIMPLE_NTPD_SOURCES_HARDWARE_GPS_ENABLED", "true")]).unwrap();
    assert_eq!(l.config.refclocks()[0].refid.as_deref(), Some("GPS"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn config_show_round_trips_refclocks() {
    let c = ok("[[sources.refclocks]]\ndriver = \"NMEA\"\npath = \"/dev/ttyS1\"\nbaud = 4800\noffset = 0.25\n").config;
    let again = ok(&c.to_toml()).config;
    assert_eq!(again.sources.refclocks, c.sources.refclocks);
}
