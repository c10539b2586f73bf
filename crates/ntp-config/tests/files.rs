//! Loading configuration files: the seed 000 examples, defaults, merging of
//! several files, the INI fix-up, and the wording and location of errors.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::{err, load, ok};
use ntp_config::{LogFormat, LogLevel, LogOutput, Overrides};

fn seed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seed000").join(name)
}

fn load_seed(name: &str) -> ntp_config::Loaded {
    ntp_config::load(&[seed(name)], Vec::new(), &Overrides::default()).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn seed_single_instance() {
    let l = load_seed("single-instance.conf");
    let c = &l.config;
    assert_eq!(c.listen_sockets(), vec![sock("0.0.0.0:123")]);
    assert_eq!(c.ntp_server.stratum, 2);
    assert_eq!(c.ntp_server.upstream_servers, vec!["pool.ntp.org".to_owned(), "time.nist.gov".to_owned()]);
    assert_eq!(c.logging.level(), LogLevel::Info);
    assert_eq!(c.logging.output, LogOutput::File);
    assert!(!c.is_local_reference());
    let file = seed("single-instance.conf").display().to_string();
    assert_eq!(
        l.warnings,
        vec![format!("{file}:2: unquoted value 0.0.0.0 read as the string \"0.0.0.0\" (INI style); quote it for TOML"),]
    );
}

#[test]
fn seed_development() {
    let l = load_seed("development.conf");
    assert_eq!(l.config.logging.level(), LogLevel::Debug);
    assert_eq!(l.config.logging.output, LogOutput::Console);
    assert!(l.config.development.enable_hot_reload);
    assert!(l.config.development.enable_test_endpoints);
    assert!(l.config.development.enable_debug_endpoints);
    // Every key of the development profile is implemented: nothing to warn about.
    assert_eq!(l.warnings, Vec::<String>::new());
}

#[test]
fn seed_testing() {
    let l = load_seed("testing.conf");
    assert_eq!(l.config.performance.worker_threads, 4);
    assert_eq!(l.config.worker_threads(), 4);
    assert_eq!(l.config.performance.max_packet_size, 1024);
    assert_eq!(l.config.logging.output, LogOutput::File);
    assert_eq!(l.warnings, Vec::<String>::new());
    assert!(l.config.is_local_reference());
}

#[test]
fn seed_production() {
    let l = load_seed("production.conf");
    let c = &l.config;
    assert_eq!(c.logging.log_format, LogFormat::Json);
    assert_eq!(c.performance.worker_threads, 8);
    assert_eq!(c.worker_threads(), 8);
    assert_eq!(c.performance.max_packet_size, 2048);
    assert!(c.security.enable_authentication);
    assert!(c.security.enable_rate_limiting);
    assert_eq!(c.security.max_queries_per_minute, 1000);
    let planned: Vec<&String> = l.warnings.iter().filter(|w| w.contains("not implemented")).collect();
    // Authentication and rate limiting are implemented: no planned-key warnings.
    assert!(planned.is_empty(), "{:#?}", l.warnings);
}

#[test]
fn all_seed_files_together() {
    let files: Vec<PathBuf> =
        ["single-instance.conf", "development.conf", "testing.conf", "production.conf"].into_iter().map(seed).collect();
    let l = ntp_config::load(&files, Vec::new(), &Overrides::default()).unwrap();
    // Later files win: production's logging and performance, single-instance's network.
    assert_eq!(l.config.listen_sockets(), vec![sock("0.0.0.0:123")]);
    assert_eq!(l.config.ntp_server.stratum, 2);
    assert_eq!(l.config.logging.log_format, LogFormat::Json);
    assert_eq!(l.config.logging.output, LogOutput::File);
    assert_eq!(l.config.performance.worker_threads, 8);
    assert!(l.config.development.enable_debug_endpoints);
}

#[test]
fn empty_config_is_the_default() {
    let l = ok("");
    assert_eq!(l.config.listen_sockets(), vec![sock("0.0.0.0:123"), sock("[::]:123")]);
    assert_eq!(l.config.ntp_server.stratum, 10);
    assert!(l.config.is_local_reference());
    assert!(l.config.worker_threads() >= 1);
    assert_eq!(l.warnings, Vec::<String>::new());
    assert_eq!(l.config, ntp_config::Config::default());
    let none = load(&[], &[]).unwrap();
    assert_eq!(none.config, ntp_config::Config::default());
}

#[test]
fn listen_addresses_with_and_without_ports() {
    let l = ok("[network]\nlisten_address = [\"127.0.0.1:1123\", \"::1\", \"[::1]:1124\", \"127.0.0.1:1123\"]\nlisten_port = 5000\n");
    assert_eq!(l.config.listen_sockets(), vec![sock("127.0.0.1:1123"), sock("[::1]:5000"), sock("[::1]:1124")]);
    let one = ok("[network]\nlisten_address = \"::1\"\n");
    assert_eq!(one.config.listen_sockets(), vec![sock("[::1]:123")]);
}

#[test]
fn two_files_merge() {
    let base = "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 1123\n[ntp_server]\nstratum = 5\n[[sources.servers]]\naddress = \"a.example\"\n[[sources.servers]]\naddress = \"b.example\"\n";
    let overlay = "[ntp_server]\nstratum = 3\n[[sources.servers]]\naddress = \"c.example\"\n";
    let l = load(&[("base.toml", base), ("overlay.toml", overlay)], &[]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 3);
    assert_eq!(l.config.listen_sockets(), vec![sock("127.0.0.1:1123")]);
    // Arrays are replaced whole, not appended to.
    let addrs: Vec<&str> = l.config.sources.servers.iter().map(|s| s.address.as_str()).collect();
    assert_eq!(addrs, ["c.example"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn later_file_errors_are_located_in_that_file() {
    let e = load(&[("a.toml", "[ntp_server]\nstratum = 3\n"), ("b.toml", "\n[ntp_server]\nstratum = 0\n")], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "b.toml:3:11: ntp_server.stratum must be 1..=15, got 0");
}

#[test]
fn misspelt_key_is_an_error_with_a_suggestion() {
    let e = err("[network]\n\nlisten_adress = \"0.0.0.0\"\n");
    assert_eq!(e, "x.toml:3:1: unknown key `listen_adress` in [network] (did you mean `listen_address`?)");
    // Also when the file needs the INI fix-up first.
    let e = err("[network]\n\nlisten_adress = 0.0.0.0\n");
    assert_eq!(e, "x.toml:3:1: unknown key `listen_adress` in [network] (did you mean `listen_address`?)");
}

#[test]
fn wrong_type_names_key_and_line() {
    let e = err("# comment\n\n[network]\nlisten_port = \"abc\"\n");
    assert_eq!(e, "x.toml:4:15: network.listen_port: invalid type: string \"abc\", expected an integer 0..=65535");
    let e = err("[network]\nlisten_port = 70000\n");
    assert_eq!(e, "x.toml:2:15: network.listen_port: invalid value: integer `70000`, expected an integer 0..=65535");
}

#[test]
fn several_errors_are_all_reported() {
    let e = load(
        &[
            ("a.toml", "[netwrok]\nlisten_port = 1\n[logging]\nlevl = \"INFO\"\n"),
            ("b.toml", "[performance]\nworker_thread = 2\n"),
        ],
        &[("SIMPLE_NTPD_STRATUMM", "2")],
    )
    .unwrap_err();
    let lines: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        vec![
            "a.toml:1:2: unknown section `[netwrok]` (did you mean `[network]`?)",
            "a.toml:4:1: unknown key `levl` in [logging] (did you mean `level`?)",
            "b.toml:2:1: unknown key `worker_thread` in [performance] (did you mean `worker_threads`?)",
            "environment SIMPLE_NTPD_STRATUMM: unknown simple-ntpd setting (did you mean `SIMPLE_NTPD_STRATUM`?)",
        ]
    );
    assert_eq!(e.issues().len(), 4);
    assert_eq!(e.issues()[1].key.as_deref(), Some("logging.levl"));
}

#[test]
fn unknown_keys_elsewhere_and_in_arrays() {
    assert_eq!(
        err("[network]\nstratum = 2\n"),
        "x.toml:2:1: unknown key `stratum` in [network] (`stratum` belongs in [ntp_server], [server] or [server.local])"
    );
    assert_eq!(
        err("[[sources.servers]]\naddress = \"a\"\n[[sources.servers]]\nadress = \"b\"\n"),
        "x.toml:4:1: unknown key `adress` in [[sources.servers]] (did you mean `address`?)"
    );
    assert_eq!(err("colour = \"blue\"\n"), "x.toml:1:1: unknown key `colour` at the top level");
    assert_eq!(
        err("[security.nts]\nke_listn = \"0.0.0.0:4460\"\n"),
        "x.toml:2:1: unknown key `ke_listn` in [security.nts] (did you mean `ke_listen`?)"
    );
}

#[test]
fn bad_values_name_key_and_position() {
    assert_eq!(
        err("[performance]\nmax_packet_size = 10\n"),
        "x.toml:2:19: performance.max_packet_size must be 48..=65507, got 10"
    );
    assert_eq!(
        err("[logging]\noutput = \"syslog\"\n"),
        "x.toml:2:10: logging.output: unknown variant `syslog`, expected `console` or `file`"
    );
    assert_eq!(
        err("[logging]\nlevel = \"VERBOSE\"\n"),
        "x.toml:2:9: logging.level: unknown log level `VERBOSE`, expected one of TRACE, DEBUG, INFO, WARN (WARNING), ERROR (CRITICAL), OFF"
    );
    assert_eq!(
        err("[network]\nlisten_address = [\"0.0.0.0\", \"nope\"]\n"),
        "x.toml:2:30: network.listen_address[1]: invalid listen address `nope`: expected an IP address (`0.0.0.0`, `::1`) or a socket address (`127.0.0.1:1123`, `[::1]:1123`)"
    );
    assert_eq!(
        err("[security]\nenable_rate_limiting = \"yes\"\n"),
        "x.toml:2:24: security.enable_rate_limiting: invalid type: string \"yes\", expected a boolean (true or false)"
    );
    assert_eq!(
        err("[[sources.servers]]\naddress = \"a.example\"\nminpoll = 12\n"),
        "x.toml:3:11: sources.servers[0].minpoll (12) must not be larger than maxpoll (10)"
    );
    assert_eq!(err("[[sources.servers]]\niburst = true\n"), "x.toml:1:1: sources.servers[0]: missing field `address`");
    assert_eq!(
        err("[[security.access]]\nnetwork = \"10.0.0.0/33\"\npermission = \"allow\"\n"),
        "x.toml:2:11: security.access[0].network: `10.0.0.0/33` has prefix length 33, more than 32 for this address family"
    );
    assert_eq!(
        err("[ntp_server]\nupstream_servers = [\"pool.ntp.org\", \"bad host\"]\n"),
        "x.toml:2:37: ntp_server.upstream_servers[1]: `bad host` must not contain whitespace"
    );
}

#[test]
fn relations_are_checked_after_merging() {
    // Each file alone is fine; only the merged values conflict.
    let e = load(
        &[
            ("a.toml", "[monitoring.offset]\ncritical_threshold = 500\n"),
            ("b.toml", "[monitoring.offset]\nwarning_threshold = 600\n"),
        ],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "a.toml:2:22: monitoring.offset.critical_threshold (500) must be at least monitoring.offset.warning_threshold (600)"
    );
    // A lone warning threshold above the default critical threshold is fine
    // when another file raises the critical one.
    let l = load(
        &[
            ("a.toml", "[monitoring.offset]\nwarning_threshold = 2000\n"),
            ("b.toml", "[monitoring.offset]\ncritical_threshold = 5000\n"),
        ],
        &[],
    );
    assert!(l.is_ok(), "{}", l.unwrap_err());
}

#[test]
fn invalid_toml_reports_the_original_error() {
    let e = err("[network\nlisten_address = 0.0.0.0\n");
    assert!(e.starts_with("x.toml:1:9: invalid TOML: "), "{e}");
    assert_eq!(e.lines().count(), 1);
    let e = err("[network]\nlisten_port = 1\nlisten_port = 2\n");
    assert!(e.starts_with("x.toml:3:1: invalid TOML: "), "{e}");
}

#[test]
fn ini_fix_up_warns_per_value() {
    let l = ok("; INI comment\n[network]\nlisten_address = ::1   # loopback only\nlisten_port = 1123\n[logging]\nlevel = debug\n");
    assert_eq!(l.config.listen_sockets(), vec![sock("[::1]:1123")]);
    assert_eq!(l.config.logging.level(), LogLevel::Debug);
    assert_eq!(
        l.warnings,
        vec![
            "x.toml:1: comment starting with `;` read as a comment (INI style); use `#` for TOML",
            "x.toml:3: unquoted value ::1 read as the string \"::1\" (INI style); quote it for TOML",
            "x.toml:6: unquoted value debug read as the string \"debug\" (INI style); quote it for TOML",
        ]
    );
}

#[test]
fn server_stratum_is_the_seed_002_spelling() {
    let l = ok("[server]\nstratum = 4\n");
    assert_eq!(l.config.ntp_server.stratum, 4);
    assert_eq!(l.config.server.stratum, None);
    assert_eq!(l.warnings, Vec::<String>::new());
    let same = ok("[server]\nstratum = 4\n[ntp_server]\nstratum = 4\n");
    assert_eq!(same.config.ntp_server.stratum, 4);
    assert_eq!(
        err("[ntp_server]\nstratum = 3\n[server]\nstratum = 2\n"),
        "x.toml:4:11: server.stratum = 2 conflicts with ntp_server.stratum = 3 (set at x.toml:2:11); they are two spellings of one setting, set only one"
    );
    assert_eq!(err("[server]\nstratum = 16\n"), "x.toml:2:11: server.stratum must be 1..=15, got 16");
    // In different files the later one simply wins.
    let l = load(&[("a.toml", "[server]\nstratum = 2\n"), ("b.toml", "[ntp_server]\nstratum = 3\n")], &[]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 3);
    let l = load(&[("a.toml", "[ntp_server]\nstratum = 3\n"), ("b.toml", "[server]\nstratum = 2\n")], &[]).unwrap();
    assert_eq!(l.config.ntp_server.stratum, 2);
}

#[test]
fn camel_case_spellings_are_accepted() {
    let l = ok(r#"
[monitoring]
sourcesMinimum = 3
[monitoring.offset]
warningThreshold = 50
criticalThreshold = 500.5

[[vlanConfig]]
vlanRef = "vlan-20"
clientsOnly = true

[[sources.servers]]
address = "192.168.1.100"
minpoll = 4
"#);
    let c = &l.config;
    assert_eq!(c.monitoring.sources_minimum, 3);
    assert_eq!(c.monitoring.offset.warning_threshold, 50.0);
    assert_eq!(c.monitoring.offset.critical_threshold, 500.5);
    assert_eq!(c.vlan_config.len(), 1);
    assert_eq!(c.vlan_config[0].vlan_ref, "vlan-20");
    assert!(c.vlan_config[0].clients_only);
    assert!(c.vlan_config[0].enabled);
    assert_eq!(c.sources.servers[0].minpoll, 4);
    assert_eq!(c.sources.servers[0].maxpoll, 10);
    // A camelCase key in one file overrides the snake_case key of another.
    let l = load(
        &[("a.toml", "[monitoring]\nsources_minimum = 2\n"), ("b.toml", "[monitoring]\nsourcesMinimum = 5\n")],
        &[],
    )
    .unwrap();
    assert_eq!(l.config.monitoring.sources_minimum, 5);
    assert!(err("[monitoring]\nsources_minimum = 2\nsourcesMinimum = 5\n")
        .starts_with("x.toml:3:1: monitoring.sources_minimum is set twice"));
}

#[test]
fn seed_002_resource_as_toml() {
    let text = include_str!("seed002/ntpservice.toml");
    let l = ok(text);
    let c = &l.config;
    assert_eq!(c.sources.pools.len(), 2);
    assert_eq!(c.sources.pools[1].name, "time.cloudflare.com");
    assert_eq!(c.sources.pools[1].servers, 2);
    assert_eq!(c.sources.servers[0].minpoll, 4);
    assert_eq!(c.ntp_server.stratum, 2);
    assert_eq!(c.server.makestep.limit, 3);
    assert_eq!(c.security.authentication.keys[0].value, "AVerySecureKeyString");
    assert_eq!(c.security.access.len(), 3);
    assert_eq!(c.vlan_config.len(), 3);
    assert_eq!(c.monitoring.sources_minimum, 3);
    assert!(!c.is_local_reference());
    assert_eq!(c.vlan_config[0].interface_name(), "vlan-10");
    assert!(c.vlan_config[0].broadcast && !c.vlan_config[0].clients_only);
    assert_eq!(c.vlan_config[0].broadcast_interval, 64);
    assert!(c.vlan_config[1..].iter().all(|v| v.enabled && v.clients_only && !v.broadcast));
    // Nothing of the resource is accepted without an effect any more.
    assert_eq!(l.warnings, Vec::<String>::new());
}

#[test]
fn unreadable_file_is_named() {
    let missing = PathBuf::from("/nonexistent/simple-ntpd.toml");
    let e = ntp_config::load(&[missing], Vec::new(), &Overrides::default()).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/simple-ntpd.toml: cannot read configuration file: "), "{e}");
}

#[test]
fn validate_works_on_hand_built_configs() {
    let mut c = ntp_config::Config::default();
    assert!(c.validate().is_ok());
    c.ntp_server.stratum = 0;
    c.server.stratum = Some(3);
    let e = c.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "ntp_server.stratum must be 1..=15, got 0\nserver.stratum = 3 conflicts with ntp_server.stratum = 0; they are two spellings of one setting, set only one"
    );
    assert_eq!(e.issues()[0].key.as_deref(), Some("ntp_server.stratum"));
}

/// With a token (here from the environment, as a Kubernetes Secret gives
/// it), `monitoring.allow` admits nobody on its own: say so where it is set.
#[test]
fn monitoring_allow_beside_a_token_is_warned_about() {
    let file = "[monitoring]\nlisten = \"[::]:9559\"\nallow = [\"10.0.0.0/8\"]\n";
    let l = load(&[("k.toml", file)], &[]).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    let l = load(&[("k.toml", file)], &[("SIMPLE_NTPD_MONITORING_TOKEN", "t0ken")]).unwrap();
    assert_eq!(l.config.monitoring.token.as_deref(), Some("t0ken"));
    assert_eq!(l.warnings.len(), 1, "{:#?}", l.warnings);
    assert!(l.warnings[0].starts_with("k.toml:3: monitoring.allow has no effect while monitoring.token is set"));
}

#[test]
fn no_broadcast_client_on_a_clients_only_vlan() {
    let e = err("[[vlan_config]]\nvlan_ref = \"iot\"\ninterface = \"vlan-20\"\nclients_only = true\n\
         [[sources.broadcast]]\ninterface = \"vlan-20\"\n");
    assert!(e.contains("sources.broadcast[0].interface = \"vlan-20\" is the clients-only VLAN `iot`"), "{e}");
    // The same broadcast client on a VLAN that is not clients-only is fine.
    let l = ok("[[vlan_config]]\nvlan_ref = \"vlan-10\"\n[[sources.broadcast]]\ninterface = \"vlan-10\"\n");
    assert_eq!(l.config.sources.broadcast[0].interface, "vlan-10");
}
