//! A real chronyd serving NTP on a chosen address/port (`local stratum N`).
//!
//! Command: `chronyd -x -d -u root -4|-6 -f <dir>/chrony.conf` with
//! ```text
//! pidfile <dir>/chronyd.pid
//! driftfile <dir>/chronyd.drift
//! cmdport 0
//! bindcmdaddress <dir>/run/chronyd.sock    (chronyc -h <that path> works)
//! port <port>
//! bindaddress <ip>
//! local stratum <n>
//! allow 127.0.0.0/8
//! allow ::1
//! <extra_config_lines...>
//! ```
//! `-4`/`-6` keep it off the other family's wildcard address. Several chronyd
//! instances can serve port 123 on different 127.x.y.z addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::chronyc::{run_chronyc, ChronySource};
use super::config::{base_lines, render, socket_path};
use super::paths::{chronyd_path, chronyd_user_args};
use crate::daemon::DaemonProcess;
use crate::sntp::ProbeReply;
use crate::tempdir::TempDir;

/// How to run a [`ChronydServer`].
#[derive(Debug, Clone)]
pub struct ChronydServerOpts {
    /// Address to bind (`bindaddress`).
    pub bind_ip: IpAddr,
    /// UDP port to serve; 0 picks a free port on `bind_ip`.
    pub port: u16,
    /// `local stratum N`; 0 omits the `local` line (then the server is unsynchronised
    /// unless `extra_config_lines` give it a source).
    pub local_stratum: u8,
    /// Appended to the config (e.g. `keyfile ...`, `ratelimit ...`, `ntsserverkey ...`).
    pub extra_config_lines: Vec<String>,
}

impl Default for ChronydServerOpts {
    /// 127.0.0.1, a free port, local stratum 5.
    fn default() -> Self {
        ChronydServerOpts {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            local_stratum: 5,
            extra_config_lines: Vec::new(),
        }
    }
}

/// A running chronyd server; killed (by PID) and its temp dir removed on drop.
#[derive(Debug)]
pub struct ChronydServer {
    // Field order matters: the process is killed before its directory is removed.
    process: DaemonProcess,
    dir: TempDir,
    addr: SocketAddr,
    config: String,
    first_reply: ProbeReply,
}

impl ChronydServer {
    /// Start chronyd and wait (at most 10 s) until it answers an SNTP probe with a
    /// synchronised reply (leap != 3, stratum != 0).
    pub fn start(opts: ChronydServerOpts) -> Result<ChronydServer, String> {
        Self::start_timeout(opts, Duration::from_secs(10))
    }

    /// [`Self::start`] with an explicit readiness time limit.
    pub fn start_timeout(opts: ChronydServerOpts, timeout: Duration) -> Result<ChronydServer, String> {
        let chronyd = chronyd_path().ok_or("chronyd not installed (run scripts/install-test-deps.sh)")?;
        let port = match opts.port {
            0 => crate::net::free_udp_port(opts.bind_ip),
            p => p,
        };
        let dir = TempDir::new("chronyd-server")?;
        dir.subdir("run")?;
        let mut lines = base_lines(dir.path(), true);
        lines.push(format!("port {port}"));
        lines.push(format!("bindaddress {}", opts.bind_ip));
        if opts.local_stratum > 0 {
            lines.push(format!("local stratum {}", opts.local_stratum));
        }
        lines.push("allow 127.0.0.0/8".into());
        lines.push("allow ::1".into());
        lines.extend(opts.extra_config_lines.iter().cloned());
        let config = render(&lines);
        let conf = dir.write("chrony.conf", &config)?;

        let mut cmd = Command::new(&chronyd);
        cmd.args(["-x", "-d"])
            .args(chronyd_user_args())
            .arg(if opts.bind_ip.is_ipv4() { "-4" } else { "-6" })
            .arg("-f")
            .arg(&conf);
        let mut process = DaemonProcess::spawn_command(cmd)?;
        let addr = SocketAddr::new(opts.bind_ip, port);
        let deadline = Instant::now() + timeout;
        let first_reply = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = process
                .wait_until_serving(addr, left)
                .map_err(|e| format!("chronyd server: {e}\n--- config ---\n{config}"))?;
            if opts.local_stratum == 0 || (r.li != 3 && r.stratum != 0) {
                break r;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chronyd on {addr} still unsynchronised (li {} stratum {}) after {timeout:?}\n{}",
                    r.li,
                    r.stratum,
                    process.log_context()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(ChronydServer { process, dir, addr, config, first_reply })
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound IP.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// The UDP port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The probe reply that showed it was ready.
    pub fn first_reply(&self) -> &ProbeReply {
        &self.first_reply
    }

    /// chronyd's log so far (`-d`: everything goes to stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The generated chrony.conf.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Its private directory (config, pidfile, driftfile, `run/chronyd.sock`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its unix command socket (for `chronyc -h <path>`).
    pub fn socket(&self) -> PathBuf {
        socket_path(self.dir.path())
    }

    /// Run `chronyc -h <socket> -n <args>` against this server (e.g. `serverstats`,
    /// `clients`, `-c sources`).
    pub fn chronyc(&self, args: &[&str]) -> Result<String, String> {
        run_chronyc(&self.socket(), args, Duration::from_secs(5))
    }

    /// `chronyc -c sources` of the server (useful when it has upstream sources).
    pub fn sources(&self) -> Result<Vec<ChronySource>, String> {
        super::chronyc::parse_sources_csv(&self.chronyc(&["-c", "sources"])?)
    }

    /// The underlying process (signals, exit status, explicit kill).
    pub fn process_mut(&mut self) -> &mut DaemonProcess {
        &mut self.process
    }
}
