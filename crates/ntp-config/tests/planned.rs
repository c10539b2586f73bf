//! Warnings for keys that are accepted but not implemented yet: one per
//! planned entry the user sets, none for keys left at their defaults.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::{load, ok};

fn warnings(text: &str) -> Vec<String> {
    ok(text).warnings
}

#[test]
fn no_warnings_for_implemented_or_unset_keys() {
    assert_eq!(warnings(""), Vec::<String>::new());
    assert_eq!(
        warnings("[network]\nlisten_port = 1123\n[ntp_server]\nstratum = 3\n[logging]\nlevel = \"debug\"\n[performance]\nworker_threads = 2\n[security]\n[sources.hardware]\n[clock]\ndiscipline = \"virtual\"\n[[sources.servers]]\naddress = \"127.0.0.1\"\nminpoll = 0\n"),
        Vec::<String>::new()
    );
}

#[test]
fn keys_once_planned_warn_no_more() {
    // Per-VLAN policies and the development endpoints are implemented now.
    assert_eq!(warnings("[[vlan_config]]\nvlan_ref = \"v\"\nbroadcast = true\n"), Vec::<String>::new());
    let l = load(&[], &[("SIMPLE_NTPD_VLAN_CONFIG", "[{ vlan_ref = \"e\" }]")]).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    // Client-side interleaved mode is implemented now.
    assert_eq!(warnings("[[sources.servers]]\naddress = \"192.0.2.1\"\nxleave = true\n"), Vec::<String>::new());
    assert!(ntp_config::PLANNED.is_empty(), "a planned key is back: give it tests here");
}

#[test]
fn development_endpoints_are_implemented() {
    let l = load(&[("a.toml", "[development]\nenable_debug_endpoints = true\nenable_test_endpoints = true\n")], &[])
        .unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    assert!(ntp_config::planned("development.enable_test_endpoints").is_none());
}

#[test]
fn planned_lookup() {
    assert!(ntp_config::planned("development.enable_test_endpoints").is_none());
    assert!(ntp_config::planned("vlan_config[2].vlan_ref").is_none());
    assert!(ntp_config::planned("sources.servers[0].nts").is_none());
    assert!(ntp_config::planned("sources.servers[0].minpoll").is_none());
    assert!(ntp_config::planned("security.nts.enabled").is_none());
    assert!(ntp_config::planned("sources.hardware.pps.enabled").is_none());
    assert!(ntp_config::planned("sources.refclocks[0].lock").is_none());
    assert!(ntp_config::planned("network.listen_port").is_none());
    assert!(ntp_config::planned("security.ntsx").is_none());
}
