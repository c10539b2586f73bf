//! A real chronyd acting as a *client* of the server under test, observed through
//! `chronyc` on a private unix socket and its `measurements.log`.
//!
//! Command: `chronyd -x -d -u root -f <dir>/chrony.conf` with
//! ```text
//! pidfile <dir>/chronyd.pid
//! driftfile <dir>/chronyd.drift
//! cmdport 0
//! bindcmdaddress <dir>/run/chronyd.sock
//! port 0                                   (does not serve)
//! logdir <dir>/log
//! log measurements statistics tracking
//! server <ip> port <port> <server_opts>
//! <extra_config_lines...>
//! ```
//! `-x`: the clock is never touched; chronyd keeps a virtual correction instead, so
//! after the first update its sample offsets are ≈ 0 and the raw offset of the system
//! clock shows up in `tracking().system_time_s` (see [`super::chronyc`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::chronyc::{
    parse_key_values, parse_measurements_log, parse_sources_csv, parse_tracking_csv, run_chronyc, ChronyMeasurement,
    ChronySource, ChronyTracking,
};
use super::config::{base_lines, render, server_line, socket_path};
use super::paths::{chronyd_path, chronyd_user_args};
use crate::daemon::DaemonProcess;
use crate::tempdir::TempDir;

/// How to run a [`ChronydClient`].
#[derive(Debug, Clone)]
pub struct ChronydClientOpts {
    /// Server to use.
    pub server_ip: IpAddr,
    /// Server UDP port.
    pub server_port: u16,
    /// Options after `server IP port N`; default `iburst minpoll 0 maxpoll 0`
    /// (one request per second). Add e.g. `key 1`, `nts`, `xleave`, `version 3`.
    pub server_opts: String,
    /// Extra config lines (e.g. `keyfile /path`, `ntstrustedcerts /path`).
    pub extra_config_lines: Vec<String>,
}

impl ChronydClientOpts {
    /// Defaults for a server at `ip:port`.
    pub fn new(server_ip: IpAddr, server_port: u16) -> ChronydClientOpts {
        ChronydClientOpts {
            server_ip,
            server_port,
            server_opts: "iburst minpoll 0 maxpoll 0".into(),
            extra_config_lines: Vec::new(),
        }
    }
}

/// A running chronyd client; killed (by PID) and its temp dir removed on drop.
#[derive(Debug)]
pub struct ChronydClient {
    // Field order matters: the process is killed before its directory is removed.
    process: DaemonProcess,
    dir: TempDir,
    config: String,
    server: String,
}

impl ChronydClient {
    /// Start chronyd and wait (at most 10 s) until its command socket answers.
    pub fn start(opts: ChronydClientOpts) -> Result<ChronydClient, String> {
        let chronyd = chronyd_path().ok_or("chronyd not installed (run scripts/install-test-deps.sh)")?;
        let dir = TempDir::new("chronyd-client")?;
        dir.subdir("run")?;
        let logdir = dir.subdir("log")?;
        let mut lines = base_lines(dir.path(), true);
        lines.push("port 0".into());
        lines.push(format!("logdir {}", logdir.display()));
        lines.push("log measurements statistics tracking".into());
        lines.push(server_line(opts.server_ip, opts.server_port, &opts.server_opts));
        lines.extend(opts.extra_config_lines.iter().cloned());
        let config = render(&lines);
        let conf = dir.write("chrony.conf", &config)?;
        let mut cmd = Command::new(&chronyd);
        cmd.args(["-x", "-d"]).args(chronyd_user_args()).arg("-f").arg(&conf);
        let process = DaemonProcess::spawn_command(cmd)?;
        let mut client = ChronydClient { process, dir, config, server: opts.server_ip.to_string() };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = client.process.exit_status() {
                return Err(format!(
                    "chronyd client exited ({s})\n{}\n--- config ---\n{}",
                    client.process.log_context(),
                    client.config
                ));
            }
            match client.chronyc(&["-c", "tracking"]) {
                Ok(_) => return Ok(client),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "chronyd client command socket not answering: {e}\n{}",
                        client.process.log_context()
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `chronyc -h <socket> -n <args>` (bounded to 5 s).
    pub fn chronyc(&self, args: &[&str]) -> Result<String, String> {
        run_chronyc(&self.socket(), args, Duration::from_secs(5))
    }

    /// `chronyc -c tracking`.
    pub fn tracking(&self) -> Result<ChronyTracking, String> {
        parse_tracking_csv(&self.chronyc(&["-c", "tracking"])?)
    }

    /// `chronyc -c sources`.
    pub fn sources(&self) -> Result<Vec<ChronySource>, String> {
        parse_sources_csv(&self.chronyc(&["-c", "sources"])?)
    }

    /// `chronyc ntpdata <server>` as `Key -> value` (e.g. `Authenticated` = `Yes`,
    /// `Interleaved`, `Total valid RX`, `Offset` = `+0.000007548 seconds`, `Mode`,
    /// `Stratum`, `Leap status`, `NTP tests`).
    pub fn ntpdata(&self) -> Result<std::collections::BTreeMap<String, String>, String> {
        Ok(parse_key_values(&self.chronyc(&["ntpdata", &self.server])?))
    }

    /// Parsed `measurements.log` so far (one entry per reply chronyd accepted for
    /// processing, with the tests that passed).
    pub fn measurements(&self) -> Vec<ChronyMeasurement> {
        std::fs::read_to_string(self.dir.path().join("log").join("measurements.log"))
            .map(|s| parse_measurements_log(&s))
            .unwrap_or_default()
    }

    /// Wait (bounded) until chronyd has selected the server (`*` in `sources`) and
    /// tracking is synchronised.
    pub fn wait_for_sync(&mut self, timeout: Duration) -> Result<ChronyTracking, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.sources().and_then(|s| {
                let selected = s.iter().any(|x| x.state == '*');
                let t = self.tracking()?;
                Ok((selected && t.is_synced()).then_some(t))
            });
            if let Ok(Some(t)) = state {
                return Ok(t);
            }
            self.fail_if_exited()?;
            if Instant::now() >= deadline {
                return Err(format!(
                    "chronyd client not synchronised after {timeout:?} (last: {state:?})\n\
                     sources: {:?}\nmeasurements: {:?}\n{}",
                    self.chronyc(&["sources"]),
                    self.measurements(),
                    self.process.log_context()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait (bounded) until `measurements.log` holds at least `n` entries.
    pub fn wait_for_measurements(&mut self, n: usize, timeout: Duration) -> Result<Vec<ChronyMeasurement>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.measurements();
            if m.len() >= n {
                return Ok(m);
            }
            self.fail_if_exited()?;
            if Instant::now() >= deadline {
                return Err(format!(
                    "only {} of {n} measurements after {timeout:?}\nntpdata: {:?}\n{}",
                    m.len(),
                    self.chronyc(&["ntpdata"]),
                    self.process.log_context()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn fail_if_exited(&mut self) -> Result<(), String> {
        match self.process.exit_status() {
            Some(s) => Err(format!("chronyd client exited ({s})\n{}", self.process.log_context())),
            None => Ok(()),
        }
    }

    /// chronyd's log (stderr) so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The generated chrony.conf.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Private dir (config, `log/`, `run/chronyd.sock`); put keyfiles/certs here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The unix command socket.
    pub fn socket(&self) -> PathBuf {
        socket_path(self.dir.path())
    }

    /// The underlying process.
    pub fn process_mut(&mut self) -> &mut DaemonProcess {
        &mut self.process
    }
}
