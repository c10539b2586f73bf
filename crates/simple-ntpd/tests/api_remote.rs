//! The monitoring endpoint seen from another host, as a kubelet or a
//! Prometheus on the pod network sees it: the daemon runs in one network
//! namespace, the clients in a second one, joined by a veth pair with
//! documentation addresses (192.0.2.0/24, 2001:db8::/64). The endpoint
//! listens on `[::]`, as the Kubernetes manifests ship it, so IPv4 clients
//! arrive as IPv4-mapped addresses.
//!
//! Needs root and `ip`; skipped without them (a failure with
//! NTPD_TEST_REQUIRE_PEERS=1, as in CI).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ntp_test_support::{run_bounded, DaemonProcess, TempDir};

const SERVER_V4: &str = "192.0.2.1";
const CLIENT_V4: &str = "192.0.2.2";
const SERVER_V6: &str = "2001:db8::1";
const CLIENT_V6: &str = "2001:db8::2";

/// Two network namespaces joined by a veth pair; deleted on drop (which
/// also removes the veth pair), also when a test fails.
struct NamespacePair {
    server: String,
    client: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = run_bounded(Command::new("ip").args(args), Duration::from_secs(10))?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), out.describe()))
    }
}

impl NamespacePair {
    fn create() -> NamespacePair {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let pair = NamespacePair { server: format!("sntpd-api-{tag}-s"), client: format!("sntpd-api-{tag}-c") };
        // veth names are limited to 15 bytes; they live only inside the pair.
        let (vs, vc) = (format!("vs{tag}"), format!("vc{tag}"));
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &pair.server])?;
            ip(&["netns", "add", &pair.client])?;
            ip(&[
                "link",
                "add",
                &vs,
                "netns",
                &pair.server,
                "type",
                "veth",
                "peer",
                "name",
                &vc,
                "netns",
                &pair.client,
            ])?;
            for (ns, dev, v4, v6) in
                [(&pair.server, &vs, SERVER_V4, SERVER_V6), (&pair.client, &vc, CLIENT_V4, CLIENT_V6)]
            {
                ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
                ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            Ok(())
        };
        setup().unwrap_or_else(|e| panic!("cannot set up the namespaces: {e}"));
        pair
    }

    /// GET `path` from the client namespace: the HTTP status code.
    fn get(&self, host: &str, port: u16, path: &str, token: Option<&str>) -> Result<u16, String> {
        self.send("GET", host, port, path, token)
    }

    /// `method path` (no body) from the client namespace: the HTTP status code.
    fn send(&self, method: &str, host: &str, port: u16, path: &str, token: Option<&str>) -> Result<u16, String> {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let script = r#"exec 3<>"/dev/tcp/$1/$2" || exit 7
printf '%s %s HTTP/1.0\r\nHost: api\r\nContent-Length: 0\r\n%s\r\n' "$5" "$3" "$4" >&3
head -n 1 <&3"#;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.client, "bash", "-c", script, "send"]).args([
            host,
            &port.to_string(),
            path,
            &auth,
            method,
        ]);
        let out = run_bounded(&mut cmd, Duration::from_secs(10))?;
        let status = out.stdout.split_whitespace().nth(1).and_then(|c| c.parse().ok());
        status.ok_or_else(|| format!("{method} [{host}]:{port}{path}: no HTTP status: {}", out.describe()))
    }
}

impl Drop for NamespacePair {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = run_bounded(Command::new("ip").arg("-V"), Duration::from_secs(5)).is_ok_and(|o| o.success());
    if root && tools {
        return true;
    }
    assert!(!ntp_test_support::peers_required(), "this test needs root and `ip` (iproute2)");
    eprintln!("SKIP: needs root and ip");
    false
}

/// Starts the daemon in the server namespace as a local reference with the
/// endpoint on `[::]:api_port` and the given `[monitoring]` lines, and
/// waits until the client namespace gets an HTTP answer from it.
fn start(pair: &NamespacePair, dir: &TempDir, api_port: u16, monitoring: &str) -> DaemonProcess {
    let file = dir
        .write(
            &format!("api-{api_port}.toml"),
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {}\n[ntp_server]\nstratum = 3\n[monitoring]\nlisten = \"[::]:{api_port}\"\n{monitoring}",
                api_port + 1000
            ),
        )
        .unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &pair.server]).arg(common::bin()).arg("run").arg("-c").arg(&file);
    cmd.env_remove("SIMPLE_NTPD_CONFIG");
    let daemon = DaemonProcess::spawn_command(cmd).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pair.get(SERVER_V4, api_port, "/healthz", None).is_err() {
        assert!(Instant::now() < deadline, "the endpoint never answered\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon
}

#[test]
fn remote_clients_are_admitted_by_token_allow_list_or_as_probes() {
    if !can_run() {
        return;
    }
    let pair = NamespacePair::create();
    let dir = TempDir::new("api-remote").unwrap();
    common::readable_like_etc(dir.path());
    // The client's network is not allowed and there is no token.
    let _closed = start(&pair, &dir, 9551, "allow = [\"198.51.100.0/24\"]\n");
    // The client's networks are allowed.
    let _allowed = start(&pair, &dir, 9552, "allow = [\"192.0.2.0/24\", \"2001:db8::/64\"]\n");
    // A token, and no allow list: what the Kubernetes manifests ship when
    // the token Secret exists.
    let mut token = start(&pair, &dir, 9553, "token = \"pod-network-token\"\n");

    let get = |host: &str, port: u16, path: &str, token: Option<&str>| {
        pair.get(host, port, path, token).unwrap_or_else(|e| panic!("{e}"))
    };
    for host in [SERVER_V4, SERVER_V6] {
        // Probes answer every client: kubelets probe from the node's address.
        for port in [9551, 9552, 9553] {
            assert_eq!(get(host, port, "/healthz", None), 200, "/healthz from {host} on :{port}");
            assert_eq!(get(host, port, "/readyz", None), 200, "/readyz from {host} on :{port}");
        }
        assert_eq!(get(host, 9551, "/metrics", None), 403, "a client outside monitoring.allow via {host}");
        assert_eq!(get(host, 9552, "/metrics", None), 200, "a client inside monitoring.allow via {host}");
        assert_eq!(get(host, 9552, "/api/v1/status", None), 200);
        // A valid token admits a client from any address; nothing else does.
        assert_eq!(get(host, 9553, "/metrics", Some("pod-network-token")), 200, "token via {host}");
        assert_eq!(get(host, 9553, "/api/v1/clients", Some("pod-network-token")), 200);
        assert_eq!(get(host, 9553, "/metrics", None), 401);
        assert_eq!(get(host, 9553, "/metrics", Some("guessed-token")), 401);
    }

    // The CLI from the other namespace, with the token.
    let api = format!("{SERVER_V4}:9553");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &pair.client]).arg(common::bin());
    cmd.args(["status", "--api", &api, "--token", "pod-network-token", "--json"]).env_remove("SIMPLE_NTPD_CONFIG");
    let out = run_bounded(&mut cmd, Duration::from_secs(20)).unwrap();
    assert!(out.success(), "{}", out.describe());
    let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["stratum"], 3);
    assert!(token.is_running(), "{}", token.log());
}

/// The development endpoints of seed 000 open to loopback clients, or to
/// any client with the token: a client admitted to the rest of the API by
/// `monitoring.allow` alone gets 403 and cannot inject a fault.
#[test]
fn development_endpoints_refuse_remote_clients_without_the_token() {
    if !can_run() {
        return;
    }
    let pair = NamespacePair::create();
    let dir = TempDir::new("api-remote-dev").unwrap();
    common::readable_like_etc(dir.path());
    let dev = "[development]\nenable_debug_endpoints = true\nenable_test_endpoints = true\n";
    let _allowed = start(&pair, &dir, 9554, &format!("allow = [\"192.0.2.0/24\", \"2001:db8::/64\"]\n{dev}"));
    let _token = start(&pair, &dir, 9555, &format!("token = \"dev-token\"\n{dev}"));
    let send = |method: &str, host: &str, port: u16, path: &str, token: Option<&str>| {
        pair.send(method, host, port, path, token).unwrap_or_else(|e| panic!("{e}"))
    };
    for host in [SERVER_V4, SERVER_V6] {
        assert_eq!(send("GET", host, 9554, "/api/v1/status", None), 200, "allowed for the API via {host}");
        for (method, path) in [("GET", "/debug/state"), ("GET", "/debug/log-level"), ("PUT", "/debug/log-level")] {
            assert_eq!(send(method, host, 9554, path, None), 403, "{method} {path} via {host}");
        }
        for method in ["GET", "POST", "DELETE"] {
            assert_eq!(send(method, host, 9554, "/test/fault", None), 403, "{method} /test/fault via {host}");
        }
        assert_eq!(send("GET", host, 9555, "/debug/state", None), 401);
        assert_eq!(send("POST", host, 9555, "/test/fault", Some("wrong")), 401);
        assert_eq!(send("GET", host, 9555, "/debug/state", Some("dev-token")), 200, "token via {host}");
        assert_eq!(send("GET", host, 9555, "/test/fault", Some("dev-token")), 200);
        // Admitted, and the empty request is then refused for what it is.
        assert_eq!(send("POST", host, 9555, "/test/fault", Some("dev-token")), 400);
    }
}
