//! `simple-ntpd query HOST[:PORT]`: one SNTP exchange, printed as text or
//! JSON. Exit status 0 only for a valid reply from a synchronised server
//! (leap not 3, stratum 1–15), 1 for a reply that is not usable time
//! (unsynchronised, kiss-o'-death), 2 when no valid reply arrives in time or
//! the server cannot be resolved — so it doubles as a container health check.

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ntp_config::HostPort;
use ntp_proto::auth::{check_packet_mac, SymmetricKey};
use ntp_proto::client::{measure, write_request, Measurement};
use ntp_proto::kod::KissCode;
use ntp_proto::packet::LeapIndicator;
use ntp_proto::server::NTP_PORT;
use ntp_proto::NtpTimestamp;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::QueryArgs;
use crate::clock::SystemClock;
use crate::net::udp::{self, CmsgBuf};

/// Parses `HOST`, `HOST:PORT`, `[V6]:PORT`, `V6` (the configuration's
/// `host[:port]` syntax) and resolves it.
pub fn resolve_target(spec: &str) -> Result<SocketAddr, String> {
    let target: HostPort = spec.parse().map_err(|e| format!("invalid server: {e}"))?;
    let port = target.port_or(NTP_PORT);
    if let Some(ip) = target.ip() {
        return Ok(SocketAddr::new(ip, port));
    }
    let host = target.host();
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host:?} has no addresses"))
}

/// The JSON shape of a query result.
#[derive(Serialize, Debug)]
pub struct QueryReport {
    /// The address queried.
    pub server: String,
    /// Server clock minus local clock, seconds.
    pub offset: f64,
    /// Round-trip delay, seconds.
    pub delay: f64,
    /// Server stratum (0 = unsynchronised or kiss-o'-death).
    pub stratum: u8,
    /// Leap indicator 0–3 (3 = unsynchronised).
    pub leap: u8,
    /// Reference id: text for stratum 0/1, dotted quad above.
    pub refid: String,
    /// Root delay, seconds.
    pub root_delay: f64,
    /// Root dispersion, seconds.
    pub root_dispersion: f64,
    /// Precision as log2 seconds.
    pub precision: i8,
    /// Poll field of the reply.
    pub poll: i8,
    /// Version of the reply.
    pub version: u8,
    /// Reference time as Unix seconds (0 when unknown).
    pub reference_time: f64,
    /// True when the reply carries usable time.
    pub synchronised: bool,
    /// Kiss-o'-death code, if the reply was one.
    pub kiss_code: Option<String>,
    /// True when the reply carried a valid MAC with our key.
    pub authenticated: bool,
}

fn refid_text(m: &Measurement) -> String {
    let id = m.header.reference_id;
    if m.header.stratum <= 1 {
        if let Some(s) = id.as_ascii() {
            return s.to_string();
        }
    }
    format!("{}.{}.{}.{}", id.0[0], id.0[1], id.0[2], id.0[3])
}

fn report(server: SocketAddr, m: &Measurement, authenticated: bool, now_unix: i64) -> QueryReport {
    let h = &m.header;
    let synchronised = h.leap != LeapIndicator::Unknown && (1..=15).contains(&h.stratum);
    let kiss = if h.stratum == 0 { KissCode::from_reference_id(h.reference_id) } else { None };
    QueryReport {
        server: server.to_string(),
        offset: m.offset,
        delay: m.delay,
        stratum: h.stratum,
        leap: h.leap.to_bits(),
        refid: refid_text(m),
        root_delay: h.root_delay.to_seconds(),
        root_dispersion: h.root_dispersion.to_seconds(),
        precision: h.precision,
        poll: h.poll,
        version: h.version,
        reference_time: if h.reference_time.is_zero() { 0.0 } else { h.reference_time.to_unix_f64_near(now_unix) },
        synchronised,
        kiss_code: kiss.map(|k| String::from_utf8_lossy(&k.reference_id().0).into_owned()),
        authenticated,
    }
}

/// True when `reply` ends in a valid MAC by `key`.
fn reply_authenticated(reply: &[u8], key: &SymmetricKey) -> bool {
    check_packet_mac(reply, |id| (id == key.id()).then_some(key)).is_valid()
}

/// One exchange with `server`, waiting at most `timeout`; with a key, the
/// request carries a MAC and the result says whether the reply did.
pub fn exchange(
    server: SocketAddr,
    version: u8,
    timeout: Duration,
    key: Option<&SymmetricKey>,
) -> Result<(Measurement, bool), String> {
    let domain = Domain::for_address(server);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| format!("socket: {e}"))?;
    udp::enable_rx_metadata(&socket, server.is_ipv6()).map_err(|e| format!("socket options: {e}"))?;
    let any: SocketAddr = if server.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    socket.bind(&any.into()).map_err(|e| format!("bind: {e}"))?;
    let mut cookie_bytes = [0u8; 8];
    crate::random::try_fill(&mut cookie_bytes).map_err(|e| e.to_string())?;
    let cookie = NtpTimestamp::from_bits(u64::from_ne_bytes(cookie_bytes));
    let mut req = [0u8; 128];
    let mut req_len = write_request(version, 6, cookie, &mut req).ok_or("request buffer too small")?;
    if let Some(k) = key {
        req_len = k.append_mac(&mut req, req_len, k.packet_digest_len(version)).ok_or("request buffer too small")?;
    }
    let clock = SystemClock;
    let deadline = Instant::now() + timeout;
    let t1 = clock.now();
    udp::send(&socket, &req[..req_len], server, None).map_err(|e| format!("cannot send to {server}: {e}"))?;
    let mut buf = [0u8; 1024];
    let mut cmsg = CmsgBuf::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no reply from {server} within {:.1} s", timeout.as_secs_f64()));
        }
        socket.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let meta = match udp::recv(&socket, &mut buf, &mut cmsg) {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue
            }
            Err(e) => return Err(format!("no reply from {server}: {e}")),
        };
        let t4 = match meta.kernel_time {
            Some(k) => NtpTimestamp::from_unix(k.secs, k.nanos),
            None => clock.now(),
        };
        if meta.source != server || meta.truncated {
            continue;
        }
        // Anything that is not the answer to our request is ignored (spoofed or stale).
        if let Ok(m) = measure(&buf[..meta.len], cookie, t1, t4) {
            let authenticated = key.is_some_and(|k| reply_authenticated(&buf[..meta.len], k));
            return Ok((m, authenticated));
        }
    }
}

/// Runs `query`.
pub fn run(args: QueryArgs) -> ExitCode {
    let fail = |msg: String, code: u8| {
        if args.json {
            println!("{}", serde_json::json!({ "server": args.server, "error": msg }));
        }
        eprintln!("simple-ntpd query: {msg}");
        ExitCode::from(code)
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return fail("--timeout must be a positive number of seconds".into(), 2);
    }
    let server = match resolve_target(&args.server) {
        Ok(s) => s,
        Err(e) => return fail(e, 2),
    };
    let key = match (&args.key_file, args.key_id) {
        (Some(file), Some(id)) => {
            let keys = match std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
                .and_then(|t| ntp_proto::auth::parse_keyfile(&t).map_err(|e| format!("{}: {e}", file.display())))
            {
                Ok(k) => k,
                Err(e) => return fail(e, 2),
            };
            match keys.into_iter().find(|k| k.id() == id) {
                Some(k) => Some(k),
                None => return fail(format!("key {id} is not in {}", file.display()), 2),
            }
        }
        _ => None,
    };
    let (m, authenticated) =
        match exchange(server, args.ntp_version, Duration::from_secs_f64(args.timeout), key.as_ref()) {
            Ok(m) => m,
            Err(e) => return fail(e, 2),
        };
    let r = report(server, &m, authenticated, SystemClock::unix_now().0);
    // Why a reply that did arrive is still not good time (exit 1).
    let verdict = if key.is_some() && !r.authenticated {
        Some(format!(
            "the reply from {server} is not authenticated with key {}",
            key.as_ref().map(|k| k.id()).unwrap_or(0)
        ))
    } else if let Some(k) = &r.kiss_code {
        Some(format!("{server} sent kiss-o'-death {k}"))
    } else if !r.synchronised {
        Some(format!("{server} is not synchronised (leap {}, stratum {}, refid {})", r.leap, r.stratum, r.refid))
    } else {
        None
    };
    if args.json {
        // One JSON object either way: the report, plus "error" when it failed.
        let mut doc = serde_json::to_value(&r).expect("report serialises");
        if let (Some(msg), Some(obj)) = (&verdict, doc.as_object_mut()) {
            obj.insert("error".into(), msg.clone().into());
        }
        println!("{doc}");
    } else {
        println!(
            "server {}, stratum {}, offset {:+.6} s, delay {:.6} s\n  leap {}, refid {}, root delay {:.6} s, root dispersion {:.6} s, precision 2^{} s, version {}",
            r.server, r.stratum, r.offset, r.delay, r.leap, r.refid, r.root_delay, r.root_dispersion, r.precision, r.version
        );
        if key.is_some() {
            println!("  authenticated: {}", if r.authenticated { "yes" } else { "no" });
        }
    }
    if let Some(msg) = verdict {
        eprintln!("simple-ntpd query: {msg}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_forms() {
        assert_eq!(resolve_target("127.0.0.1").unwrap(), "127.0.0.1:123".parse().unwrap());
        assert_eq!(resolve_target("127.0.0.1:1123").unwrap(), "127.0.0.1:1123".parse().unwrap());
        assert_eq!(resolve_target("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(resolve_target("::1").unwrap(), "[::1]:123".parse().unwrap());
        assert_eq!(resolve_target("localhost:77").unwrap().port(), 77);
        assert!(resolve_target("127.0.0.1:notaport").is_err());
    }
}
