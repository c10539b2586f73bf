//! NTPsec's `ntpdig` SNTP client (Debian package `ntpsec-ntpdig`).
//!
//! `ntpdig` always queries UDP port 123, so the server under test must bind a spare
//! loopback address (see [`crate::spare_loopback_v4`]) on port 123.
//!
//! Command used: `ntpdig -j -d -t <secs> [-4|-6] [-a KEYID -k KEYFILE] [-p N] <ip>`.
//! - `-j` prints one JSON line on stdout:
//!   `{"time":"2026-11-21T09:44:56.727276+0000","offset":0.000020,"precision":0.000069,
//!   "host":"127.45.6.7","ip":"127.45.6.7","stratum":5,"leap":"no-leap","adjusted":false}`.
//!   `offset` is theta = ((T2-T1)+(T3-T4))/2 (positive: server ahead). Quirk: the
//!   `precision` field is really the synchronisation distance |delta/2 + epsilon|.
//!   `leap` is one of `no-leap`, `add-leap`, `del-leap`, `unsync`.
//! - `-d` adds lines on stdout that give the delay (JSON has none), e.g.
//!   `rec-org t21: 0.000105  xmt-dst t34: -0.000047` (delay = t21 - t34) and the
//!   float `org t1: .. rec t2: ..` / `xmt t3: .. dst t4: ..` lines (microsecond
//!   resolution), and `ntpdig: ...` lines on stderr.
//! - `-t` takes whole seconds only.
//! - Replies are dropped (exit 1, stderr `ntpdig: no eligible servers`, with a reason
//!   such as `Response dropped: stratum 0, probable KOD packet`, `leap not in sync`,
//!   `stratum too high`, `unexpected response mode`, `unexpected response timestamp`
//!   (origin 0)) when stratum is 0 or > 15, leap is 3, mode is not 4, version < 2 or
//!   > 4. It does NOT check that origin equals its transmit timestamp.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::command::run_bounded;

/// What `ntpdig` reported.
#[derive(Debug, Clone, PartialEq)]
pub struct NtpdigReport {
    /// Clock offset in seconds; positive = server ahead of the local clock.
    pub offset: f64,
    /// Round-trip delay in seconds from the `-d` lines (`None` if they were absent).
    pub delay: Option<f64>,
    /// Server stratum.
    pub stratum: u8,
    /// Leap as printed: `no-leap`, `add-leap`, `del-leap` (`unsync` is rejected).
    pub leap: String,
    /// Leap as the 2-bit indicator (0..=3), from `leap`.
    pub leap_indicator: u8,
    /// The JSON `precision` field, which is actually the synchronisation distance (s).
    pub sync_distance: f64,
    /// The `ip` field.
    pub ip: String,
    /// T1..T4 as Unix seconds from the `-d` lines, when present.
    pub t1_t4: Option<[f64; 4]>,
    /// Complete stdout and stderr, for messages.
    pub stdout: String,
    /// Complete stderr.
    pub stderr: String,
}

/// Options for [`ntpdig_query_with`].
#[derive(Debug, Clone)]
pub struct NtpdigOpts {
    /// Per-request timeout in whole seconds (`-t`, at least 1).
    pub timeout_s: u64,
    /// Symmetric key authentication: `-a keyid -k keyfile` (ntpsec `ntp.keys` format:
    /// `keyid type key`, e.g. `1 SHA1 <40 hex>` or `1 AES-128 <32 hex>`).
    pub key: Option<(u32, PathBuf)>,
    /// Number of samples (`-p`, default 1).
    pub samples: u32,
}

impl Default for NtpdigOpts {
    fn default() -> Self {
        NtpdigOpts { timeout_s: 2, key: None, samples: 1 }
    }
}

/// `/usr/bin/ntpdig`, `SIMPLE_NTPD_NTPDIG`, or `ntpdig` on `PATH`.
pub fn ntpdig_path() -> Option<PathBuf> {
    crate::peers::locate("SIMPLE_NTPD_NTPDIG", &["/usr/bin/ntpdig"], "ntpdig")
}

/// Query `ip:123` once with `ntpdig`.
pub fn ntpdig_query(ip: IpAddr, timeout_s: u64) -> Result<NtpdigReport, String> {
    ntpdig_query_with(ip, &NtpdigOpts { timeout_s, ..NtpdigOpts::default() })
}

/// Query `ip:123` with `ntpdig` and options. The process is killed if it runs longer
/// than `samples * timeout_s + 10` seconds.
pub fn ntpdig_query_with(ip: IpAddr, opts: &NtpdigOpts) -> Result<NtpdigReport, String> {
    let bin = ntpdig_path().ok_or("ntpdig not installed (run scripts/install-test-deps.sh)")?;
    run_ntpdig(&bin, ip, opts)
}

fn run_ntpdig(bin: &Path, ip: IpAddr, opts: &NtpdigOpts) -> Result<NtpdigReport, String> {
    let t = opts.timeout_s.max(1);
    let mut cmd = Command::new(bin);
    cmd.args(["-j", "-d", "-t", &t.to_string()]);
    cmd.arg(if ip.is_ipv4() { "-4" } else { "-6" });
    if let Some((id, file)) = &opts.key {
        cmd.arg("-a").arg(id.to_string()).arg("-k").arg(file);
    }
    if opts.samples > 1 {
        cmd.arg("-p").arg(opts.samples.to_string());
    }
    cmd.arg(ip.to_string());
    let limit = Duration::from_secs(t * u64::from(opts.samples.max(1)) + 10);
    let out = run_bounded(&mut cmd, limit)?;
    if !out.success() {
        return Err(format!("ntpdig failed: {}", out.describe()));
    }
    parse_ntpdig_output(&out.stdout, &out.stderr).map_err(|e| format!("{e}\n{}", out.describe()))
}

/// Parse `ntpdig -j [-d]` output (see the module docs for the format).
pub fn parse_ntpdig_output(stdout: &str, stderr: &str) -> Result<NtpdigReport, String> {
    let json_line = stdout.lines().map(str::trim).rfind(|l| l.starts_with('{')).ok_or("ntpdig printed no JSON line")?;
    let v: serde_json::Value =
        serde_json::from_str(json_line).map_err(|e| format!("ntpdig JSON {json_line:?}: {e}"))?;
    let num = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("ntpdig JSON lacks number {k:?}: {json_line}"))
    };
    let offset = num("offset")?;
    let sync_distance = num("precision")?;
    let stratum = v
        .get("stratum")
        .and_then(serde_json::Value::as_u64)
        .filter(|s| *s <= 255)
        .ok_or_else(|| format!("ntpdig JSON lacks stratum: {json_line}"))? as u8;
    let leap = v
        .get("leap")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("ntpdig JSON lacks leap: {json_line}"))?
        .to_string();
    let leap_indicator = match leap.as_str() {
        "no-leap" => 0,
        "add-leap" => 1,
        "del-leap" => 2,
        "unsync" => 3,
        other => return Err(format!("ntpdig: unknown leap {other:?}")),
    };
    let ip = v.get("ip").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();

    let mut delay = None;
    let mut stamps: [Option<f64>; 4] = [None; 4];
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // "rec-org t21: X  xmt-dst t34: Y"
        if let ["rec-org", "t21:", a, "xmt-dst", "t34:", b] = words.as_slice() {
            if let (Ok(t21), Ok(t34)) = (a.parse::<f64>(), b.parse::<f64>()) {
                delay = Some(t21 - t34);
            }
        }
        // "org t1: F rec t2: F" / "xmt t3: F dst t4: F" (the hex variants don't parse)
        if let [_, k1, a, _, k2, b] = words.as_slice() {
            let idx = |k: &str| match k {
                "t1:" => Some(0),
                "t2:" => Some(1),
                "t3:" => Some(2),
                "t4:" => Some(3),
                _ => None,
            };
            if let (Some(i), Some(j), Ok(x), Ok(y)) = (idx(k1), idx(k2), a.parse(), b.parse()) {
                stamps[i] = Some(x);
                stamps[j] = Some(y);
            }
        }
    }
    let t1_t4 = match stamps {
        [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
        _ => None,
    };
    Ok(NtpdigReport {
        offset,
        delay,
        stratum,
        leap,
        leap_indicator,
        sync_distance,
        ip,
        t1_t4,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "org t1: eeabe698.c7158800 rec t2: eeabe698.c71c6675
xmt t3: eeabe698.c72078ee dst t4: eeabe698.c7239000
org t1: 1795254296.777672 rec t2: 1795254296.777777
xmt t3: 1795254296.777839 dst t4: 1795254296.777886
rec-org t21: 0.000105  xmt-dst t34: -0.000047
{\"time\":\"2026-11-21T09:44:56.777839+0000\",\"offset\":0.000029,\"precision\":0.000076,\"host\":\"127.45.6.7\",\"ip\":\"127.45.6.7\",\"stratum\":5,\"leap\":\"no-leap\",\"adjusted\":false}
";

    #[test]
    fn parses_debug_json_output() {
        let r = parse_ntpdig_output(SAMPLE, "").unwrap();
        assert_eq!(r.stratum, 5);
        assert_eq!(r.leap, "no-leap");
        assert_eq!(r.leap_indicator, 0);
        assert!((r.offset - 0.000029).abs() < 1e-9);
        assert!((r.delay.unwrap() - 0.000152).abs() < 1e-9);
        assert_eq!(r.ip, "127.45.6.7");
        let t = r.t1_t4.unwrap();
        assert!((t[3] - 1_795_254_296.777886).abs() < 1e-6);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(parse_ntpdig_output("", "ntpdig: no eligible servers").is_err());
        assert!(parse_ntpdig_output("{not json", "").is_err());
        assert!(parse_ntpdig_output("{\"offset\":1}", "").is_err());
        assert!(parse_ntpdig_output("{\"offset\":1,\"precision\":0,\"stratum\":999,\"leap\":\"no-leap\"}", "").is_err());
    }
}
