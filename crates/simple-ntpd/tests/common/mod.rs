//! Shared helpers for the daemon's integration tests: start the real
//! `simple-ntpd` binary on a loopback address with a generated config, and
//! run its CLI.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ntp_test_support::{free_udp_port, run_bounded, CommandOutput, DaemonProcess, TempDir};

pub mod netns;

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_simple-ntpd"))
}

/// A running daemon, its address and its config directory.
pub struct Running {
    pub daemon: DaemonProcess,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

/// Starts `simple-ntpd run -c FILE` where FILE has `[network]` for
/// `ip`:`port` (a free port when 0), `[ntp_server] stratum` and the extra TOML.
pub fn start(ip: IpAddr, port: u16, stratum: u8, extra_toml: &str) -> Running {
    let port = if port == 0 { free_udp_port(ip) } else { port };
    let dir = TempDir::new("simple-ntpd-test").expect("temp dir");
    let config = format!(
        "[network]\nlisten_address = \"{ip}\"\nlisten_port = {port}\n\n[ntp_server]\nstratum = {stratum}\nupstream_servers = []\n\n{extra_toml}\n"
    );
    let file = dir.write("simple-ntpd.toml", &config).expect("write config");
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg("-c").arg(&file).env_remove("SIMPLE_NTPD_CONFIG");
    let mut daemon = DaemonProcess::spawn_command(cmd).expect("spawn simple-ntpd");
    let addr = SocketAddr::new(ip, port);
    daemon.wait_until_serving(addr, Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    Running { daemon, addr, dir }
}

/// Runs the CLI with `args`, bounded in time.
pub fn cli(args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("SIMPLE_NTPD_CONFIG");
    run_bounded(&mut cmd, Duration::from_secs(30)).expect("run simple-ntpd CLI")
}

/// Starts a daemon on 127.0.0.1 (free NTP port) with the monitoring API on a
/// free TCP port; returns it and the API address.
pub fn start_with_api(stratum: u8, extra_toml: &str) -> (Running, SocketAddr) {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let api = SocketAddr::new(ip, ntp_test_support::free_tcp_port(ip));
    let run = start(ip, 0, stratum, &format!("[monitoring]\nenabled = true\nlisten = \"{api}\"\n{extra_toml}"));
    wait_for_http(api);
    (run, api)
}

/// Waits (bounded) until the API accepts connections.
pub fn wait_for_http(api: SocketAddr) {
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&api, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("API at {api} never came up");
}

/// GET `path` from the API: (status code, body).
pub fn http_get(api: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let mut req = agent.get(&format!("http://{api}{path}"));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// `method path` with an optional JSON body: (status code, body).
pub fn http_send(api: SocketAddr, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let mut req = agent.request(method, &format!("http://{api}{path}"));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// A CA and a server certificate for 127.0.0.1: (ca.pem, chain.pem, key.pem).
pub fn certificates(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "simple-ntpd test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let ca_path = dir.write("ca.pem", &ca.pem()).unwrap();
    let chain = dir.write("chain.pem", &format!("{}{}", cert.pem(), ca.pem())).unwrap();
    let key_path = dir.write("key.pem", &key.serialize_pem()).unwrap();
    (ca_path, chain, key_path)
}

/// Validates `doc` against `#/components/schemas/<schema>` of docs/openapi.yaml.
pub fn assert_matches_openapi(schema: &str, doc: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut root: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    root["$ref"] = serde_json::Value::String(format!("#/components/schemas/{schema}"));
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("openapi.yaml: {e}"));
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{schema} does not match docs/openapi.yaml: {errors:#?}\n{doc:#}");
}

/// Makes a config directory readable like /etc/simple-ntpd (0755), so the
/// daemon can read its files again after dropping root privileges.
pub fn readable_like_etc(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Judge an offset measured against a server on this host, which reads the
/// same clock as the client. Honest timestamps (T1 <= T2 <= T3 <= T4 on one
/// clock) bound the offset by half the round-trip delay, however loaded the
/// machine is; a server stamping T2 or T3 wrongly by more than that fails.
/// A descheduled client only widens the delay, so the bound stays honest
/// without a fixed millisecond limit that a busy CI machine can exceed.
#[allow(dead_code)]
pub fn assert_same_clock_offset(offset: f64, delay: f64, what: &str) {
    // f64 Unix seconds resolve ~0.24 µs; the fraction field ~0.23 ns.
    const ROUNDING: f64 = 2e-6;
    assert!((0.0..0.1).contains(&delay), "{what}: delay {delay} s on loopback");
    assert!(
        offset.abs() <= delay / 2.0 + ROUNDING,
        "{what}: offset {offset} s exceeds half the delay {delay} s: timestamps are not causal"
    );
}

/// Asserts `promtool check metrics` finds nothing to say about `text`
/// (skipped, or failed with NTPD_TEST_REQUIRE_PEERS=1, without promtool).
#[allow(dead_code)]
pub fn assert_promtool_clean(text: &str) {
    let promtool = std::path::PathBuf::from("/opt/simple-ntpd-peers/prometheus/usr/bin/promtool");
    let Some(promtool) = ntp_test_support::peer_or_skip("promtool", promtool.exists().then_some(promtool)).unwrap()
    else {
        return;
    };
    let dir = TempDir::new("metrics").unwrap();
    let file = dir.write("metrics.txt", text).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("{} check metrics < {}", promtool.display(), file.display()));
    let out = run_bounded(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(
        out.success() && out.stdout.trim().is_empty() && out.stderr.trim().is_empty(),
        "promtool: {}\n{text}",
        out.describe()
    );
}

/// One request from source address `src` (a spare loopback address, so the
/// server sees a distinct client); the reply bytes if one came in `wait`.
#[allow(dead_code)]
pub fn probe_from(src: IpAddr, server: SocketAddr, n: u64, wait: Duration) -> Option<Vec<u8>> {
    let sock = std::net::UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let req = ntp_test_support::build_request(4, n);
    sock.send_to(&req, server).unwrap();
    let mut buf = [0u8; 512];
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((len, _)) if buf[24..32] == req[40..48] => return Some(buf[..len].to_vec()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// The minimum-delay reply of up to `tries` probes (as NTP's clock filter
/// picks), stopping early at a delay under 200 µs: a client descheduled on
/// a busy machine then does not decide an offset. Panics if none came.
#[allow(dead_code)]
pub fn min_delay_probe(addr: SocketAddr, tries: usize) -> ntp_test_support::ProbeReply {
    let mut best: Option<ntp_test_support::ProbeReply> = None;
    for _ in 0..tries {
        if let Ok(r) = ntp_test_support::sntp_probe(addr, 4, Duration::from_secs(1)) {
            if best.as_ref().is_none_or(|b| r.delay < b.delay) {
                best = Some(r);
            }
        }
        if best.as_ref().is_some_and(|b| b.delay < 200e-6) {
            break;
        }
    }
    best.unwrap_or_else(|| panic!("no reply from {addr}"))
}

/// A leap-seconds.list (valid SHA-1 line, expiring in a year) whose last
/// entry adds `tai` − 37 seconds at NTP second `at`.
pub fn leap_seconds_list(at: u64, tai: i32) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2_208_988_800;
    let (updated, expires) = (now - 86_400, now + 365 * 86_400);
    let data = [(2_272_060_800u64, 10i32), (3_692_217_600, 37), (at, tai)];
    let mut digits = format!("{updated}{expires}");
    let mut text = format!("#\tgenerated for a test\n#$\t{updated}\n#@\t{expires}\n");
    for (t, o) in data {
        digits.push_str(&format!("{t}{o}"));
        text.push_str(&format!("{t}\t{o}\t# test\n"));
    }
    let d = <sha1::Sha1 as sha1::Digest>::digest(digits.as_bytes());
    let words: Vec<String> =
        d.chunks(4).map(|c| format!("{:08x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect();
    text.push_str(&format!("#h\t{}\n", words.join(" ")));
    text
}

/// An in-process server (no daemon process) on a free 127.0.0.1 port,
/// serving a local reference at stratum 2 with `workers` workers.
pub fn in_process_server(
    workers: usize,
    batch_send: bool,
    interleaved: bool,
    policy: simple_ntpd::security::SecurityPolicy,
) -> simple_ntpd::server::Server {
    use simple_ntpd::server::{Server, ServerSettings, ServingOptions};
    let state = simple_ntpd::served::StateCell::new(
        simple_ntpd::served::local::LocalReference { stratum: 2, precision: -24 }
            .snapshot(ntp_proto::NtpTimestamp::from_unix(1, 0)),
    );
    let settings = ServerSettings {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        workers,
        worker: ServingOptions {
            max_packet_size: 2048,
            recv_batch: 32,
            batch_send,
            interleaved,
            cpu: None,
            broadcasts: false,
        },
        cpu_affinity: vec![],
        socket: simple_ntpd::net::listen::SocketOptions::default(),
        client_log_size: 4096,
        default_listen: false,
        share_port: false,
    };
    let policy = simple_ntpd::security::PolicyCell::new(policy);
    Server::start(&settings, state, policy, simple_ntpd::interfaces::InterfaceCell::default()).unwrap()
}
