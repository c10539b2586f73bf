//! Python's `ntplib` (Debian `python3-ntplib`) as an independent SNTP client.
//!
//! Runs `/usr/bin/python3 -c <script> HOST PORT VERSION TIMEOUT`; the script prints one
//! JSON object: either the reply fields or `{"error": "..."}`. Debian's python3 is used
//! explicitly because a `python3` earlier on `PATH` (pyenv, venv) usually lacks ntplib.
//! Quirks: ntplib sends `tx_timestamp = time.time()` (not random), accepts the first
//! datagram from the server's IP (any port), does not check the origin timestamp,
//! accepts stratum 0 / leap 3 replies, and turns a raw zero timestamp into
//! -2208988800.0 (1900-01-01) rather than 0.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::command::run_bounded;

const SCRIPT: &str = r#"
import json, sys
try:
    import ntplib
except Exception as e:
    print(json.dumps({"error": "cannot import ntplib: %s" % e})); sys.exit(0)
host, port, version, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
try:
    r = ntplib.NTPClient().request(host, version=version, port=port, timeout=timeout)
    print(json.dumps({
        "stratum": r.stratum, "leap": r.leap, "offset": r.offset, "delay": r.delay,
        "version": r.version, "mode": r.mode, "poll": r.poll, "precision": r.precision,
        "root_delay": r.root_delay, "root_dispersion": r.root_dispersion,
        "ref_id": r.ref_id, "ref_time": r.ref_time, "orig_time": r.orig_time,
        "recv_time": r.recv_time, "tx_time": r.tx_time, "dest_time": r.dest_time,
    }))
except Exception as e:
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
"#;

/// The reply as ntplib decoded it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct NtplibReport {
    /// Stratum.
    pub stratum: u8,
    /// Leap indicator (0..=3).
    pub leap: u8,
    /// Offset in seconds; positive = server ahead of the local clock.
    pub offset: f64,
    /// Round-trip delay in seconds.
    pub delay: f64,
    /// Version field of the reply.
    pub version: u8,
    /// Mode field of the reply.
    pub mode: u8,
    /// Poll exponent.
    pub poll: i64,
    /// Precision exponent.
    pub precision: i64,
    /// Root delay (s).
    pub root_delay: f64,
    /// Root dispersion (s).
    pub root_dispersion: f64,
    /// Reference ID as a big-endian u32.
    pub ref_id: u32,
    /// Reference timestamp.
    pub ref_time: f64,
    /// Origin timestamp (ntplib's own transmit time echoed back).
    pub orig_time: f64,
    /// Receive timestamp (T2).
    pub recv_time: f64,
    /// Transmit timestamp (T3).
    pub tx_time: f64,
    /// Local receive time (T4).
    pub dest_time: f64,
}

/// `/usr/bin/python3` (or `SIMPLE_NTPD_PYTHON3`) when it can `import ntplib`
/// (checked once, bounded).
pub fn ntplib_python() -> Option<PathBuf> {
    static CACHE: OnceLock<Option<PathBuf>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let py = crate::peers::locate("SIMPLE_NTPD_PYTHON3", &["/usr/bin/python3"], "python3")?;
            let out = run_bounded(Command::new(&py).args(["-c", "import ntplib"]), Duration::from_secs(10)).ok()?;
            out.success().then_some(py)
        })
        .clone()
}

/// Query `ip:port` with ntplib, NTP `version`, socket `timeout`.
pub fn ntplib_query(ip: IpAddr, port: u16, version: u8, timeout: Duration) -> Result<NtplibReport, String> {
    let py = ntplib_python().ok_or("python3 with ntplib not installed (run scripts/install-test-deps.sh)")?;
    let mut cmd = Command::new(py);
    cmd.args(["-c", SCRIPT])
        .arg(ip.to_string())
        .arg(port.to_string())
        .arg(version.to_string())
        .arg(format!("{}", timeout.as_secs_f64()));
    let out = run_bounded(&mut cmd, timeout + Duration::from_secs(10))?;
    if !out.success() {
        return Err(format!("ntplib query failed: {}", out.describe()));
    }
    parse_ntplib_json(out.stdout.trim()).map_err(|e| format!("ntplib {ip}:{port}: {e}"))
}

fn parse_ntplib_json(line: &str) -> Result<NtplibReport, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad JSON {line:?}: {e}"))?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        return Err(err.to_string());
    }
    let f =
        |k: &str| v.get(k).and_then(serde_json::Value::as_f64).ok_or_else(|| format!("missing number {k:?} in {line}"));
    let i = |k: &str| {
        v.get(k).and_then(serde_json::Value::as_i64).ok_or_else(|| format!("missing integer {k:?} in {line}"))
    };
    let small = |k: &str, max: i64| {
        let x = i(k)?;
        if (0..=max).contains(&x) {
            Ok(x as u8)
        } else {
            Err(format!("{k} = {x} out of range in {line}"))
        }
    };
    Ok(NtplibReport {
        stratum: small("stratum", 255)?,
        leap: small("leap", 3)?,
        offset: f("offset")?,
        delay: f("delay")?,
        version: small("version", 7)?,
        mode: small("mode", 7)?,
        poll: i("poll")?,
        precision: i("precision")?,
        root_delay: f("root_delay")?,
        root_dispersion: f("root_dispersion")?,
        ref_id: u32::try_from(i("ref_id")?).map_err(|e| format!("ref_id: {e}"))?,
        ref_time: f("ref_time")?,
        orig_time: f("orig_time")?,
        recv_time: f("recv_time")?,
        tx_time: f("tx_time")?,
        dest_time: f("dest_time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reply_and_error() {
        let line = r#"{"stratum": 5, "leap": 0, "offset": 3.9e-05, "delay": 0.00016, "version": 4, "mode": 4, "poll": 0, "precision": -25, "root_delay": 0.0, "root_dispersion": 0.0, "ref_id": 2139029761, "ref_time": 1795254240.5, "orig_time": 1795254290.1, "recv_time": 1795254290.2, "tx_time": 1795254290.2, "dest_time": 1795254290.3}"#;
        let r = parse_ntplib_json(line).unwrap();
        assert_eq!((r.stratum, r.leap, r.version, r.mode), (5, 0, 4, 4));
        assert_eq!(r.ref_id, 0x7F7F_0101);
        let e = parse_ntplib_json(r#"{"error": "NTPException: No response received from 127.0.0.1."}"#).unwrap_err();
        assert!(e.contains("No response"));
        assert!(parse_ntplib_json("garbage").is_err());
        assert!(parse_ntplib_json(r#"{"stratum": 300}"#).is_err());
    }
}
