//! A daemon started as a non-root user, as in the container image: the
//! capabilities it was given but does not need are gone once it serves, and
//! file capabilities without the effective bit (`+p`, what the image's binary
//! carries) are made effective so that port 123 can be bound.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ntp_test_support::{free_udp_port, spare_loopback_v4, DaemonProcess, TempDir};

const CAP_NET_BIND_SERVICE: u64 = 1 << 10;

fn cap_set(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let v = s.lines().find_map(|l| l.strip_prefix(field)).unwrap();
    u64::from_str_radix(v.trim(), 16).unwrap()
}

fn usable() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root || !Path::new("/usr/bin/setpriv").exists() {
        assert!(!ntp_test_support::peers_required(), "needs root and setpriv");
        eprintln!("SKIP: needs root and setpriv");
        return false;
    }
    true
}

fn as_nobody(program: &Path, caps: &str, listen: &str) -> Command {
    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps=-all{caps}"))
        .arg(format!("--ambient-caps=-all{caps}"))
        .arg("--")
        .arg(program)
        .args(["run", "--listen", listen, "--stratum", "4"])
        .env("SIMPLE_NTPD_MONITORING_ENABLED", "false")
        .env_remove("SIMPLE_NTPD_CONFIG");
    cmd
}

#[test]
fn unneeded_capabilities_are_given_up() {
    if !usable() {
        return;
    }
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let addr = SocketAddr::new(ip, free_udp_port(ip));
    let cmd = as_nobody(&common::bin(), ",+net_bind_service,+sys_time", &addr.to_string());
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    d.wait_until_serving(addr, Duration::from_secs(10)).unwrap();
    d.wait_for_log("not started as root", Duration::from_secs(5)).unwrap();
    // A high port and no clock to steer: nothing is needed, nothing is kept.
    for field in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
        assert_eq!(cap_set(d.pid(), field), 0, "{field}\n{}", d.log());
    }
}

#[test]
fn permitted_file_capabilities_bind_port_123() {
    if !usable() {
        return;
    }
    let Some(setcap) = ["/usr/sbin/setcap", "/sbin/setcap"].into_iter().find(|p| Path::new(p).exists()) else {
        assert!(!ntp_test_support::peers_required(), "needs setcap (libcap2-bin)");
        eprintln!("SKIP: needs setcap");
        return;
    };
    let dir = TempDir::new("filecaps").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("simple-ntpd");
    std::fs::copy(common::bin(), &bin).unwrap();
    let out = Command::new(setcap).arg("cap_net_bind_service,cap_sys_time+p").arg(&bin).output().unwrap();
    assert!(out.status.success(), "setcap: {}", String::from_utf8_lossy(&out.stderr));
    let ip = IpAddr::V4(spare_loopback_v4());
    let addr = SocketAddr::new(ip, 123);
    let mut d = DaemonProcess::spawn_command(as_nobody(&bin, "", &addr.to_string())).unwrap();
    let r = d.wait_until_serving(addr, Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(r.stratum, 4);
    // Kept for binding port 123 again on reload; CAP_SYS_TIME is not needed.
    assert_eq!(cap_set(d.pid(), "CapEff:"), CAP_NET_BIND_SERVICE, "{}", d.log());
    assert_eq!(cap_set(d.pid(), "CapPrm:"), CAP_NET_BIND_SERVICE, "{}", d.log());
}
