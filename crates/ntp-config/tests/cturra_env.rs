//! The variables of the cturra/ntp image (`NTP_SERVERS`, `ENABLE_NTS`,
//! `LOG_LEVEL`, `NOCLIENTLOG`): their meaning, their place between files and
//! `SIMPLE_NTPD_*` variables, and their errors and warnings; and
//! `SIMPLE_NTPD_IMAGE`, which belongs to the container deployment files.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::load;
use ntp_config::{LogLevel, ServerSource};

fn addresses(servers: &[ServerSource]) -> Vec<&str> {
    servers.iter().map(|s| s.address.as_str()).collect()
}

#[test]
fn ntp_servers_become_iburst_sources() {
    let l = load(&[], &[("NTP_SERVERS", "time.cloudflare.com,\"ntp1.example.net\", 192.0.2.7:1123")]).unwrap();
    let servers = &l.config.sources.servers;
    assert_eq!(addresses(servers), ["time.cloudflare.com", "ntp1.example.net", "192.0.2.7:1123"]);
    assert!(servers.iter().all(|s| s.iburst && !s.nts));
    assert!(!l.config.server.local.enabled);
    assert!(!l.config.is_local_reference());
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn enable_nts_makes_every_server_nts_and_not_the_nts_server() {
    let l = load(&[], &[("NTP_SERVERS", "time.cloudflare.com,nts.example.net"), ("ENABLE_NTS", "true")]).unwrap();
    assert!(l.config.sources.servers.iter().all(|s| s.nts && s.iburst));
    assert!(!l.config.security.nts.enabled, "ENABLE_NTS is about the upstream servers");
    let off = load(&[], &[("NTP_SERVERS", "a.example"), ("ENABLE_NTS", "false")]).unwrap();
    assert!(!off.config.sources.servers[0].nts);
}

#[test]
fn enable_nts_without_servers_is_warned() {
    let l = load(&[], &[("ENABLE_NTS", "true")]).unwrap();
    assert!(l.config.sources.servers.is_empty());
    assert!(l.warnings.iter().any(|w| w.starts_with("environment ENABLE_NTS: no effect")), "{:?}", l.warnings);
    let local_only = load(&[], &[("ENABLE_NTS", "true"), ("NTP_SERVERS", "127.127.1.1")]).unwrap();
    assert!(local_only.warnings.iter().any(|w| w.contains("ENABLE_NTS")));
}

#[test]
fn a_loopback_item_is_the_local_clock() {
    // cturra/ntp's "local (offline)" form: chrony's `local stratum 10`.
    let l = load(&[("f.toml", "[ntp_server]\nstratum = 4\n")], &[("NTP_SERVERS", "127.127.1.1")]).unwrap();
    assert!(l.config.is_local_reference());
    assert_eq!(l.config.ntp_server.stratum, 10);
    assert!(l.config.server.local.enabled);
    assert_eq!(l.config.server.local.stratum, 10);
    // Beside real servers it is the fallback when they are all lost.
    let mixed = load(&[], &[("NTP_SERVERS", "a.example,127.127.1.1")]).unwrap();
    assert_eq!(addresses(&mixed.config.sources.servers), ["a.example"]);
    assert!(mixed.config.server.local.enabled);
    assert_eq!(mixed.config.ntp_server.stratum, 10);
}

#[test]
fn empty_ntp_servers_keeps_the_default() {
    let l = load(&[], &[("NTP_SERVERS", " ")]).unwrap();
    assert!(l.config.is_local_reference());
    assert_eq!(l.config.ntp_server.stratum, 10);
    assert!(!l.config.server.local.enabled);
}

#[test]
fn ntp_servers_override_a_file_and_yield_to_simple_ntpd_variables() {
    let file = ("f.toml", "[[sources.servers]]\naddress = \"file.example\"\n");
    let l = load(&[file], &[("NTP_SERVERS", "env.example")]).unwrap();
    assert_eq!(addresses(&l.config.sources.servers), ["env.example"]);

    let l = load(
        &[file],
        &[("NTP_SERVERS", "env.example"), ("SIMPLE_NTPD_SOURCES_SERVERS", "[{ address = \"simple.example\" }]")],
    )
    .unwrap();
    assert_eq!(addresses(&l.config.sources.servers), ["simple.example"]);
    assert!(
        l.warnings
            .iter()
            .any(|w| w == "environment NTP_SERVERS: ignored, SIMPLE_NTPD_SOURCES_SERVERS is set and takes precedence"),
        "{:?}",
        l.warnings
    );

    // The seed 000 upstream list means the same thing: it wins as well.
    let l =
        load(&[], &[("NTP_SERVERS", "env.example"), ("SIMPLE_NTPD_UPSTREAM_SERVERS", "a.example,b.example")]).unwrap();
    assert!(l.config.sources.servers.is_empty());
    assert_eq!(l.config.ntp_server.upstream_servers, ["a.example", "b.example"]);
    assert!(l.warnings.iter().any(|w| w.contains("SIMPLE_NTPD_UPSTREAM_SERVERS is set")));
}

#[test]
fn log_level_takes_chrony_numbers_and_level_names() {
    for (raw, want) in [
        ("0", LogLevel::Info),
        ("1", LogLevel::Warn),
        ("2", LogLevel::Error),
        ("3", LogLevel::Error),
        ("9", LogLevel::Info),
        ("-1", LogLevel::Debug),
        ("debug", LogLevel::Debug),
    ] {
        let l = load(&[("f.toml", "[logging]\nlevel = \"TRACE\"\n")], &[("LOG_LEVEL", raw)]).unwrap();
        assert_eq!(l.config.logging.level, want, "LOG_LEVEL={raw}");
    }
    let e = load(&[], &[("LOG_LEVEL", "loud")]).unwrap_err().to_string();
    assert!(e.starts_with("environment LOG_LEVEL: "), "{e}");
    assert!(e.contains("logging.level"), "{e}");
}

#[test]
fn simple_ntpd_log_level_wins_over_log_level() {
    for var in ["SIMPLE_NTPD_LOG_LEVEL", "SIMPLE_NTPD_LOGGING_LEVEL"] {
        let l = load(&[], &[("LOG_LEVEL", "2"), (var, "debug")]).unwrap();
        assert_eq!(l.config.logging.level, LogLevel::Debug);
        assert!(l.warnings.iter().any(|w| w.contains("LOG_LEVEL: ignored") && w.contains(var)), "{:?}", l.warnings);
    }
}

#[test]
fn noclientlog_turns_the_client_log_off() {
    let default = load(&[], &[]).unwrap().config.monitoring.client_log_size;
    assert!(default > 0);
    assert_eq!(load(&[], &[("NOCLIENTLOG", "true")]).unwrap().config.monitoring.client_log_size, 0);
    assert_eq!(load(&[], &[("NOCLIENTLOG", "false")]).unwrap().config.monitoring.client_log_size, default);
    let l = load(&[], &[("NOCLIENTLOG", "true"), ("SIMPLE_NTPD_MONITORING_CLIENT_LOG_SIZE", "64")]).unwrap();
    assert_eq!(l.config.monitoring.client_log_size, 64);
    assert!(l.warnings.iter().any(|w| w.contains("NOCLIENTLOG: ignored")));
    let e = load(&[], &[("NOCLIENTLOG", "maybe")]).unwrap_err().to_string();
    assert_eq!(e, "environment NOCLIENTLOG: NOCLIENTLOG must be true or false, got \"maybe\"");
}

#[test]
fn bad_values_name_the_variable() {
    let e = load(&[], &[("ENABLE_NTS", "sometimes")]).unwrap_err().to_string();
    assert!(e.starts_with("environment ENABLE_NTS: "), "{e}");
    let e = load(&[], &[("NTP_SERVERS", "good.example,bad host")]).unwrap_err().to_string();
    assert!(e.starts_with("environment NTP_SERVERS: "), "{e}");
}

#[test]
fn the_reference_documents_the_mapping() {
    let md = ntp_config::reference_markdown();
    assert!(md.contains("### Variables of the cturra/ntp image"));
    for v in ntp_config::COMPAT_VARIABLES {
        assert!(md.contains(&format!("| `{}` |", v.name)), "{} undocumented", v.name);
    }
}

#[test]
fn the_image_variable_of_the_deployment_files_is_not_a_setting() {
    // `SIMPLE_NTPD_IMAGE=... docker stack deploy` leaves it in the shell.
    let l = load(&[], &[("SIMPLE_NTPD_IMAGE", "simple-ntpd:0.1")]).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert!(load(&[], &[("SIMPLE_NTPD_IMAGES", "x")]).is_err(), "other unknown names stay errors");
}
