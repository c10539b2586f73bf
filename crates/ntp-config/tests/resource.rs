//! The NTPService resource (seed 002) read as configuration: the seed's
//! example verbatim, errors that name the YAML line, `spec.enabled`, and the
//! Kubernetes service-link variables the environment layer skips.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::load;

const SEED_002: &str = include_str!("../../../examples/seed002/ntpservice.yaml");

fn resource(spec: &str) -> String {
    format!("apiVersion: ntp.fos1.io/v1alpha1\nkind: NTPService\nmetadata:\n  name: t\nspec:\n{spec}")
}

#[test]
fn seed_002_example_loads_verbatim_and_equals_its_toml_form() {
    let yaml = load(&[("ntpservice.yaml", SEED_002)], &[]).unwrap();
    let toml = load(&[("ntpservice.toml", include_str!("seed002/ntpservice.toml"))], &[]).unwrap();
    assert_eq!(yaml.config, toml.config, "the YAML resource and its TOML transcription differ");
    assert!(yaml.config.enabled.get());
    assert_eq!(yaml.config.ntp_server.stratum, 2);
    assert_eq!(yaml.config.vlan_config.len(), 3);
    // Everything in it is implemented (per-VLAN policies included): no warning.
    assert_eq!(yaml.warnings, Vec::<String>::new());
    // Where keys were set, for later errors (the NTS check in `run`).
    let nts = SEED_002.lines().position(|l| l.trim() == "nts:").unwrap() + 2;
    assert_eq!(yaml.location("security.nts.enabled"), Some(format!("ntpservice.yaml:{nts}:16").as_str()));
    assert_eq!(yaml.location("logging.level"), None);
}

#[test]
fn a_wrong_type_names_the_yaml_line() {
    let text = resource("  server:\n    stratum: \"two\"\n");
    let e = load(&[("r.yaml", &text)], &[]).unwrap_err().to_string();
    assert_eq!(e, "r.yaml:7:14: server.stratum: invalid type: string \"two\", expected an integer 1..=15");
    let text =
        resource("  sources:\n    servers:\n      - address: 192.0.2.1\n        minpoll: 4\n        maxpoll: 99\n");
    let e = load(&[("r.yaml", &text)], &[]).unwrap_err().to_string();
    assert_eq!(e, "r.yaml:10:18: sources.servers[0].maxpoll must be 0..=17, got 99");
    let text = resource("  security:\n    access:\n      - network: 10.0.0.0/33\n        permission: allow\n");
    let e = load(&[("r.yaml", &text)], &[]).unwrap_err().to_string();
    assert!(e.starts_with("r.yaml:8:18: security.access[0].network"), "{e}");
}

#[test]
fn spec_enabled_is_a_key_and_false_is_kept() {
    let l = load(&[("r.yaml", &resource("  enabled: false\n"))], &[]).unwrap();
    assert!(!l.config.enabled.get());
    assert!(load(&[("r.toml", "enabled = false\n")], &[]).is_ok_and(|l| !l.config.enabled.get()));
    let e = load(&[("r.yaml", &resource("  enabled: \"no\"\n"))], &[]).unwrap_err().to_string();
    assert!(e.starts_with("r.yaml:6:12: enabled: invalid type"), "{e}");
}

#[test]
fn a_resource_layers_like_any_file() {
    // A TOML file after the resource overrides it key by key.
    let l = load(&[("r.yaml", SEED_002), ("over.toml", "[server]\nstratum = 3\n")], &[]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 3);
    assert_eq!(l.config.sources.pools.len(), 2);
}

#[test]
fn spec_table_holds_exactly_what_the_resource_sets() {
    let t =
        ntp_config::spec_table("r.yaml", &resource("  monitoring:\n    sourcesMinimum: 3\n  enabled: true\n")).unwrap();
    let want: toml::Table = "enabled = true\n[monitoring]\nsources_minimum = 3\n".parse().unwrap();
    assert_eq!(t, want);
}

#[test]
fn kubernetes_keys_are_for_the_operator() {
    let text = resource("  kubernetes:\n    workload: Deployment\n    nodeSelector:\n      kubernetes.io/os: linux\n");
    let l = load(&[("r.yaml", &text)], &[]).unwrap();
    assert_eq!(l.config.kubernetes.workload, ntp_config::Workload::Deployment);
    assert_eq!(l.config.kubernetes.node_selector["kubernetes.io/os"], "linux");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // Outside a resource they do nothing, which is said.
    let l = load(&[("a.toml", "[kubernetes]\nreplicas = 3\n")], &[]).unwrap();
    assert_eq!(l.warnings, ["a.toml:2: kubernetes.replicas is read by `simple-ntpd operator` only (an NTPService's spec.kubernetes); the daemon ignores it"]);
    let e = load(&[("r.yaml", &resource("  kubernetes:\n    resources:\n      limits:\n        cpu: lots\n"))], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "r.yaml:9:14: kubernetes.resources.limits.cpu must be a Kubernetes quantity such as `50m`, `1`, `32Mi`, got `lots`");
}

#[test]
fn kubernetes_service_links_are_skipped_other_unknown_variables_refused() {
    let links = [
        ("SIMPLE_NTPD_SERVICE_HOST", "10.96.0.12"),
        ("SIMPLE_NTPD_SERVICE_PORT", "123"),
        ("SIMPLE_NTPD_SERVICE_PORT_NTP", "123"),
        ("SIMPLE_NTPD_PORT", "udp://10.96.0.12:123"),
        ("SIMPLE_NTPD_PORT_123_UDP", "udp://10.96.0.12:123"),
        ("SIMPLE_NTPD_PORT_123_UDP_PROTO", "udp"),
        ("SIMPLE_NTPD_PORT_123_UDP_PORT", "123"),
        ("SIMPLE_NTPD_PORT_123_UDP_ADDR", "10.96.0.12"),
    ];
    let l = load(&[], &links).unwrap();
    assert_eq!(l.config, ntp_config::Config::default());
    assert_eq!(l.notes.len(), links.len(), "{:?}", l.notes);
    assert!(
        l.notes[0].starts_with("environment SIMPLE_NTPD_PORT: ignored, a variable Kubernetes sets"),
        "{:?}",
        l.notes
    );
    assert!(l.warnings.is_empty());
    // A real key that looks like one is read as the key.
    let l = load(&[], &[("SIMPLE_NTPD_LISTEN_PORT", "1123")]).unwrap();
    assert_eq!(l.config.network.listen_port, 1123);
    assert!(l.notes.is_empty());
    let e = load(&[], &[("SIMPLE_NTPD_LISTEN_PORT", "udp://10.96.0.12:123")]).unwrap_err().to_string();
    assert!(e.starts_with("environment SIMPLE_NTPD_LISTEN_PORT: network.listen_port: invalid type"), "{e}");
    // Anything else stays an error.
    let e = load(&[], &[("SIMPLE_NTPD_LISTN_PORT", "1123")]).unwrap_err().to_string();
    assert!(e.contains("unknown simple-ntpd setting"), "{e}");
    let e = load(&[], &[("SIMPLE_NTPD_SERVICE_HOST", "ntp.example.net")]).unwrap_err().to_string();
    assert!(e.contains("unknown simple-ntpd setting"), "{e}");
}
