//! The NTPService resource (seed 002) as the daemon's configuration:
//! `config check` and `run -c` take the YAML document, say what to add where
//! it cannot run as written, honour `spec.enabled`, and a daemon in a pod
//! next to a Service named `simple-ntpd` starts despite the service-link
//! variables Kubernetes injects.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ntp_test_support::{free_udp_port, DaemonProcess, TempDir};

fn seed_002() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed002/ntpservice.yaml")
}

fn resource(spec: &str) -> String {
    format!("apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nmetadata:\n  name: t\nspec:\n{spec}")
}

#[test]
fn the_seed_002_example_loads_and_says_what_to_add_for_nts() {
    let f = seed_002();
    let out = common::cli(&["config", "check", "--no-env", f.to_str().unwrap()]);
    assert!(!out.success(), "{}", out.describe());
    let text = std::fs::read_to_string(&f).unwrap();
    let line = text.lines().position(|l| l.trim() == "nts:").unwrap() + 2;
    let want = format!("ntpservice.yaml:{line}:16: security.nts.enabled needs security.nts.certificate_chain");
    assert!(out.stderr.contains(&want), "{}", out.describe());
    assert!(out.stderr.contains("spec.security.nts.certificateChain"), "{}", out.describe());
    // Everything else in it is fine: with NTS off it passes, with no
    // warning (its per-VLAN section is implemented).
    let dir = TempDir::new("seed002").unwrap();
    let no_nts = text.replace("enabled: true  # Network Time Security", "enabled: false");
    assert_ne!(no_nts, text);
    let file = dir.write("ntpservice.yaml", &no_nts).unwrap();
    let out = common::cli(&["config", "check", "--no-env", file.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("(0 warning(s))"), "{}", out.describe());
}

#[test]
fn a_wrong_type_in_the_resource_names_its_line() {
    let dir = TempDir::new("seed002-bad").unwrap();
    let file = dir.write("bad.yaml", &resource("  server:\n    stratum: \"two\"\n")).unwrap();
    let out = common::cli(&["config", "check", "--no-env", file.to_str().unwrap()]);
    assert!(!out.success());
    assert!(
        out.stderr.contains("bad.yaml:7:14: server.stratum: invalid type: string \"two\", expected an integer 1..=15"),
        "{}",
        out.describe()
    );
}

#[test]
fn run_serves_a_resource_and_honours_spec_enabled() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let dir = TempDir::new("resource-run").unwrap();
    let spec = format!(
        "  network:\n    listenAddress: 127.0.0.1\n    listenPort: {port}\n  server:\n    stratum: 4\n  monitoring:\n    enabled: false\n  security:\n    user: root  # reads the file again on reload\n"
    );
    let file = dir.write("ntpservice.yaml", &resource(&spec)).unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", file.to_str().unwrap()]).env_remove("SIMPLE_NTPD_CONFIG");
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    let r = d.wait_until_serving(SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!(r.stratum, 4);

    // A reload to `enabled: false` stops serving.
    let disabled = resource(&format!("  enabled: false\n{spec}"));
    dir.write("ntpservice.yaml", &disabled).unwrap();
    d.signal("HUP").unwrap();
    let status = d.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{}", d.log_context());
    assert!(d.log().contains("enabled = false"), "{}", d.log_context());

    // Started disabled: exits at once, successfully, without binding.
    let out = common::cli(&["run", "-c", file.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stderr.contains("not serving"), "{}", out.describe());
    let out = common::cli(&["config", "check", "--no-env", file.to_str().unwrap()]);
    assert!(out.success());
    assert!(
        out.stderr.contains("ntpservice.yaml:6:12: enabled = false: `run` exits without serving"),
        "{}",
        out.describe()
    );
}

#[test]
fn kubernetes_service_links_do_not_stop_the_daemon() {
    let ip = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let dir = TempDir::new("service-links").unwrap();
    let file = dir
        .write(
            "c.toml",
            &format!("[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\n[monitoring]\nenabled = false\n[logging]\nlevel = \"DEBUG\"\n"),
        )
        .unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", file.to_str().unwrap()])
        .env_remove("SIMPLE_NTPD_CONFIG")
        // What Kubernetes injects for `Service simple-ntpd` (UDP 123, port name ntp).
        .env("SIMPLE_NTPD_SERVICE_HOST", "10.96.0.12")
        .env("SIMPLE_NTPD_SERVICE_PORT", "123")
        .env("SIMPLE_NTPD_SERVICE_PORT_NTP", "123")
        .env("SIMPLE_NTPD_PORT", "udp://10.96.0.12:123")
        .env("SIMPLE_NTPD_PORT_123_UDP", "udp://10.96.0.12:123")
        .env("SIMPLE_NTPD_PORT_123_UDP_PROTO", "udp")
        .env("SIMPLE_NTPD_PORT_123_UDP_PORT", "123")
        .env("SIMPLE_NTPD_PORT_123_UDP_ADDR", "10.96.0.12");
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    d.wait_until_serving(SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert!(
        d.log().contains("environment SIMPLE_NTPD_SERVICE_HOST: ignored, a variable Kubernetes sets"),
        "{}",
        d.log_context()
    );
    // An unknown name of another shape is still refused.
    let mut cmd = Command::new(common::bin());
    cmd.args(["config", "check", file.to_str().unwrap()])
        .env_remove("SIMPLE_NTPD_CONFIG")
        .env("SIMPLE_NTPD_SERVICE_HOSTNAME", "ntp.example.net");
    let out = ntp_test_support::run_bounded(&mut cmd, Duration::from_secs(30)).unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains("environment SIMPLE_NTPD_SERVICE_HOSTNAME: unknown simple-ntpd setting"),
        "{}",
        out.describe()
    );
}
