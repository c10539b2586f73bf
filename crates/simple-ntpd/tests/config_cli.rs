//! `simple-ntpd config check|show` on the seed 000 examples and on mistakes,
//! and configuration reaching the served packets (files, env, flags).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ntp_test_support::{free_udp_port, run_bounded, sntp_probe, DaemonProcess, TempDir};

fn seed_examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed000");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn the_four_seed_000_examples_pass_config_check() {
    let files = seed_examples();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in files {
        let out = common::cli(&["config", "check", "--no-env", f.to_str().unwrap()]);
        assert!(out.success(), "{}: {}", f.display(), out.describe());
        assert!(out.stdout.contains("configuration OK"), "{}", out.stdout);
        // Every key of the four profiles is implemented (the development
        // endpoints too): no "not implemented" warning.
        assert!(!out.stderr.contains("not implemented"), "{}: {}", f.display(), out.describe());
    }
}

#[test]
fn run_is_the_default_subcommand_and_log_level_is_a_flag() {
    let ip = "127.0.0.1".parse().unwrap();
    let dir = TempDir::new("default-run").unwrap();
    let file = dir.write("c.toml", "[ntp_server]\nstratum = 5\n[monitoring]\nenabled = false\n").unwrap();
    let port = free_udp_port(ip);
    let mut cmd = Command::new(common::bin());
    cmd.args(["-c", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--log-level", "warn"])
        .env_remove("SIMPLE_NTPD_CONFIG");
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    let r = d.wait_until_serving(std::net::SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!(r.stratum, 5);
    // The file says nothing about logging; the flag quiets the INFO lines.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!d.log().contains(" INFO "), "--log-level warn still logs INFO:\n{}", d.log());

    let out = common::cli(&["version"]);
    assert!(out.success());
    assert_eq!(out.stdout.trim(), format!("simple-ntpd {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn mistakes_fail_and_name_the_key() {
    let dir = TempDir::new("cfg").unwrap();
    let typo = dir.write("typo.toml", "[network]\nlisten_adress = \"127.0.0.1\"\n").unwrap();
    let out = common::cli(&["config", "check", "--no-env", typo.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(out.stderr.contains("listen_adress"), "{}", out.stderr);
    assert!(out.stderr.contains("listen_address"), "suggestion missing: {}", out.stderr);
    assert!(out.stderr.contains("typo.toml:2"), "file:line missing: {}", out.stderr);

    let bad_port = dir.write("port.toml", "[network]\nlisten_port = \"abc\"\n").unwrap();
    let out = common::cli(&["config", "check", "--no-env", bad_port.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(out.stderr.contains("listen_port"), "{}", out.stderr);

    // run refuses to start on a bad config, with the same message.
    let out = common::cli(&["run", "-c", bad_port.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(out.stderr.contains("listen_port"), "{}", out.stderr);
}

#[test]
fn config_show_prints_the_merged_result() {
    let dir = TempDir::new("show").unwrap();
    let base =
        dir.write("base.toml", "[network]\nlisten_address = \"127.0.0.1\"\n[ntp_server]\nstratum = 3\n").unwrap();
    let overlay = dir.write("prod.toml", "[ntp_server]\nstratum = 4\n").unwrap();
    let out = common::cli(&["config", "show", "-c", base.to_str().unwrap(), "-c", overlay.to_str().unwrap()]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains("stratum = 4"), "{}", out.stdout);
    assert!(out.stdout.contains("127.0.0.1"), "{}", out.stdout);
}

#[test]
fn env_and_flags_override_files_in_served_packets() {
    let ip = "127.0.0.1".parse().unwrap();
    let dir = TempDir::new("env").unwrap();
    let file = dir.write("c.toml", "[ntp_server]\nstratum = 3\n").unwrap();

    // Environment (seed 000 short forms) over the file.
    let port = free_udp_port(ip);
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", file.to_str().unwrap()])
        .env("SIMPLE_NTPD_STRATUM", "7")
        .env("SIMPLE_NTPD_LISTEN_ADDRESS", "127.0.0.1")
        .env("SIMPLE_NTPD_LISTEN_PORT", port.to_string());
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    let r = d.wait_until_serving(std::net::SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!(r.stratum, 7);
    drop(d);

    // Flags over the environment.
    let port = free_udp_port(ip);
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "-c", file.to_str().unwrap(), "--stratum", "9", "--listen", &format!("127.0.0.1:{port}")])
        .env("SIMPLE_NTPD_STRATUM", "7");
    let mut d = DaemonProcess::spawn_command(cmd).unwrap();
    let r = d.wait_until_serving(std::net::SocketAddr::new(ip, port), Duration::from_secs(10)).unwrap();
    assert_eq!(r.stratum, 9);
    let probe = sntp_probe(std::net::SocketAddr::new(ip, port), 4, Duration::from_secs(2)).unwrap();
    assert_eq!(probe.stratum, 9);
}

#[test]
fn json_logs_when_configured() {
    let mut run =
        common::start("127.0.0.1".parse().unwrap(), 0, 3, "[logging]\nlog_format = \"json\"\nlevel = \"debug\"\n");
    // The log is written by a background thread: wait for the line.
    let log = run.daemon.wait_for_log("serving NTP", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let first = log.lines().find(|l| l.contains("serving NTP")).unwrap_or_else(|| panic!("{log}"));
    let v: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(v["level"], "INFO");
}

#[test]
fn file_output_writes_the_log_file() {
    let dir = TempDir::new("logfile").unwrap();
    let path = dir.join("nested/simple-ntpd.log");
    let run = common::start(
        "127.0.0.1".parse().unwrap(),
        0,
        3,
        &format!("[logging]\noutput = \"file\"\nfile = \"{}\"\n", path.display()),
    );
    let mut ok = false;
    for _ in 0..50 {
        if std::fs::read_to_string(&path).map(|s| s.contains("serving NTP")).unwrap_or(false) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "log file {} not written\n{}", path.display(), run.daemon.log());
    let _ = run_bounded;
}

#[test]
fn config_check_refuses_what_run_refuses() {
    let dir = TempDir::new("preflight").unwrap();
    let cases = [
        (
            "missing-keys.toml",
            "[security.authentication]\nenabled = true\nkey_file = \"/nonexistent/simple-ntpd.keys\"\n",
            "/nonexistent/simple-ntpd.keys",
        ),
        ("nts-no-cert.toml", "[security.nts]\nenabled = true\n", "certificate_chain"),
        (
            "nts-bad-cert.toml",
            "[security.nts]\nenabled = true\ncertificate_chain = \"/nonexistent/chain.pem\"\nprivate_key = \"/nonexistent/key.pem\"\n",
            "/nonexistent/chain.pem",
        ),
        ("unknown-source-key.toml", "[[sources.servers]]\naddress = \"192.0.2.1\"\nkey = 9\n", "key = 9"),
    ];
    for (name, text, says) in cases {
        let file = dir.write(name, &format!("[monitoring]\nenabled = false\n{text}")).unwrap();
        let check = common::cli(&["config", "check", "--no-env", file.to_str().unwrap()]);
        assert_eq!(check.status.and_then(|s| s.code()), Some(1), "{name}: {}", check.describe());
        assert!(check.stderr.contains(says), "{name}: {}", check.describe());
        let run = common::cli(&["run", "-c", file.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        assert_eq!(run.status.and_then(|s| s.code()), Some(1), "{name}: run started: {}", run.describe());
        assert!(run.stderr.contains(says), "{name}: {}", run.describe());
    }
}
