//! One-shot `chronyd -Q` queries ("System clock wrong by X seconds (ignored)").
//!
//! Command: `chronyd -Q -u root -t <secs> -f <dir>/chrony.conf` with the config
//! ```text
//! pidfile <dir>/chronyd.pid
//! driftfile <dir>/chronyd.drift
//! cmdport 0
//! bindcmdaddress /
//! port 0
//! server <ip> port <port> iburst <extra_server_opts>
//! <extra_config_lines...>
//! ```
//! `-Q` measures and exits without touching the clock. chronyd logs on stderr;
//! the result line is `System clock wrong by 1.500024 seconds (ignored)`.
//!
//! Sign convention (verified against a server whose clock was 1.5 s ahead, which
//! printed `+1.500024`): X = server − local, the same sign as NTP's offset theta
//! (and as [`crate::sntp_probe`]'s `offset`): positive means the local clock is
//! behind the server. Failures print `Timeout reached` (`-t` expired: no usable
//! reply, e.g. silent server, stratum 0 / leap 3 / KoD replies, failed auth) or
//! `No suitable source for synchronisation`; both give `Err` with the whole log.
//! Without `maxsamples` chronyd collects 4 iburst samples (~2–4 s on loopback);
//! pass `maxsamples 1` in `extra_server_opts` for a ~0.2 s answer.

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use super::config::{base_lines, render, server_line};
use super::paths::{chronyd_path, chronyd_user_args};
use crate::command::run_bounded;
use crate::tempdir::TempDir;

/// Result of a `chronyd -Q` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronyQueryReport {
    /// "System clock wrong by X seconds": X = server − local (positive: local clock
    /// behind the server), the NTP theta convention.
    pub offset_s: f64,
    /// chronyd's whole stderr/stdout.
    pub log: String,
}

/// Options for [`chronyd_query_with`].
#[derive(Debug, Clone)]
pub struct ChronyQueryOpts {
    /// Server address.
    pub ip: IpAddr,
    /// Server UDP port.
    pub port: u16,
    /// Appended to `server IP port N iburst` (e.g. `maxsamples 1`, `key 1`, `nts`,
    /// `version 3`, `xleave`).
    pub extra_server_opts: String,
    /// Extra chrony.conf lines (e.g. `keyfile /path`, `ntstrustedcerts /path`).
    pub extra_config_lines: Vec<String>,
    /// Total time limit (chronyd's `-t`, rounded up to whole seconds).
    pub timeout: Duration,
}

/// `chronyd -Q` against `server ip port N iburst <extra_server_opts>`.
pub fn chronyd_query(
    ip: IpAddr,
    port: u16,
    extra_server_opts: &str,
    timeout: Duration,
) -> Result<ChronyQueryReport, String> {
    chronyd_query_with(&ChronyQueryOpts {
        ip,
        port,
        extra_server_opts: extra_server_opts.to_string(),
        extra_config_lines: Vec::new(),
        timeout,
    })
}

/// `chronyd -Q` with extra configuration.
pub fn chronyd_query_with(opts: &ChronyQueryOpts) -> Result<ChronyQueryReport, String> {
    let chronyd = chronyd_path().ok_or("chronyd not installed (run scripts/install-test-deps.sh)")?;
    let dir = TempDir::new("chronyq")?;
    let mut lines = base_lines(dir.path(), false);
    lines.push("port 0".into());
    lines.push(server_line(opts.ip, opts.port, &format!("iburst {}", opts.extra_server_opts)));
    lines.extend(opts.extra_config_lines.iter().cloned());
    let conf = dir.write("chrony.conf", &render(&lines))?;
    let secs = opts.timeout.as_secs_f64().ceil().max(1.0) as u64;
    let mut cmd = Command::new(&chronyd);
    cmd.arg("-Q").args(chronyd_user_args()).arg("-t").arg(secs.to_string()).arg("-f").arg(&conf);
    let out = run_bounded(&mut cmd, Duration::from_secs(secs + 5))?;
    let log = format!("{}{}", out.stderr, out.stdout);
    match parse_clock_wrong_by(&log) {
        Some(offset_s) => Ok(ChronyQueryReport { offset_s, log }),
        None => Err(format!(
            "chronyd -Q against {}:{} gave no offset\n--- config ---\n{}{}",
            opts.ip,
            opts.port,
            render(&lines),
            out.describe()
        )),
    }
}

/// The X of the last `System clock wrong by X seconds` line.
pub fn parse_clock_wrong_by(log: &str) -> Option<f64> {
    const NEEDLE: &str = "System clock wrong by ";
    log.lines().rev().find_map(|l| {
        let rest = &l[l.find(NEEDLE)? + NEEDLE.len()..];
        rest.split_whitespace().next()?.parse::<f64>().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offset_lines() {
        let log = "2026-11-21T09:44:41Z chronyd version 4.3 starting\n\
                   2026-11-21T09:44:46Z System clock wrong by 1.500024 seconds (ignored)\n\
                   2026-11-21T09:44:46Z chronyd exiting\n";
        assert_eq!(parse_clock_wrong_by(log), Some(1.500024));
        assert_eq!(parse_clock_wrong_by("System clock wrong by -0.249955 seconds (ignored)"), Some(-0.249955));
        assert_eq!(parse_clock_wrong_by("No suitable source for synchronisation"), None);
        assert_eq!(parse_clock_wrong_by("System clock wrong by lots"), None);
    }
}
