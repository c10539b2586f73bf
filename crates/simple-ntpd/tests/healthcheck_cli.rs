//! `simple-ntpd healthcheck`, the container health probe: it follows the
//! configured address and port (file, `SIMPLE_NTPD_CONFIG`, environment),
//! asks a wildcard listener on loopback, and tells healthy (exit 0) from
//! starting and unhealthy (exit 1, never Docker's reserved 2).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use ntp_test_support::{free_udp_port, run_bounded, CommandOutput, DaemonProcess, TempDir};

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> CommandOutput {
    let mut cmd = Command::new(common::bin());
    cmd.arg("healthcheck").args(args).env_remove("SIMPLE_NTPD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(&mut cmd, Duration::from_secs(30)).expect("run simple-ntpd healthcheck")
}

fn code(out: &CommandOutput) -> Option<i32> {
    out.status.and_then(|s| s.code())
}

#[test]
fn healthy_on_the_port_of_a_mounted_file_or_the_environment() {
    let run = common::start("127.0.0.1".parse().unwrap(), 0, 5, "[monitoring]\nenabled = false\n");
    let file = run.dir.path().join("simple-ntpd.toml");
    let want = format!("healthy: {} serves stratum 5", run.addr);

    let out = healthcheck(&["-c", file.to_str().unwrap()], &[]);
    assert_eq!(code(&out), Some(0), "{}", out.describe());
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);

    let out = healthcheck(&[], &[("SIMPLE_NTPD_CONFIG", file.to_str().unwrap())]);
    assert_eq!(code(&out), Some(0), "{}", out.describe());

    let port = run.addr.port().to_string();
    let out = healthcheck(&[], &[("SIMPLE_NTPD_LISTEN_ADDRESS", "127.0.0.1"), ("SIMPLE_NTPD_LISTEN_PORT", &port)]);
    assert_eq!(code(&out), Some(0), "{}", out.describe());
    assert!(out.stdout.starts_with(&want), "{}", out.stdout);
}

#[test]
fn a_wildcard_listener_is_asked_on_loopback() {
    let ip: IpAddr = "0.0.0.0".parse().unwrap();
    let port = free_udp_port(ip);
    let dir = TempDir::new("healthcheck").unwrap();
    let file = dir
        .write(
            "c.toml",
            &format!("[network]\nlisten_address = \"0.0.0.0\"\nlisten_port = {port}\n[monitoring]\nenabled = false\n"),
        )
        .unwrap();
    let mut daemon = DaemonProcess::spawn(common::bin(), ["run", "-c", file.to_str().unwrap()]).unwrap();
    daemon.wait_until_serving(SocketAddr::new("127.0.0.1".parse().unwrap(), port), Duration::from_secs(10)).unwrap();
    let out = healthcheck(&["-c", file.to_str().unwrap()], &[]);
    assert_eq!(code(&out), Some(0), "{}", out.describe());
    assert!(out.stdout.starts_with(&format!("healthy: 127.0.0.1:{port} serves stratum 10")), "{}", out.stdout);
}

#[test]
fn an_unsynchronised_daemon_is_starting() {
    // Its only source is a silent loopback port: it answers leap 3, stratum 0.
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let env = [
        ("SIMPLE_NTPD_LISTEN_ADDRESS", "127.0.0.1".to_owned()),
        ("SIMPLE_NTPD_LISTEN_PORT", port.to_string()),
        ("SIMPLE_NTPD_SOURCES_SERVERS", format!("[{{ address = \"127.0.0.1:{}\" }}]", free_udp_port(ip))),
        ("SIMPLE_NTPD_CLOCK_DISCIPLINE", "virtual".to_owned()),
        ("SIMPLE_NTPD_MONITORING_ENABLED", "false".to_owned()),
    ];
    let mut cmd = Command::new(common::bin());
    cmd.arg("run").env_remove("SIMPLE_NTPD_CONFIG").envs(env.iter().map(|(k, v)| (k, v)));
    let mut daemon = DaemonProcess::spawn_command(cmd).unwrap();
    let r = daemon.wait_until_serving(SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!((r.li, r.stratum), (3, 0));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = healthcheck(&[], &env);
    assert_eq!(code(&out), Some(1), "{}", out.describe());
    assert!(
        out.stdout.starts_with(&format!("starting: 127.0.0.1:{port} answers but is not synchronised yet")),
        "{}",
        out.stdout
    );
}

#[test]
fn silence_is_unhealthy_within_the_timeout_and_never_exit_2() {
    let port = free_udp_port("127.0.0.1".parse().unwrap()).to_string();
    let started = Instant::now();
    let out = healthcheck(
        &["--timeout", "0.3"],
        &[("SIMPLE_NTPD_LISTEN_ADDRESS", "127.0.0.1"), ("SIMPLE_NTPD_LISTEN_PORT", &port)],
    );
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(code(&out), Some(1), "{}", out.describe());
    assert!(out.stdout.starts_with(&format!("unhealthy: no reply from 127.0.0.1:{port}")), "{}", out.stdout);

    let out = healthcheck(&[], &[("SIMPLE_NTPD_LISTEN_PORT", "not-a-port")]);
    assert_eq!(code(&out), Some(1), "{}", out.describe());
    assert!(out.stdout.starts_with("unhealthy: configuration error"), "{}", out.stdout);
}

#[test]
fn a_refusal_is_unhealthy_and_says_why() {
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        5,
        "[monitoring]\nenabled = false\n[security]\ndeny_kod = true\n[[security.access]]\nnetwork = \"127.0.0.0/8\"\npermission = \"deny\"\n",
    );
    let file = run.dir.path().join("simple-ntpd.toml");
    let out = healthcheck(&["-c", file.to_str().unwrap()], &[]);
    assert_eq!(code(&out), Some(1), "{}", out.describe());
    assert!(out.stdout.contains("refused the probe with kiss-o'-death DENY"), "{}", out.stdout);
}
