//! `Config::to_toml` (the `config show` output): it loads back to the same
//! configuration, hides secrets, and the camelCase spellings of every key
//! deserialize through serde directly (as the Kubernetes operator will).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::PathBuf;

use ntp_config::*;

/// A configuration with every optional key set and one element in every list.
fn full_config() -> Config {
    let mut c = Config::default();
    c.network.listen_address = vec!["127.0.0.1:1123".parse().unwrap(), "::1".parse().unwrap()];
    c.network.listen_port = 2123;
    c.ntp_server.stratum = 3;
    c.ntp_server.upstream_servers = vec!["pool.ntp.org".parse().unwrap(), "[2001:db8::1]:123".parse().unwrap()];
    c.logging.level = LogLevel::Debug;
    c.logging.output = LogOutput::File;
    c.logging.file = PathBuf::from("/var/log/x.log");
    c.logging.log_format = LogFormat::Json;
    c.security.enable_authentication = true;
    c.security.enable_rate_limiting = true;
    c.security.max_queries_per_minute = 60;
    c.security.nts = NtsConfig {
        enabled: true,
        ke_listen: "[::]:4460".parse().unwrap(),
        certificate_chain: Some("/etc/ntpd/cert.pem".into()),
        private_key: Some("/etc/ntpd/key.pem".into()),
        key_directory: Some("/var/lib/ntpd/nts".into()),
        rotation_hours: 48,
        keep_keys: 3,
        ntp_server: Some("ntp.example.net".into()),
        max_connections: 64,
        timeout: 7,
    };
    c.security.authentication = AuthenticationConfig {
        enabled: true,
        key_file: Some("/etc/ntpd/keys".into()),
        keys: vec![AuthKey { id: 7, key_type: "SHA256".into(), value: "AVerySecureKeyString".into() }],
        require_for: vec!["192.0.2.0/24".parse().unwrap()],
    };
    c.security.ratelimit = RateLimitConfig {
        enabled: true,
        interval: -2,
        burst: 16,
        leak: 3,
        kod: true,
        table_size: 1024,
        ipv6_prefix: 56,
    };
    c.security.deny_kod = true;
    c.security.mode6_allow = vec!["192.0.2.0/24".parse().unwrap()];
    c.security.user = "ntp".into();
    c.security.access = vec![AccessRule { network: "10.0.0.0/8".parse().unwrap(), permission: Permission::Deny }];
    c.performance.worker_threads = 6;
    c.performance.max_packet_size = 1500;
    c.development.enable_debug_endpoints = true;
    c.monitoring.enabled = true;
    c.monitoring.listen = "[::1]:9559".parse().unwrap();
    c.monitoring.offset.warning_threshold = 12.5;
    c.monitoring.offset.critical_threshold = 250.0;
    c.monitoring.sources_minimum = 2;
    c.sources.pools =
        vec![PoolSource { name: "pool.ntp.org".parse().unwrap(), servers: 3, iburst: true, prefer: false }];
    c.sources.servers = vec![ServerSource {
        address: "192.0.2.1:123".parse().unwrap(),
        iburst: true,
        prefer: true,
        minpoll: 4,
        maxpoll: 8,
        key: Some(7),
        nts: true,
        ca: Some("/etc/ssl/ca.pem".into()),
        xleave: true,
    }];
    c.sources.hardware.pps.enabled = true;
    c.sources.hardware.gps.refclock = false;
    c.sources.refclocks = vec![ntp_config::RefclockSource {
        baud: Some(4800),
        ..ntp_config::RefclockSource::new(ntp_config::RefclockDriver::Nmea)
    }];
    c.sources.refclocks[0].path = Some("/dev/ttyS1".into());
    c.server.driftfile = Some("/var/lib/ntpd/drift".into());
    c.server.makestep.threshold = 0.5;
    c.server.local.enabled = true;
    c.server.local.stratum = 12;
    c.server.leapfile = Some("/usr/share/zoneinfo/leap-seconds.list".into());
    c.server.leap_smear = LeapSmear { enabled: true, duration: 3600, shape: SmearShape::Cosine };
    c.clock.discipline = ClockDiscipline::Virtual;
    c.vlan_config = vec![VlanConfig {
        vlan_ref: "vlan-10".into(),
        interface: Some("eth0.10".into()),
        enabled: false,
        broadcast: true,
        broadcast_interval: 16,
        broadcast_key: Some(1),
        clients_only: true,
        access: Some(vec![ntp_config::AccessRule {
            network: "192.0.2.0/24".parse().unwrap(),
            permission: ntp_config::Permission::Deny,
        }]),
        ratelimit: Some(ntp_config::RateLimitConfig { enabled: true, ..Default::default() }),
    }];
    c.sources.broadcast = vec![ntp_config::BroadcastSource {
        interface: "vlan-20".into(),
        server: Some("192.0.2.1".parse().unwrap()),
        port: 1123,
        key: Some(1),
        prefer: true,
    }];
    c
}

fn reload(text: &str) -> Config {
    common::load(&[("shown.toml", text)], &[])
        .unwrap_or_else(|e| panic!("to_toml output does not load:\n{e}\n---\n{text}"))
        .config
}

#[test]
fn to_toml_round_trips() {
    assert!(full_config().validate().is_ok(), "{:?}", full_config().validate());
    let mut c = full_config();
    c.security.authentication.keys.clear();
    assert_eq!(reload(&c.to_toml()), c);
    assert_eq!(reload(&Config::default().to_toml()), Config::default());
}

#[test]
fn to_toml_of_a_loaded_config_round_trips() {
    let l =
        common::load(&[("a.toml", include_str!("seed002/ntpservice.toml"))], &[("SIMPLE_NTPD_LISTEN_PORT", "1123")])
            .unwrap();
    let mut expected = l.config.clone();
    for k in &mut expected.security.authentication.keys {
        k.value = REDACTED.to_owned();
    }
    assert_eq!(reload(&l.config.to_toml()), expected);
}

#[test]
fn secrets_are_redacted() {
    let c = full_config();
    let shown = c.to_toml();
    assert!(!shown.contains("AVerySecureKeyString"), "{shown}");
    assert!(shown.contains("value = \"<redacted>\""), "{shown}");
    // The config itself is untouched.
    assert_eq!(c.security.authentication.keys[0].value, "AVerySecureKeyString");
    let back = reload(&shown);
    assert_eq!(back.security.authentication.keys[0].value, REDACTED);
    assert_eq!(back.security.authentication.keys[0].id, 7);
}

fn camel(s: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for ch in s.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.push(ch.to_ascii_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn camel_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (camel(&k), camel_keys(v))).collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

#[test]
fn every_camel_case_spelling_is_a_serde_alias() {
    let c = full_config();
    let json = camel_keys(serde_json::to_value(&c).unwrap());
    let back: Config =
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("camelCase spelling rejected: {e}\n{json:#}"));
    assert_eq!(back, c);
}

#[test]
fn json_schema_is_available() {
    let schema = serde_json::to_value(json_schema()).unwrap();
    assert_eq!(schema["properties"]["network"]["default"]["listen_port"], 123);
}
