//! NTS (RFC 8915) against a real chronyd client: key exchange over TLS 1.3,
//! authenticated time, cookie keys on disk, and forged NTS fields refused.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use common::certificates;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ntp_test_support::{
    build_request, chronyd_path, free_tcp_port, free_udp_port, peer_or_skip, send_raw, ChronydClient,
    ChronydClientOpts, TempDir,
};

fn nts_toml(ke: SocketAddr, chain: &std::path::Path, key: &std::path::Path, keydir: &std::path::Path) -> String {
    format!(
        "[security.nts]\nenabled = true\nke_listen = \"{ke}\"\ncertificate_chain = \"{}\"\nprivate_key = \"{}\"\nkey_directory = \"{}\"\n[monitoring]\nenabled = false\n",
        chain.display(),
        key.display(),
        keydir.display()
    )
}

/// A virtual-clock daemon's configuration with one NTS source whose NTS-KE
/// server is `ke` (`host:port`), trusting `ca`, polling at most every
/// 2^`maxpoll` s.
fn nts_client_toml(ke: &str, ca: &std::path::Path, maxpoll: i8) -> String {
    format!(
        "[clock]\ndiscipline = \"virtual\"\n[monitoring]\nenabled = false\n[[sources.servers]]\naddress = \"{ke}\"\nnts = true\nca = \"{}\"\niburst = true\nminpoll = 0\nmaxpoll = {maxpoll}\n",
        ca.display()
    )
}

/// Waits (bounded) until `client` serves synchronised time at stratum 3,
/// i.e. from its stratum-2 NTS source; `server_log` explains a failure.
fn wait_for_stratum_3(client: &common::Running, timeout: Duration, server_log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = ntp_test_support::sntp_probe(client.addr, 4, Duration::from_secs(1)).unwrap();
        if r.li != 3 && r.stratum == 3 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not synchronised over NTS: {r:?}\n{}\n--- server ---\n{}",
            client.daemon.log(),
            server_log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn chronyd_gets_authenticated_time_over_nts() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = TempDir::new("nts").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let keydir = dir.join("nts-keys");
    let run = common::start(ip, 0, 2, &nts_toml(ke, &chain, &key, &keydir));
    let mut opts = ChronydClientOpts::new(ip, run.addr.port());
    opts.server_opts = format!("iburst minpoll 0 maxpoll 0 nts ntsport {}", ke.port());
    opts.extra_config_lines = vec![format!("ntstrustedcerts {}", ca.display())];
    let mut client = ChronydClient::start(opts).unwrap();
    client
        .wait_for_measurements(2, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n--- daemon ---\n{}", run.daemon.log()));
    let data = client.ntpdata().unwrap();
    assert_eq!(data.get("Authenticated").map(String::as_str), Some("Yes"), "{data:?}");
    let keys: Vec<_> = std::fs::read_dir(&keydir).unwrap().flatten().collect();
    assert!(!keys.is_empty(), "no cookie key in {}", keydir.display());
    let stats = common::cli(&["query", "--json", &run.addr.to_string()]);
    assert!(stats.success(), "plain NTP still served: {}", stats.describe());
}

#[test]
fn forged_nts_fields_get_no_time() {
    let dir = TempDir::new("nts-forged").unwrap();
    common::readable_like_etc(dir.path());
    let (_, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let run = common::start(ip, 0, 2, &nts_toml(ke, &chain, &key, &dir.join("k")));
    // Unique identifier, a made-up cookie and an authenticator of the right shape.
    let mut req = build_request(4, 77).to_vec();
    let field = |ty: u16, body: &[u8]| {
        let mut f = ty.to_be_bytes().to_vec();
        f.extend(((body.len() + 4) as u16).to_be_bytes());
        f.extend(body);
        f
    };
    req.extend(field(0x0104, &[7u8; 32]));
    req.extend(field(0x0204, &[9u8; 100]));
    let mut auth = vec![0, 16, 0, 16];
    auth.extend([1u8; 16]);
    auth.extend([2u8; 16]);
    req.extend(field(0x0404, &auth));
    let r = send_raw(run.addr, &req, Duration::from_secs(2)).expect("an NTS NAK for an unknown cookie");
    assert!(r.len() <= req.len());
    assert_eq!(r[1], 0, "a forged request got time (stratum {})", r[1]);
    assert_eq!(&r[12..16], b"NTSN", "expected an NTS NAK");
    assert_eq!(&r[24..32], &req[40..48], "the NAK answers this request");
}

/// Certificate chain, private key and cookie-key directory of a test server.
struct NtsFiles<'a> {
    chain: &'a std::path::Path,
    key: &'a std::path::Path,
    keydir: &'a std::path::Path,
}

/// Starts a daemon on 127.0.0.1:`port` with NTS (KE on `ke`) and the API on
/// `api`, writing its config as `name` in `dir`.
fn start_nts(
    port: u16,
    ke: SocketAddr,
    api: SocketAddr,
    files: &NtsFiles<'_>,
    dir: &TempDir,
    name: &str,
) -> ntp_test_support::DaemonProcess {
    let toml = nts_toml(ke, files.chain, files.key, files.keydir)
        .replace("[monitoring]\nenabled = false\n", &format!("[monitoring]\nlisten = \"{api}\"\n"));
    let cfg = dir
        .write(
            name,
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = {port}\nshare_port = true\n[ntp_server]\nstratum = 2\n{toml}"
            ),
        )
        .unwrap();
    let mut d = ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", cfg.to_str().unwrap()]).unwrap();
    d.wait_for_log("NTS-KE listening", Duration::from_secs(10)).unwrap();
    common::wait_for_http(api);
    d
}

fn serverstats(api: SocketAddr) -> serde_json::Value {
    let (_, body) = common::http_get(api, "/api/v1/serverstats", None);
    serde_json::from_str(&body).unwrap()
}

fn wait_for_nts_replies(api: SocketAddr, timeout: Duration) -> serde_json::Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let s = serverstats(api);
        if s["nts_replied"].as_u64().unwrap_or(0) > 0 || std::time::Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn cookies_survive_a_restart_and_work_on_a_replica_sharing_the_key_directory() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = TempDir::new("nts-share").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let keydir = dir.join("shared-keys");
    let files = NtsFiles { chain: &chain, key: &key, keydir: &keydir };
    let (ke_a, api_a) = (SocketAddr::new(ip, free_tcp_port(ip)), SocketAddr::new(ip, free_tcp_port(ip)));
    let mut a = start_nts(port, ke_a, api_a, &files, &dir, "a.toml");
    let mut opts = ChronydClientOpts::new(ip, port);
    opts.server_opts = format!("iburst minpoll 0 maxpoll 0 nts ntsport {}", ke_a.port());
    opts.extra_config_lines = vec![format!("ntstrustedcerts {}", ca.display())];
    let mut client = ChronydClient::start(opts).unwrap();
    client.wait_for_measurements(2, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}\n{}", a.log()));
    assert_eq!(serverstats(api_a)["nts_ke_handshakes"], 1);
    let (_, metrics) = common::http_get(api_a, "/metrics", None);
    let value = |line: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
    };
    assert_eq!(value("ntp_nts_ke_handshakes_total "), 1.0);
    assert_eq!(value("ntp_nts_ke_failures_total{reason=\"error\"} "), 0.0);
    assert!(value("ntp_server_nts_replies_total ") >= 2.0);

    // A replica on the same NTP port (SO_REUSEPORT, as behind a load
    // balancer) with its own NTS-KE port but the same key directory: it
    // accepts the cookies A issued, with no key exchange of its own.
    let (ke_b, api_b) = (SocketAddr::new(ip, free_tcp_port(ip)), SocketAddr::new(ip, free_tcp_port(ip)));
    let b = start_nts(port, ke_b, api_b, &files, &dir, "b.toml");
    let sb = wait_for_nts_replies(api_b, Duration::from_secs(20));
    assert!(sb["nts_replied"].as_u64().unwrap() > 0, "replica never served NTS: {sb}\n{}", b.log());
    assert_eq!(sb["nts_ke_handshakes"], 0);
    drop(b);

    // Restart A on the same key directory: chronyd's stored cookies still work.
    a.signal("TERM").unwrap();
    a.wait_exit(Duration::from_secs(5)).unwrap();
    let a2 = start_nts(port, ke_a, api_a, &files, &dir, "a.toml");
    let s2 = wait_for_nts_replies(api_a, Duration::from_secs(20));
    assert!(s2["nts_replied"].as_u64().unwrap() > 0, "no NTS replies after restart: {s2}\n{}", a2.log());
    assert_eq!(s2["nts_ke_handshakes"], 0, "chronyd had to redo the key exchange: old cookies were refused");
    let data = client.ntpdata().unwrap();
    assert_eq!(data.get("Authenticated").map(String::as_str), Some("Yes"));
}

#[test]
fn simple_ntpd_synchronises_to_a_chronyd_nts_server() {
    if peer_or_skip("chronyd", chronyd_path()).unwrap().is_none() {
        return;
    }
    let dir = TempDir::new("nts-client").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = free_tcp_port(ip);
    let server = ntp_test_support::ChronydServer::start(ntp_test_support::ChronydServerOpts {
        bind_ip: ip,
        port: free_udp_port(ip),
        local_stratum: 2,
        extra_config_lines: vec![
            format!("ntsservercert {}", chain.display()),
            format!("ntsserverkey {}", key.display()),
            format!("ntsport {ke}"),
            format!("ntsdumpdir {}", dir.path().display()),
        ],
    })
    .unwrap();
    let run = common::start(ip, 0, 9, &nts_client_toml(&format!("127.0.0.1:{ke}"), &ca, 2));
    wait_for_stratum_3(&run, Duration::from_secs(40), || server.log());
    assert!(run.daemon.log().contains("nts=true"), "{}", run.daemon.log());
}

/// NTPsec's ntpd as an NTS client of simple-ntpd. Both run inside a private
/// network namespace (ntpd binds port 123 on every address, which must not
/// collide with other tests), and ntpd runs without CAP_SYS_TIME in its
/// bounding set (plus `disable ntp` / `disable kernel`), so the kernel
/// refuses any attempt of it to touch the real clock.
#[test]
fn ntpsec_ntpd_synchronises_over_nts() {
    let ntpd = PathBuf::from("/usr/sbin/ntpd");
    if peer_or_skip("ntpsec ntpd", ntpd.exists().then_some(ntpd.clone())).unwrap().is_none() {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let tools = ["/usr/bin/unshare", "/usr/bin/setpriv", "/usr/sbin/ip", "/usr/bin/ip"]
        .iter()
        .filter(|p| std::path::Path::new(p).exists())
        .count()
        >= 3;
    if !root || !tools {
        assert!(!ntp_test_support::peers_required(), "needs root, unshare, setpriv and ip");
        eprintln!("SKIP: needs root, unshare, setpriv and ip");
        return;
    }
    let dir = TempDir::new("ntpsec").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let d = dir.path().display();
    dir.write(
        "d.toml",
        &format!(
            "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 12123\n[ntp_server]\nstratum = 2\n{}",
            nts_toml("127.0.0.1:14460".parse().unwrap(), &chain, &key, &dir.join("keys"))
        ),
    )
    .unwrap();
    dir.write(
        "ntp.conf",
        &format!(
            "server 127.0.0.1:14460 nts ca {} iburst minpoll 3 maxpoll 4\ndriftfile {d}/drift\ndisable ntp\ndisable kernel\n",
            ca.display()
        ),
    )
    .unwrap();
    let script = dir
        .write(
            "run.sh",
            &format!(
                r#"set -u
cd {d}
ip link set lo up
{bin} run -c {d}/d.toml > {d}/daemon.log 2>&1 &
DAEMON=$!
sleep 1
setpriv --bounding-set=-sys_time --inh-caps=-sys_time -- /usr/sbin/ntpd -n -d -c {d}/ntp.conf > {d}/ntpd.log 2>&1 &
NTPD=$!
sleep 0.2
grep CapEff /proc/$NTPD/status > {d}/ntpd.caps
ok=1
for i in $(seq 1 80); do
  if grep -q "127.0.0.1 .* sys_peer" {d}/ntpd.log; then ok=0; break; fi
  sleep 0.5
done
kill $NTPD $DAEMON
wait
exit $ok
"#,
                bin = common::bin().display()
            ),
        )
        .unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--", "bash"]).arg(&script);
    let out = ntp_test_support::run_bounded(&mut cmd, Duration::from_secs(90)).unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let caps = read("ntpd.caps");
    let eff = u64::from_str_radix(caps.split_whitespace().nth(1).unwrap_or("ffffffffffffffff"), 16).unwrap();
    assert_eq!(eff & (1 << 25), 0, "ntpd must run without CAP_SYS_TIME: {caps}");
    assert!(
        out.success(),
        "ntpd never selected simple-ntpd\n--- ntpd ---\n{}\n--- simple-ntpd ---\n{}",
        read("ntpd.log"),
        read("daemon.log")
    );
    let log = read("ntpd.log");
    assert!(log.contains("NTSc: Got 8 cookies"), "{log}");
}

/// NTS-KE announces the NTP port actually bound: with `listen_port = 0` the
/// kernel picks it, and a client that follows the announcement (our own sync
/// loop here) must reach the server there.
#[test]
fn nts_ke_announces_the_bound_ntp_port() {
    let dir = TempDir::new("nts-port0").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let cfg = dir
        .write(
            "a.toml",
            &format!(
                "[network]\nlisten_address = \"127.0.0.1\"\nlisten_port = 0\n[ntp_server]\nstratum = 2\n{}",
                nts_toml(ke, &chain, &key, &dir.join("keys"))
            ),
        )
        .unwrap();
    let mut server =
        ntp_test_support::DaemonProcess::spawn(common::bin(), ["run", "-c", cfg.to_str().unwrap()]).unwrap();
    server.wait_for_log("NTS-KE listening", Duration::from_secs(10)).unwrap();
    let run = common::start(ip, 0, 9, &nts_client_toml(&ke.to_string(), &ca, 2));
    wait_for_stratum_3(&run, Duration::from_secs(30), || server.log());
}

/// Our NTS client renews its session when the server no longer knows its
/// cookies (restarted with a new key directory, so it answers with NAKs),
/// and keeps its sources.
#[test]
fn the_nts_client_renews_its_session_after_a_nak() {
    let dir = TempDir::new("nts-rekey").unwrap();
    common::readable_like_etc(dir.path());
    let (ca, chain, key) = certificates(&dir);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = free_udp_port(ip);
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let (first_keys, second_keys) = (dir.join("keys-1"), dir.join("keys-2"));
    let api = || SocketAddr::new(ip, free_tcp_port(ip));
    let files = NtsFiles { chain: &chain, key: &key, keydir: &first_keys };
    let mut server = start_nts(port, ke, api(), &files, &dir, "server-1.toml");
    let mut client = common::start(ip, 0, 9, &nts_client_toml(&ke.to_string(), &ca, 1));
    wait_for_stratum_3(&client, Duration::from_secs(30), || server.log());

    server.signal("TERM").unwrap();
    server.wait_exit(Duration::from_secs(5)).unwrap();
    let files = NtsFiles { chain: &chain, key: &key, keydir: &second_keys };
    let server = start_nts(port, ke, api(), &files, &dir, "server-2.toml");
    client
        .daemon
        .wait_for_log("NTS session renewed", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n--- server ---\n{}", server.log()));
    wait_for_stratum_3(&client, Duration::from_secs(30), || server.log());
}

/// A server whose certificate the client's CA did not sign is refused with
/// a message that says so, and no time is taken from it.
#[test]
fn a_certificate_from_another_ca_is_refused_and_explained() {
    let dir = TempDir::new("nts-wrong-ca").unwrap();
    common::readable_like_etc(dir.path());
    let (_, chain, key) = certificates(&dir);
    let other = TempDir::new("nts-other-ca").unwrap();
    common::readable_like_etc(other.path());
    let (other_ca, _, _) = certificates(&other);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let ke = SocketAddr::new(ip, free_tcp_port(ip));
    let _server = common::start(ip, 0, 2, &nts_toml(ke, &chain, &key, &dir.join("keys")));
    let mut client = common::start(ip, 0, 9, &nts_client_toml(&ke.to_string(), &other_ca, 2));
    client.daemon.wait_for_log("NTS key exchange failed", Duration::from_secs(10)).unwrap();
    // Same CA name, other key: rustls names the reason (BadSignature here).
    let log = client.daemon.log();
    assert!(log.contains("failed (certificate or protocol): invalid peer certificate"), "{log}");
    let r = ntp_test_support::sntp_probe(client.addr, 4, Duration::from_secs(1)).unwrap();
    assert_eq!(r.li, 3, "synchronised through a server it cannot authenticate");
}
