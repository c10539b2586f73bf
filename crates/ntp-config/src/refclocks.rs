//! Reference clocks: the `[[sources.refclocks]]` list with chrony's
//! `refclock` options, and seed 002's `[sources.hardware.gps]` /
//! `[sources.hardware.pps]` shorthands, which [`Config::refclocks`] turns
//! into entries of the same list:
//!
//! | seed 002 | chrony line it replaces | `[[sources.refclocks]]` entry |
//! |---|---|---|
//! | `[sources.hardware.gps] enabled = true` | `refclock SHM 0 refid GPS` | `driver = "SHM", unit = 0, refid = "GPS"` |
//! | `[sources.hardware.pps] enabled = true` | `refclock PPS /dev/pps0 lock GPS` | `driver = "PPS", path = "/dev/pps0", refid = "PPS", lock = "GPS"` (no `lock` without the GPS) |
//!
//! `prefer` carries over; `gps.device` names the receiver gpsd reads (the
//! daemon reads gpsd's shared memory, unit 0).

use std::collections::BTreeSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Config;
use crate::validate::Problem;

/// One reference clock (chrony's `refclock` directive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefclockSource {
    /// The driver: `SHM` (an NTP shared-memory segment, as gpsd writes it), `SOCK` (chrony's refclock socket, as gpsd writes it), `NMEA` (a GNSS receiver's serial port, read directly) or `PPS` (a Linux PPS device, `/dev/ppsN`).
    pub driver: RefclockDriver,
    /// SHM: the segment unit (key 0x4e545030 + unit). gpsd writes its first receiver's message time to unit 0 and its PPS time to unit 1. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 255))]
    pub unit: Option<u32>,
    /// SHM: the permissions the segment is created with when it does not exist yet (octal text, chrony's `perm`), so that gpsd started later finds it. Default `"0600"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perm: Option<String>,
    /// SOCK: the socket the daemon creates and gpsd sends to (`/run/chrony.ttyS0.sock`); NMEA: the serial device (`/dev/ttyS0`); PPS: the PPS device (`/dev/pps0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// NMEA: the serial speed in baud: 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400 or 460800. Default 9600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baud: Option<u32>,
    /// PPS: the `refid` of another reference clock that says which second each pulse belongs to (chrony's `lock`). Without it the pulses need the clock synchronised by other sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// PPS: which edge of the signal marks the second: `assert` (default) or `clear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<PpsEdge>,
    /// PPS: pulses per second. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub rate: Option<u32>,
    /// The reference id served while this clock is the selected source (up to four ASCII characters, e.g. `GPS`, `PPS`). Default: the driver's first three letters and the clock's position in the list (`SHM0`, `PPS1`), as chrony does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refid: Option<String>,
    /// Seconds added to every sample: the receiver's message latency (NMEA is often 0.1–0.5 s late), cable delays.
    #[serde(default)]
    pub offset: f64,
    /// The assumed round-trip delay of the clock, in seconds: served as root delay, and half of it counts in the clock's error bound, so a larger value makes the clock less preferred. Default 1e-9.
    #[serde(default = "default_delay")]
    #[schemars(range(min = 0.0))]
    pub delay: f64,
    /// The precision of the clock's samples, in seconds (default: the precision of the system clock). At least the system clock's is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// How often the clock's samples are combined and used, as a power of two in seconds. Default 4 (16 s).
    #[serde(default = "default_poll")]
    #[schemars(range(min = 0, max = 10))]
    pub poll: i8,
    /// The most samples kept per poll for the median filter. Default 64.
    #[serde(default = "default_filter")]
    #[schemars(range(min = 1, max = 256))]
    pub filter: u32,
    /// Prefer this clock: when it survives selection, only preferred sources are combined.
    #[serde(default)]
    pub prefer: bool,
    /// Never select this clock (it is still shown and can be a `lock` for a PPS clock).
    #[serde(default)]
    pub noselect: bool,
    /// Trust this clock: only other trusted sources can outvote it in selection.
    #[serde(default)]
    pub trust: bool,
    /// The stratum of the clock itself; the daemon serves one more. Default 0 (serving stratum 1).
    #[serde(default)]
    #[schemars(range(min = 0, max = 14))]
    pub stratum: u8,
}

fn default_delay() -> f64 {
    1e-9
}

fn default_poll() -> i8 {
    4
}

fn default_filter() -> u32 {
    64
}

impl RefclockSource {
    /// An entry with chrony's defaults for `driver`.
    pub fn new(driver: RefclockDriver) -> Self {
        RefclockSource {
            driver,
            unit: None,
            perm: None,
            path: None,
            baud: None,
            lock: None,
            edge: None,
            rate: None,
            refid: None,
            offset: 0.0,
            delay: default_delay(),
            precision: None,
            poll: default_poll(),
            filter: default_filter(),
            prefer: false,
            noselect: false,
            trust: false,
            stratum: 0,
        }
    }

    /// The segment permissions as a number (default 0o600).
    pub fn perm_bits(&self) -> u32 {
        self.perm.as_deref().and_then(parse_perm).unwrap_or(0o600)
    }
}

/// A reference clock driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RefclockDriver {
    /// An NTP shared-memory segment (ntpd's driver 28), as gpsd writes it.
    #[serde(rename = "SHM", alias = "shm")]
    Shm,
    /// chrony's refclock socket protocol, as gpsd sends it.
    #[serde(rename = "SOCK", alias = "sock")]
    Sock,
    /// NMEA 0183 sentences (RMC, ZDA, GGA) read from a serial port.
    #[serde(rename = "NMEA", alias = "nmea")]
    Nmea,
    /// A pulse-per-second device (Linux PPS API).
    #[serde(rename = "PPS", alias = "pps")]
    Pps,
}

impl RefclockDriver {
    /// The name as configured.
    pub fn name(self) -> &'static str {
        match self {
            RefclockDriver::Shm => "SHM",
            RefclockDriver::Sock => "SOCK",
            RefclockDriver::Nmea => "NMEA",
            RefclockDriver::Pps => "PPS",
        }
    }
}

/// The PPS edge that marks the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PpsEdge {
    /// The assert (rising, usually) edge.
    #[default]
    Assert,
    /// The clear edge.
    Clear,
}

/// Serial speeds the NMEA driver can set.
pub const BAUD_RATES: [u32; 10] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800];

fn parse_perm(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8).ok().filter(|p| *p <= 0o777)
}

/// chrony's default reference id: the driver's first three letters and the
/// position (`SHM0`, `SOC1`, `PPS12` keeps four characters: `PP12`).
fn default_refid(driver: RefclockDriver, index: usize) -> String {
    let mut r: Vec<u8> = driver.name().bytes().take(3).collect();
    r.push(b'0' + (index % 10) as u8);
    if index >= 10 {
        r[2] = b'0' + ((index / 10) % 10) as u8;
    }
    String::from_utf8(r).unwrap_or_default()
}

impl Config {
    /// Every reference clock, in order: `[[sources.refclocks]]`, then the
    /// seed 002 shorthands (GPS, then PPS), each with its `refid` filled in.
    pub fn refclocks(&self) -> Vec<RefclockSource> {
        let mut out = self.sources.refclocks.clone();
        let hw = &self.sources.hardware;
        if hw.gps.enabled {
            let mut gps = RefclockSource::new(RefclockDriver::Shm);
            gps.unit = Some(0);
            gps.refid = Some("GPS".to_owned());
            gps.prefer = hw.gps.prefer;
            out.push(gps);
        }
        if hw.pps.enabled {
            let mut pps = RefclockSource::new(RefclockDriver::Pps);
            pps.path = Some(hw.pps.device.clone());
            pps.refid = Some("PPS".to_owned());
            pps.lock = hw.gps.enabled.then(|| "GPS".to_owned());
            pps.prefer = hw.pps.prefer;
            out.push(pps);
        }
        for (i, r) in out.iter_mut().enumerate() {
            if r.refid.is_none() {
                r.refid = Some(default_refid(r.driver, i));
            }
        }
        out
    }

    /// True when the only sources are PPS clocks with nothing to take the
    /// seconds from (no `lock`, no server, pool or other reference clock):
    /// the host clock then keeps naming the seconds, as a local reference at
    /// `ntp_server.stratum`, and the pulses steer its phase (chrony's PPS
    /// refclock with `local stratum N`).
    pub fn pps_on_local_clock(&self) -> bool {
        let clocks = self.refclocks();
        self.ntp_server.upstream_servers.is_empty()
            && self.sources.servers.is_empty()
            && self.sources.pools.is_empty()
            && !clocks.is_empty()
            && clocks.iter().all(|r| r.driver == RefclockDriver::Pps && r.lock.is_none())
    }
}

/// Problems of single entries.
pub(crate) fn values(c: &Config, out: &mut Vec<Problem>) {
    for (i, r) in c.sources.refclocks.iter().enumerate() {
        let at = |key: &str| format!("sources.refclocks[{i}].{key}");
        let mut only = |key: &str, set: bool, driver: RefclockDriver| {
            if set && r.driver != driver {
                out.push(Problem::new(
                    at(key),
                    format!("{}: only the {} driver has `{key}`, not {}", at(key), driver.name(), r.driver.name()),
                ));
            }
        };
        only("unit", r.unit.is_some(), RefclockDriver::Shm);
        only("perm", r.perm.is_some(), RefclockDriver::Shm);
        only("baud", r.baud.is_some(), RefclockDriver::Nmea);
        only("lock", r.lock.is_some(), RefclockDriver::Pps);
        only("edge", r.edge.is_some(), RefclockDriver::Pps);
        only("rate", r.rate.is_some(), RefclockDriver::Pps);
        match (r.driver, &r.path) {
            (RefclockDriver::Shm, Some(_)) => out
                .push(Problem::new(at("path"), format!("{}: the SHM driver takes a `unit`, not a `path`", at("path")))),
            (RefclockDriver::Sock | RefclockDriver::Nmea | RefclockDriver::Pps, None) => out.push(Problem::new(
                at("path"),
                format!("{}: the {} driver needs a `path`", at("path"), r.driver.name()),
            )),
            _ => {}
        }
        if let Some(p) = &r.perm {
            if parse_perm(p).is_none() {
                out.push(Problem::new(
                    at("perm"),
                    format!("{}: `{p}` is not octal permissions such as \"0644\"", at("perm")),
                ));
            }
        }
        if let Some(b) = r.baud {
            if !BAUD_RATES.contains(&b) {
                out.push(Problem::new(at("baud"), format!("{}: {b} is not one of {BAUD_RATES:?}", at("baud"))));
            }
        }
        if let Some(id) = &r.refid {
            if id.is_empty() || id.len() > 4 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                out.push(Problem::new(
                    at("refid"),
                    format!("{}: `{id}` must be one to four printable ASCII characters", at("refid")),
                ));
            }
        }
        if !r.offset.is_finite() || r.offset.abs() > 10.0 {
            out.push(Problem::new(at("offset"), format!("{}: must be a number of seconds within ±10", at("offset"))));
        }
        if !r.delay.is_finite() || r.delay > 10.0 {
            out.push(Problem::new(at("delay"), format!("{}: must be a number of seconds up to 10", at("delay"))));
        }
        if let Some(p) = r.precision {
            if !(p.is_finite() && p > 0.0 && p <= 1.0) {
                out.push(Problem::new(at("precision"), format!("{}: must be seconds in (0, 1]", at("precision"))));
            }
        }
    }
}

/// Problems between entries: unique reference ids, locks that name another clock.
pub(crate) fn relations(c: &Config, out: &mut Vec<Problem>) {
    let all = c.refclocks();
    let mut seen = BTreeSet::new();
    for (i, r) in all.iter().enumerate() {
        let id = r.refid.clone().unwrap_or_default();
        let path = path_of(c, i, "refid");
        if !seen.insert(id.clone()) {
            out.push(Problem::new(
                path.clone(),
                format!("{path}: reference id `{id}` is used by two reference clocks"),
            ));
        }
        if let Some(lock) = &r.lock {
            let target = all.iter().position(|o| o.refid.as_deref() == Some(lock.as_str()));
            let path = path_of(c, i, "lock");
            match target {
                None => out.push(Problem::new(path.clone(), format!("{path}: no reference clock has refid `{lock}`"))),
                Some(t) if t == i => {
                    out.push(Problem::new(path.clone(), format!("{path}: a clock cannot lock to itself")))
                }
                Some(t) if all[t].driver == RefclockDriver::Pps => out.push(Problem::new(
                    path.clone(),
                    format!(
                        "{path}: `{lock}` is a PPS clock too; lock to one that knows the seconds (SHM, SOCK, NMEA)"
                    ),
                )),
                Some(_) => {}
            }
        }
    }
}

/// The key path of entry `i` of [`Config::refclocks`] (a shorthand's own table).
fn path_of(c: &Config, i: usize, key: &str) -> String {
    let n = c.sources.refclocks.len();
    if i < n {
        return format!("sources.refclocks[{i}].{key}");
    }
    if i == n && c.sources.hardware.gps.enabled {
        "sources.hardware.gps".to_owned()
    } else {
        "sources.hardware.pps".to_owned()
    }
}

/// Warnings about settings that load but may not do what is meant.
pub(crate) fn warnings(c: &Config) -> Vec<String> {
    let mut w = Vec::new();
    let gps = &c.sources.hardware.gps;
    if gps.enabled && !gps.refclock {
        w.push(
            "sources.hardware.gps.refclock = false has no effect: the receiver is always used as a reference clock \
             (gpsd's shared memory, unit 0)"
                .to_owned(),
        );
    }
    if c.pps_on_local_clock() {
        w.push(format!(
            "PPS clock(s) without `lock` and without any other source: the host clock keeps giving the seconds and \
             the pulses only steer its phase, served at stratum {} like a local reference; add a GPS (lock) or \
             servers for true time",
            c.ntp_server.stratum
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrony_default_refids() {
        assert_eq!(default_refid(RefclockDriver::Shm, 0), "SHM0");
        assert_eq!(default_refid(RefclockDriver::Sock, 1), "SOC1");
        assert_eq!(default_refid(RefclockDriver::Pps, 12), "PP12");
        assert_eq!(parse_perm("0644"), Some(0o644));
        assert_eq!(parse_perm("0o600"), Some(0o600));
        assert_eq!(parse_perm("0999"), None);
        assert_eq!(parse_perm("1777"), None);
    }
}
