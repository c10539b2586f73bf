//! `chronyc` over a private unix socket, and parsers for its output and chronyd's
//! `measurements.log`.
//!
//! `chronyc -h /path/to/chronyd.sock -n <command>` talks to a chronyd whose config has
//! `bindcmdaddress /path/to/chronyd.sock` (socket dir must be accessible only by root),
//! even with `cmdport 0`. `-c` gives CSV.
//!
//! Sign conventions (verified with a server 1.5 s ahead and chronyd -x):
//! - `tracking` "System time" (CSV field 5): the correction chronyd wants to apply,
//!   positive = local clock slow (behind) — the NTP theta sign. With `-x` chronyd
//!   never applies it, so it keeps the whole raw offset (1.5 here) while its per-sample
//!   offsets below are measured against its *virtually corrected* clock (≈ 0).
//! - `tracking` "Last offset": local − true (opposite sign).
//! - `sources` offsets (CSV fields 8, 9): local − source (opposite of theta).
//! - `ntpdata` "Offset" and `measurements.log` "Offset": source − local (theta sign).
//! - Frequency in CSV: negative = "ppm slow".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::command::run_bounded;

/// `SIMPLE_NTPD_CHRONYC`, else `chronyc` next to the located chronyd
/// (`.../usr/sbin/chronyd` → `.../usr/bin/chronyc`), else `chronyc` on `PATH`.
pub fn chronyc_path() -> Option<PathBuf> {
    if std::env::var_os("SIMPLE_NTPD_CHRONYC").is_some() {
        return crate::peers::locate("SIMPLE_NTPD_CHRONYC", &[], "chronyc");
    }
    let sibling = super::paths::chronyd_path().and_then(|d| {
        let root = d.parent()?.parent()?;
        let c = root.join("bin").join("chronyc");
        crate::peers::is_executable(&c).then_some(c)
    });
    sibling.or_else(|| crate::peers::which("chronyc"))
}

/// Run `chronyc -h <socket> -n <args>` (bounded). `Err` on a non-zero exit or when
/// chronyc reports it cannot talk to the daemon.
pub fn run_chronyc(socket: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let chronyc = chronyc_path().ok_or("chronyc not installed (run scripts/install-test-deps.sh)")?;
    let mut cmd = Command::new(chronyc);
    cmd.arg("-h").arg(socket).arg("-n").args(args);
    let out = run_bounded(&mut cmd, timeout)?;
    if !out.success() || out.stderr.contains("Cannot talk to daemon") {
        return Err(format!("chronyc failed: {}", out.describe()));
    }
    Ok(out.stdout)
}

/// `chronyc -c tracking`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronyTracking {
    /// Reference ID (0 when unsynchronised; `7F7F0101` = local reference).
    pub ref_id: u32,
    /// Reference name or address.
    pub ref_name: String,
    /// Our stratum.
    pub stratum: u8,
    /// Reference time, Unix seconds.
    pub ref_time: f64,
    /// Correction wanted: positive = local clock behind true time (theta sign).
    pub system_time_s: f64,
    /// Last offset: local − true.
    pub last_offset_s: f64,
    /// RMS offset.
    pub rms_offset_s: f64,
    /// Frequency, ppm (negative = slow).
    pub freq_ppm: f64,
    /// Residual frequency, ppm.
    pub resid_freq_ppm: f64,
    /// Skew, ppm.
    pub skew_ppm: f64,
    /// Root delay (s).
    pub root_delay_s: f64,
    /// Root dispersion (s).
    pub root_dispersion_s: f64,
    /// Update interval (s).
    pub update_interval_s: f64,
    /// `Normal`, `Insert second`, `Delete second`, `Not synchronised`.
    pub leap_status: String,
}

impl ChronyTracking {
    /// Synchronised to some source (not `Not synchronised`, ref id not 0).
    pub fn is_synced(&self) -> bool {
        self.ref_id != 0 && self.leap_status != "Not synchronised"
    }
}

/// Parse `chronyc -c tracking` (one CSV line of 14 fields).
pub fn parse_tracking_csv(s: &str) -> Result<ChronyTracking, String> {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let f: Vec<&str> = line.trim().split(',').collect();
    if f.len() < 14 {
        return Err(format!("chronyc tracking: expected 14 CSV fields: {s:?}"));
    }
    let num = |i: usize| f[i].parse::<f64>().map_err(|e| format!("chronyc tracking field {i} {:?}: {e}", f[i]));
    Ok(ChronyTracking {
        ref_id: u32::from_str_radix(f[0], 16).map_err(|e| format!("chronyc tracking ref id {:?}: {e}", f[0]))?,
        ref_name: f[1].to_string(),
        stratum: f[2].parse().map_err(|e| format!("chronyc tracking stratum {:?}: {e}", f[2]))?,
        ref_time: num(3)?,
        system_time_s: num(4)?,
        last_offset_s: num(5)?,
        rms_offset_s: num(6)?,
        freq_ppm: num(7)?,
        resid_freq_ppm: num(8)?,
        skew_ppm: num(9)?,
        root_delay_s: num(10)?,
        root_dispersion_s: num(11)?,
        update_interval_s: num(12)?,
        leap_status: f[13].to_string(),
    })
}

/// One row of `chronyc -c sources`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronySource {
    /// `^` server, `=` peer, `#` refclock.
    pub mode: char,
    /// `*` selected, `+` combined, `-` not combined, `?` unusable, `x` falseticker,
    /// `~` too variable.
    pub state: char,
    /// Name or address.
    pub name: String,
    /// Its stratum.
    pub stratum: u8,
    /// Poll exponent.
    pub poll: i32,
    /// Reach register (parsed from octal).
    pub reach: u8,
    /// Seconds since the last good sample (u32::MAX-ish when never).
    pub last_rx: u64,
    /// Adjusted offset: local − source.
    pub adjusted_offset_s: f64,
    /// Measured offset of the last sample: local − source.
    pub measured_offset_s: f64,
    /// Error bound.
    pub error_s: f64,
}

/// Parse `chronyc -c sources` (10 CSV fields per line; bad lines are an error).
pub fn parse_sources_csv(s: &str) -> Result<Vec<ChronySource>, String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.trim().split(',').collect();
            if f.len() < 10 {
                return Err(format!("chronyc sources: expected 10 fields: {line:?}"));
            }
            let ch = |i: usize| f[i].chars().next().unwrap_or(' ');
            let num = |i: usize| f[i].parse::<f64>().map_err(|e| format!("chronyc sources field {i} {:?}: {e}", f[i]));
            let err = |i: usize| format!("chronyc sources field {i} {:?} in {line:?}", f[i]);
            Ok(ChronySource {
                mode: ch(0),
                state: ch(1),
                name: f[2].to_string(),
                stratum: f[3].parse().map_err(|_| err(3))?,
                poll: f[4].parse().map_err(|_| err(4))?,
                reach: u8::from_str_radix(f[5], 8).map_err(|_| err(5))?,
                last_rx: f[6].parse().map_err(|_| err(6))?,
                adjusted_offset_s: num(7)?,
                measured_offset_s: num(8)?,
                error_s: num(9)?,
            })
        })
        .collect()
}

/// Parse chronyc's human `Key : value` output (`ntpdata`, `serverstats`, `authdata`
/// without `-c`, `tracking` without `-c`). Keys are trimmed; later duplicates win.
pub fn parse_key_values(s: &str) -> BTreeMap<String, String> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// One line of chronyd's `measurements.log` (`log measurements`, `logdir DIR`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChronyMeasurement {
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub datetime: String,
    /// Source address.
    pub ip: String,
    /// Leap status of the reply: `N` normal, `+`, `-`, `?` unsynchronised.
    pub leap: char,
    /// Source stratum.
    pub stratum: u8,
    /// NTP tests 1-3, 5-7 and A-D as printed (`111`, `111`, `1111` = all passed).
    pub tests: String,
    /// Local poll exponent.
    pub local_poll: i32,
    /// Remote poll exponent.
    pub remote_poll: i32,
    /// Score.
    pub score: f64,
    /// Offset: source − local, against chronyd's (virtually) corrected clock.
    pub offset_s: f64,
    /// Peer delay (s).
    pub peer_delay_s: f64,
    /// Peer dispersion (s).
    pub peer_dispersion_s: f64,
    /// Root delay (s).
    pub root_delay_s: f64,
    /// Root dispersion (s).
    pub root_dispersion_s: f64,
    /// Reference ID (hex).
    pub refid: String,
    /// Mode, basic/interleaved, TX and RX timestamp sources, e.g. `4B K K`, `4I K K`.
    pub mode_txrx: String,
}

impl ChronyMeasurement {
    /// All 10 tests passed.
    pub fn all_tests_passed(&self) -> bool {
        self.tests.chars().all(|c| c == '1' || c == ' ')
    }
}

/// Parse `measurements.log`; header/separator lines and lines that do not parse are
/// skipped (the log may be mid-write).
pub fn parse_measurements_log(s: &str) -> Vec<ChronyMeasurement> {
    s.lines().filter_map(parse_measurement_line).collect()
}

fn parse_measurement_line(line: &str) -> Option<ChronyMeasurement> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 17 || !f[0].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let num = |i: usize| f[i].parse::<f64>().ok();
    Some(ChronyMeasurement {
        datetime: format!("{} {}", f[0], f[1]),
        ip: f[2].to_string(),
        leap: f[3].chars().next()?,
        stratum: f[4].parse().ok()?,
        tests: format!("{} {} {}", f[5], f[6], f[7]),
        local_poll: f[8].parse().ok()?,
        remote_poll: f[9].parse().ok()?,
        score: num(10)?,
        offset_s: num(11)?,
        peer_delay_s: num(12)?,
        peer_dispersion_s: num(13)?,
        root_delay_s: num(14)?,
        root_dispersion_s: num(15)?,
        refid: f[16].to_string(),
        mode_txrx: f[17..].join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tracking() {
        let t = parse_tracking_csv("7F000001,127.0.0.1,4,1795254401.751693092,1.500054359,-0.000001173,0.000012948,-0.030,-0.075,5.736,0.000110358,0.000015709,0.3,Normal\n").unwrap();
        assert_eq!(t.ref_id, 0x7F00_0001);
        assert_eq!(t.stratum, 4);
        assert!((t.system_time_s - 1.500054359).abs() < 1e-12);
        assert!(t.is_synced());
        let u = parse_tracking_csv("00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised").unwrap();
        assert!(!u.is_synced());
        assert!(parse_tracking_csv("506 Cannot talk to daemon").is_err());
    }

    #[test]
    fn parses_sources() {
        let s = parse_sources_csv("^,*,127.0.0.1,3,-2,377,0,-0.000006375,-0.000007548,0.000087333\n^,?,127.0.0.2,0,6,0,4294967295,0.0,0.0,0.0\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].mode, s[0].state, s[0].reach), ('^', '*', 255));
        assert_eq!(s[0].poll, -2);
        assert!(parse_sources_csv("garbage").is_err());
    }

    #[test]
    fn parses_key_values_and_measurements() {
        let kv = parse_key_values(
            "Remote address  : 127.0.0.1 (7F000001)\nAuthenticated   : No\nOffset          : +0.000007548 seconds\n",
        );
        assert_eq!(kv["Authenticated"], "No");
        assert_eq!(kv["Remote address"], "127.0.0.1 (7F000001)");
        let log = "=====\n   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del. Peer disp.  Root del. Root disp. Refid     MTxRx\n=====\n\
2026-11-21 09:46:35 127.0.0.1       N  3 111 111 1111  -2  6 0.00  1.500e+00  1.888e-04  1.508e-06  0.000e+00  0.000e+00 54455354 4B K K\n\
2026-11-21 09:46:35 127.0.0.1       N  3 111 1";
        let m = parse_measurements_log(log);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].offset_s, 1.5);
        assert_eq!(m[0].mode_txrx, "4B K K");
        assert_eq!(m[0].stratum, 3);
        assert!(m[0].all_tests_passed());
    }
}
