//! Shared helpers for the daemon's integration tests: start the real
//! `simple-ntpd` binary on a loopback address with a generated config, and
//! run its CLI.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ntp_test_support::{free_udp_port, run_bounded, CommandOutput, DaemonProcess, TempDir};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_simple-ntpd"))
}

/// A running daemon, its address and its config directory.
pub struct Running {
    pub daemon: DaemonProcess,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

/// Starts `simple-ntpd run -c FILE` where FILE has `[network]` for
/// `ip`:`port` (a free port when 0), `[ntp_server] stratum` and the extra TOML.
pub fn start(ip: IpAddr, port: u16, stratum: u8, extra_toml: &str) -> Running {
    let port = if port == 0 { free_udp_port(ip) } else { port };
    let dir = TempDir::new("simple-ntpd-test").expect("temp dir");
    let config = format!(
        "[network]\nlisten_address = \"{ip}\"\nlisten_port = {port}\n\n[ntp_server]\nstratum = {stratum}\nupstream_servers = []\n\n{extra_toml}\n"
    );
    let file = dir.write("simple-ntpd.toml", &config).expect("write config");
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg("-c").arg(&file).env_remove("SIMPLE_NTPD_CONFIG");
    let mut daemon = DaemonProcess::spawn_command(cmd).expect("spawn simple-ntpd");
    let addr = SocketAddr::new(ip, port);
    daemon.wait_until_serving(addr, Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    Running { daemon, addr, dir }
}

/// Runs the CLI with `args`, bounded in time.
pub fn cli(args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("SIMPLE_NTPD_CONFIG");
    run_bounded(&mut cmd, Duration::from_secs(30)).expect("run simple-ntpd CLI")
}
