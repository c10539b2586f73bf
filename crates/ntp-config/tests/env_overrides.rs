//! Environment variables (long and short forms, value parsing, errors) and
//! command-line overrides, and their precedence over files.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;

use common::{load, load_with};
use ntp_config::{LogFormat, LogLevel, LogOutput, Overrides};

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const FILE: &str = "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 1123\n[ntp_server]\nstratum = 5\n[logging]\nlevel = \"INFO\"\n";

#[test]
fn long_form_overrides_files() {
    let l = load(
        &[("f.toml", FILE)],
        &[
            ("SIMPLE_NTPD_NTP_SERVER_STRATUM", "3"),
            ("SIMPLE_NTPD_NETWORK_LISTEN_PORT", "2123"),
            ("SIMPLE_NTPD_LOGGING_LOG_FORMAT", "json"),
            ("SIMPLE_NTPD_MONITORING_OFFSET_WARNING_THRESHOLD", "1.5"),
            ("SIMPLE_NTPD_SECURITY_RATELIMIT_BURST", "16"),
            ("HOME", "/root"),
        ],
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(c.ntp_server.stratum, 3);
    assert_eq!(c.listen_sockets(), vec![sock("127.0.0.1:2123")]);
    assert_eq!(c.logging.log_format, LogFormat::Json);
    assert_eq!(c.monitoring.offset.warning_threshold, 1.5);
    assert_eq!(c.security.ratelimit.burst, 16);
}

#[test]
fn short_forms_override_files() {
    let l = load(
        &[("f.toml", FILE)],
        &[
            ("SIMPLE_NTPD_STRATUM", "2"),
            ("SIMPLE_NTPD_LISTEN_ADDRESS", "127.0.0.1,::1"),
            ("SIMPLE_NTPD_LISTEN_PORT", "1124"),
            ("SIMPLE_NTPD_WORKER_THREADS", "3"),
            ("SIMPLE_NTPD_MAX_PACKET_SIZE", "512"),
            ("SIMPLE_NTPD_LOG_LEVEL", "warning"),
            ("SIMPLE_NTPD_LOG_FORMAT", "json"),
            ("SIMPLE_NTPD_LOG_OUTPUT", "file"),
            ("SIMPLE_NTPD_LOG_FILE", "/tmp/ntpd.log"),
            ("SIMPLE_NTPD_UPSTREAM_SERVERS", "a.example, b.example:123"),
            ("SIMPLE_NTPD_ENABLE_AUTHENTICATION", "true"),
            ("SIMPLE_NTPD_ENABLE_RATE_LIMITING", "1"),
            ("SIMPLE_NTPD_MAX_QUERIES_PER_MINUTE", "60"),
            ("SIMPLE_NTPD_CONFIG", "/etc/ignored.toml"),
        ],
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(c.ntp_server.stratum, 2);
    assert_eq!(c.listen_sockets(), vec![sock("127.0.0.1:1124"), sock("[::1]:1124")]);
    assert_eq!(c.performance.worker_threads, 3);
    assert_eq!(c.performance.max_packet_size, 512);
    assert_eq!(c.logging.level(), LogLevel::Warn);
    assert_eq!(c.logging.log_format, LogFormat::Json);
    assert_eq!(c.logging.output, LogOutput::File);
    assert_eq!(c.logging.file, std::path::PathBuf::from("/tmp/ntpd.log"));
    assert_eq!(c.ntp_server.upstream_servers, ["a.example", "b.example:123"]);
    assert!(c.security.enable_authentication);
    assert!(c.security.enable_rate_limiting);
    assert_eq!(c.security.max_queries_per_minute, 60);
    let env_warnings: Vec<&String> = l.warnings.iter().filter(|w| w.starts_with("environment ")).collect();
    assert!(env_warnings.is_empty(), "every key here is implemented: {env_warnings:?}");
}

#[test]
fn toml_values_in_variables() {
    let l = load(
        &[],
        &[
            ("SIMPLE_NTPD_NTP_SERVER_UPSTREAM_SERVERS", r#"["a.example", "b.example"]"#),
            (
                "SIMPLE_NTPD_SOURCES_SERVERS",
                r#"[{ address = "192.0.2.1", iburst = true }, { address = "192.0.2.2", maxPoll = 12 }]"#,
            ),
            ("SIMPLE_NTPD_LOGGING_LEVEL", "\"debug\""),
            ("SIMPLE_NTPD_NETWORK_LISTEN_ADDRESS", "[::1]:1123"),
        ],
    );
    // `maxPoll` is not the camelCase of `maxpoll`: an unknown field.
    let e = l.unwrap_err().to_string();
    assert!(
        e.starts_with("environment SIMPLE_NTPD_SOURCES_SERVERS: sources.servers[1].maxPoll: unknown field `maxPoll`"),
        "{e}"
    );
    let l = load(
        &[],
        &[
            ("SIMPLE_NTPD_NTP_SERVER_UPSTREAM_SERVERS", r#"["a.example", "b.example"]"#),
            (
                "SIMPLE_NTPD_SOURCES_SERVERS",
                r#"[{ address = "192.0.2.1", iburst = true }, { address = "192.0.2.2", maxpoll = 12 }]"#,
            ),
            ("SIMPLE_NTPD_LOGGING_LEVEL", "\"debug\""),
            ("SIMPLE_NTPD_NETWORK_LISTEN_ADDRESS", "[::1]:1123"),
        ],
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(c.ntp_server.upstream_servers, ["a.example", "b.example"]);
    assert_eq!(c.sources.servers.len(), 2);
    assert!(c.sources.servers[0].iburst);
    assert_eq!(c.sources.servers[1].maxpoll, 12);
    assert_eq!(c.logging.level(), LogLevel::Debug);
    assert_eq!(c.listen_sockets(), vec![sock("[::1]:1123")]);
}

#[test]
fn cli_overrides_env_and_files() {
    let o = Overrides {
        listen: Some(vec![sock("127.0.0.2:3123"), sock("[::1]:4123")]),
        stratum: Some(7),
        log_level: Some("error".to_owned()),
    };
    let l = load_with(
        &[("f.toml", FILE)],
        &[
            ("SIMPLE_NTPD_STRATUM", "2"),
            ("SIMPLE_NTPD_LISTEN_ADDRESS", "0.0.0.0"),
            ("SIMPLE_NTPD_LISTEN_PORT", "999"),
            ("SIMPLE_NTPD_LOG_LEVEL", "debug"),
        ],
        &o,
    )
    .unwrap();
    assert_eq!(l.config.ntp_server.stratum, 7);
    assert_eq!(l.config.listen_sockets(), vec![sock("127.0.0.2:3123"), sock("[::1]:4123")]);
    assert_eq!(l.config.logging.level(), LogLevel::Error);
    // Unset overrides leave the environment's values.
    let l = load_with(&[("f.toml", FILE)], &[("SIMPLE_NTPD_STRATUM", "2")], &Overrides::default()).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 2);
}

#[test]
fn bad_overrides_name_the_option() {
    let o = Overrides { stratum: Some(16), log_level: Some("loud".to_owned()), ..Overrides::default() };
    let e = load_with(&[], &[], &o).unwrap_err().to_string();
    assert_eq!(
        e,
        "command line --log-level: logging.level: unknown log level `loud`, expected one of TRACE, DEBUG, INFO, WARN (WARNING), ERROR (CRITICAL), OFF"
    );
    let o = Overrides { stratum: Some(16), ..Overrides::default() };
    let e = load_with(&[], &[], &o).unwrap_err().to_string();
    assert_eq!(e, "command line --stratum: ntp_server.stratum must be 1..=15, got 16");
}

#[test]
fn bad_variables_are_errors_naming_the_variable() {
    let e = load(&[], &[("SIMPLE_NTPD_NTP_SERVER_STRATUM", "99")]).unwrap_err();
    assert_eq!(e.to_string(), "environment SIMPLE_NTPD_NTP_SERVER_STRATUM: ntp_server.stratum must be 1..=15, got 99");
    let e = load(&[], &[("SIMPLE_NTPD_LISTEN_PORT", "abc")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment SIMPLE_NTPD_LISTEN_PORT: network.listen_port: invalid type: string \"abc\", expected an integer 0..=65535"
    );
    let e = load(&[], &[("SIMPLE_NTPD_LISTEN_PROT", "123")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment SIMPLE_NTPD_LISTEN_PROT: unknown simple-ntpd setting (did you mean `SIMPLE_NTPD_LISTEN_PORT`?)"
    );
    let e = load(&[], &[("SIMPLE_NTPD_SECURITY_RATELIMIT_BRUST", "4")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment SIMPLE_NTPD_SECURITY_RATELIMIT_BRUST: unknown simple-ntpd setting (did you mean `SIMPLE_NTPD_SECURITY_RATELIMIT_BURST`?)"
    );
    let e = load(&[], &[("SIMPLE_NTPD_SECURITY_NTS", "true")]).unwrap_err();
    assert!(
        e.to_string().starts_with("environment SIMPLE_NTPD_SECURITY_NTS: names the table [security.nts], not a key"),
        "{e}"
    );
    let e = load(&[], &[("SIMPLE_NTPD_XYZZY", "1")]).unwrap_err();
    assert!(e.to_string().starts_with("environment SIMPLE_NTPD_XYZZY: unknown simple-ntpd setting"));
    let e = load(&[], &[("SIMPLE_NTPD_STRATUM", "2"), ("SIMPLE_NTPD_NTP_SERVER_STRATUM", "3")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment SIMPLE_NTPD_STRATUM: ntp_server.stratum is also set by SIMPLE_NTPD_NTP_SERVER_STRATUM to a different value; set only one of them"
    );
    // The same value twice is fine.
    let l = load(&[], &[("SIMPLE_NTPD_STRATUM", "3"), ("SIMPLE_NTPD_NTP_SERVER_STRATUM", "3")]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 3);
}

#[test]
fn env_server_stratum_folds_and_overrides_file() {
    let l = load(&[("f.toml", "[server]\nstratum = 4\n")], &[("SIMPLE_NTPD_SERVER_STRATUM", "6")]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 6);
    let l = load(&[("f.toml", "[server]\nstratum = 4\n")], &[("SIMPLE_NTPD_STRATUM", "6")]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 6);
}

#[test]
fn every_key_has_a_working_variable() {
    // Setting each implemented key through its long variable reaches the config.
    let l = load(
        &[],
        &[
            ("SIMPLE_NTPD_NETWORK_LISTEN_ADDRESS", "::1"),
            ("SIMPLE_NTPD_NETWORK_LISTEN_PORT", "1123"),
            ("SIMPLE_NTPD_NTP_SERVER_STRATUM", "4"),
            ("SIMPLE_NTPD_LOGGING_LEVEL", "trace"),
            ("SIMPLE_NTPD_LOGGING_OUTPUT", "file"),
            ("SIMPLE_NTPD_LOGGING_FILE", "/x.log"),
            ("SIMPLE_NTPD_LOGGING_LOG_FORMAT", "json"),
            ("SIMPLE_NTPD_PERFORMANCE_WORKER_THREADS", "2"),
            ("SIMPLE_NTPD_PERFORMANCE_MAX_PACKET_SIZE", "48"),
        ],
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(c.listen_sockets(), vec![sock("[::1]:1123")]);
    assert_eq!(c.ntp_server.stratum, 4);
    assert_eq!(c.logging.level(), LogLevel::Trace);
    assert_eq!(c.logging.output, LogOutput::File);
    assert_eq!(c.logging.file, std::path::PathBuf::from("/x.log"));
    assert_eq!(c.logging.log_format, LogFormat::Json);
    assert_eq!(c.performance.worker_threads, 2);
    assert_eq!(c.performance.max_packet_size, 48);
    assert_eq!(l.warnings, Vec::<String>::new());
}
