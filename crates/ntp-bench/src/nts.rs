//! NTS mode (`--nts-ke`): NTS-KE sessions over TLS 1.3 and NTS-protected
//! requests (RFC 8915), using the daemon's NTS codecs from `ntp-proto`
//! (the plain mode stays independent of them).
//!
//! Each session (one NTS-KE handshake) has its own cookie jar and is tied to
//! one source socket. A request takes one cookie from its session's jar and
//! carries enough placeholders to keep jar + cookies owed at 8; a verified
//! reply puts its fresh cookies back. A request whose session has no cookie
//! is not sent (counted as `nts_no_cookie`), never sent as plain NTP.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ntp_proto::nts::aead::AeadAlgorithm;
use ntp_proto::nts::cookie::SessionKeys;
use ntp_proto::nts::ef::{self, NtsError, MIN_UNIQUE_ID_LEN};
use ntp_proto::nts::ke::{self, Decoded, Limits, RecordDecoder};
use ntp_proto::nts::{exporter_context, KeyDirection, ALPN_NTSKE, EXPORTER_LABEL};
use rustls::pki_types::ServerName;

use crate::ntp::HEADER_LEN;
pub use crate::rng::Rng;

/// Cookies a session aims to hold or be owed (what one NTS-KE gives).
pub const JAR_TARGET: usize = 8;
/// Most placeholders one request carries.
const MAX_PLACEHOLDERS: usize = 7;
/// NTS-KE I/O timeout.
const KE_TIMEOUT: Duration = Duration::from_secs(5);

/// One NTS-KE result: keys and a cookie jar.
#[derive(Debug)]
pub struct Session {
    /// C2S/S2C keys and the AEAD.
    pub keys: SessionKeys,
    /// Cookies ready to use.
    pub jar: VecDeque<Vec<u8>>,
    /// Cookies owed by requests in flight (1 + placeholders each).
    pub owed: usize,
}

/// A TLS client configuration for NTS-KE: TLS 1.3 only, ALPN `ntske/1`,
/// roots from the PEM file `ca`, no session resumption (every handshake is a
/// full one, as for a client's first contact).
pub fn tls_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.context("parsing --ca")?).context("adding --ca certificate")?;
    }
    if roots.is_empty() {
        bail!("no certificate in {}", ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// What one key exchange yields.
#[derive(Debug)]
pub struct KeOutcome {
    /// The session.
    pub session: Session,
    /// The NTP port the server named (Port Negotiation record), if any.
    pub port: Option<u16>,
}

/// Derives the C2S or S2C key for `aead` (RFC 8915 §5.1).
fn export_key(
    conn: &rustls::ClientConnection,
    aead: AeadAlgorithm,
    direction: KeyDirection,
) -> anyhow::Result<Vec<u8>> {
    let mut key = vec![0u8; aead.key_len()];
    conn.export_keying_material(&mut key, EXPORTER_LABEL, Some(&exporter_context(aead, direction)))
        .map_err(|e| anyhow::anyhow!("exporting keys: {e}"))?;
    Ok(key)
}

/// One blocking NTS-KE exchange with `addr`, checking the certificate for `name`.
pub fn key_exchange(
    cfg: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &ServerName<'static>,
) -> anyhow::Result<KeOutcome> {
    let mut tcp = TcpStream::connect_timeout(&addr, KE_TIMEOUT).with_context(|| format!("connecting to {addr}"))?;
    tcp.set_read_timeout(Some(KE_TIMEOUT))?;
    tcp.set_write_timeout(Some(KE_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    let mut conn = rustls::ClientConnection::new(cfg.clone(), name.clone()).context("TLS client")?;
    let request = ke::encode_message(&ke::client_request()).map_err(|e| anyhow::anyhow!("encoding request: {e}"))?;
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(&request).context("NTS-KE: TLS handshake / sending the request")?;
    tls.flush()?;
    let mut decoder = RecordDecoder::new(Limits::default());
    let (mut buf, mut records) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    while !decoder.is_done() {
        match decoder.decode(&buf).map_err(|e| anyhow::anyhow!("NTS-KE response: {e}"))? {
            Decoded::Record { record, consumed } => {
                records.push(record);
                buf.drain(..consumed);
            }
            Decoded::NeedMore => {
                let n = tls.read(&mut chunk).context("NTS-KE: reading the response")?;
                if n == 0 {
                    bail!("NTS-KE: connection closed before End of Message");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    let resp = ke::parse_response(&records).map_err(|e| anyhow::anyhow!("{e}"))?;
    let keys = SessionKeys {
        aead: resp.aead,
        c2s: export_key(&conn, resp.aead, KeyDirection::ClientToServer)?,
        s2c: export_key(&conn, resp.aead, KeyDirection::ServerToClient)?,
    };
    conn.send_close_notify();
    let _ = conn.complete_io(&mut tcp);
    Ok(KeOutcome { session: Session { keys, jar: resp.cookies.into(), owed: 0 }, port: resp.port })
}

/// `count` sequential key exchanges; returns them and the wall time taken.
pub fn key_exchanges(
    cfg: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &ServerName<'static>,
    count: usize,
) -> anyhow::Result<(Vec<KeOutcome>, Duration)> {
    let start = Instant::now();
    let out = (0..count)
        .map(|i| key_exchange(cfg, addr, name).with_context(|| format!("key exchange {}/{count}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((out, start.elapsed()))
}

/// The TLS server name: `--ke-server-name`, else the KE address's IP.
pub fn server_name(addr: SocketAddr, name: Option<&str>) -> anyhow::Result<ServerName<'static>> {
    match name {
        Some(n) => ServerName::try_from(n.to_owned()).map_err(|e| anyhow::anyhow!("--ke-server-name {n}: {e}")),
        None => Ok(ServerName::IpAddress(addr.ip().into())),
    }
}

/// What a request of the in-flight ring needs to check its reply.
#[derive(Clone, Copy, Debug)]
struct Slot {
    seq: u64,
    session: u32,
    placeholders: u8,
    unique_id: [u8; MIN_UNIQUE_ID_LEN],
}

/// The verdict on a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated; its cookies went back into the jar.
    Ok,
    /// Authenticator or unique id wrong (or not a well-formed NTS reply).
    AuthFailure,
    /// An NTS NAK (kiss code NTSN).
    Nak,
    /// No request with this number is remembered (too old or never sent).
    Unknown,
}

/// Counters of the NTS layer (measured window only, like the others).
#[derive(Clone, Copy, Debug, Default)]
pub struct NtsCounters {
    /// Replies whose authenticator or unique id did not verify.
    pub auth_failures: u64,
    /// NTS NAKs received.
    pub naks: u64,
    /// Send attempts skipped because no session of the socket had a cookie.
    pub no_cookie: u64,
    /// Fresh cookies received in authenticated replies.
    pub cookies_received: u64,
}

/// All sessions plus the request ring.
#[derive(Debug)]
pub struct Nts {
    sessions: Vec<Session>,
    sockets: usize,
    next_session: Vec<usize>,
    slots: Vec<Slot>,
    mask: u64,
    rng: Rng,
    /// Scratch header for [`ef::client_request`].
    header: [u8; HEADER_LEN],
}

impl Nts {
    /// Sessions spread over `sockets` sockets (session i on socket i % sockets),
    /// remembering up to `capacity` requests in flight (rounded up to a power of two).
    pub fn new(sessions: Vec<Session>, sockets: usize, capacity: usize, rng: Rng) -> Nts {
        let cap = capacity.max(16).next_power_of_two();
        let empty = Slot { seq: u64::MAX, session: 0, placeholders: 0, unique_id: [0; MIN_UNIQUE_ID_LEN] };
        Nts {
            sessions,
            sockets: sockets.max(1),
            next_session: vec![0; sockets.max(1)],
            slots: vec![empty; cap],
            mask: cap as u64 - 1,
            rng,
            header: [0; HEADER_LEN],
        }
    }

    /// The sessions.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Builds request `seq` (plain header `header`) for socket `socket` from
    /// the next session of that socket with a cookie; `None` if none has one.
    pub fn build(&mut self, socket: usize, seq: u64, header: &[u8; HEADER_LEN]) -> Option<Vec<u8>> {
        let socket = socket % self.sockets;
        let mine = (self.sessions.len() + self.sockets - 1 - socket) / self.sockets; // sessions on this socket
        for _ in 0..mine {
            let k = self.next_session[socket] % mine.max(1);
            self.next_session[socket] = k + 1;
            let index = socket + k * self.sockets;
            let s = &mut self.sessions[index];
            let Some(cookie) = s.jar.pop_front() else { continue };
            let placeholders = JAR_TARGET.saturating_sub(s.jar.len() + s.owed + 1).min(MAX_PLACEHOLDERS);
            let mut unique_id = [0u8; MIN_UNIQUE_ID_LEN];
            self.rng.fill(&mut unique_id);
            let mut nonce = [0u8; 32];
            let nonce = &mut nonce[..s.keys.aead.nonce_len()];
            self.rng.fill(nonce);
            self.header = *header;
            let Ok(packet) = ef::client_request(&self.header, &unique_id, &cookie, placeholders, &s.keys, nonce) else {
                continue;
            };
            s.owed += 1 + placeholders;
            self.slots[(seq & self.mask) as usize] =
                Slot { seq, session: index as u32, placeholders: placeholders as u8, unique_id };
            return Some(packet);
        }
        None
    }

    /// Checks the reply to request `seq` and refills the jar from it.
    pub fn verify(&mut self, seq: u64, packet: &[u8], counters: &mut NtsCounters) -> Verdict {
        let slot = &mut self.slots[(seq & self.mask) as usize];
        if slot.seq != seq {
            return Verdict::Unknown;
        }
        let session = &mut self.sessions[slot.session as usize];
        match ef::client_verify_reply(packet, &slot.unique_id, &session.keys) {
            Ok(cookies) => {
                // Only the first reply settles the debt; a duplicate finds no slot.
                session.owed = session.owed.saturating_sub(1 + usize::from(slot.placeholders));
                slot.seq = u64::MAX;
                counters.cookies_received += cookies.len() as u64;
                for c in cookies {
                    if session.jar.len() + session.owed < JAR_TARGET {
                        session.jar.push_back(c);
                    }
                }
                Verdict::Ok
            }
            Err(NtsError::ReceivedNak) => {
                counters.naks += 1;
                Verdict::Nak
            }
            Err(_) => {
                counters.auth_failures += 1;
                Verdict::AuthFailure
            }
        }
    }

    /// Request `seq` timed out: its cookies are no longer owed (placeholders
    /// on later requests make up for them).
    pub fn expired(&mut self, seq: u64) {
        let slot = &mut self.slots[(seq & self.mask) as usize];
        if slot.seq == seq {
            let s = &mut self.sessions[slot.session as usize];
            s.owed = s.owed.saturating_sub(1 + usize::from(slot.placeholders));
            slot.seq = u64::MAX;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_proto::nts::cookie::{CookieKeys, MASTER_KEY_LEN};

    fn server_keys() -> CookieKeys {
        CookieKeys::new(7, [0x42; MASTER_KEY_LEN])
    }

    fn session(server: &CookieKeys, aead: AeadAlgorithm, cookies: usize) -> Session {
        let keys = SessionKeys { aead, c2s: vec![1; aead.key_len()], s2c: vec![2; aead.key_len()] };
        let jar = (0..cookies).map(|i| server.seal(&keys, &[i as u8; 16]).unwrap()).collect();
        Session { keys, jar, owed: 0 }
    }

    fn header(transmit: u64) -> [u8; HEADER_LEN] {
        crate::ntp::encode_request(transmit)
    }

    /// What a server does with a request: verify it, then answer with the
    /// header it would send (origin = the request's transmit) and NTS fields.
    fn serve(server: &CookieKeys, request: &[u8]) -> Vec<u8> {
        let verified = ef::server_verify(request, server).expect("server accepts the request");
        let mut reply = vec![0u8; 2048];
        reply[0] = (4 << 3) | 4;
        reply[1] = 2;
        reply[24..32].copy_from_slice(&request[40..48]);
        reply[32..48].copy_from_slice(&[9; 16]);
        let nonce = vec![5u8; verified.keys.aead.nonce_len()];
        let mut n = 0u8;
        let len = ef::server_reply_fields(&mut reply, &verified, request.len(), server, &nonce, || {
            n += 1;
            [n; 16]
        })
        .expect("reply fields");
        reply.truncate(len);
        reply
    }

    #[test]
    fn request_reply_round_trip_keeps_the_jar_full() {
        for aead in AeadAlgorithm::PREFERENCE {
            let server = server_keys();
            let mut nts = Nts::new(vec![session(&server, aead, 8)], 1, 64, Rng(1));
            let mut c = NtsCounters::default();
            // Eight in flight: the whole jar is owed, no placeholders needed.
            let reqs: Vec<_> = (0..8u64).map(|seq| nts.build(0, seq, &header(100 + seq)).unwrap()).collect();
            assert!(nts.build(0, 8, &header(108)).is_none(), "jar empty: nothing is sent");
            assert_eq!(nts.sessions()[0].owed, 8);
            for (seq, r) in reqs.iter().enumerate() {
                assert_eq!(&r[40..48], &(100 + seq as u64).to_be_bytes(), "transmit timestamp kept");
                let reply = serve(&server, r);
                assert!(crate::ntp::parse_reply(&reply).is_ok());
                assert_eq!(nts.verify(seq as u64, &reply, &mut c), Verdict::Ok);
                assert_eq!(
                    nts.verify(seq as u64, &reply, &mut c),
                    Verdict::Unknown,
                    "a duplicate is not verified twice"
                );
            }
            assert_eq!((nts.sessions()[0].jar.len(), nts.sessions()[0].owed), (8, 0));
            assert_eq!((c.cookies_received, c.auth_failures, c.naks), (8, 0, 0));
        }
    }

    #[test]
    fn lost_replies_are_made_up_with_placeholders() {
        let server = server_keys();
        let mut nts = Nts::new(vec![session(&server, AeadAlgorithm::AesSivCmac256, 8)], 1, 64, Rng(2));
        let mut c = NtsCounters::default();
        for seq in 0..3 {
            nts.build(0, seq, &header(seq)).unwrap();
            nts.expired(seq);
        }
        // 5 cookies left, none owed: the next request asks for 3 back.
        let r = nts.build(0, 3, &header(3)).unwrap();
        let verified = ef::server_verify(&r, &server).unwrap();
        assert_eq!(verified.placeholders, 3);
        assert_eq!(nts.verify(3, &serve(&server, &r), &mut c), Verdict::Ok);
        assert_eq!(nts.sessions()[0].jar.len(), 8);
    }

    #[test]
    fn tampered_replies_and_naks_are_counted() {
        let server = server_keys();
        let mut nts = Nts::new(vec![session(&server, AeadAlgorithm::Aes128GcmSiv, 8)], 1, 64, Rng(3));
        let mut c = NtsCounters::default();
        let r = nts.build(0, 0, &header(1)).unwrap();
        let mut reply = serve(&server, &r);
        reply[45] ^= 1; // the authenticated header's transmit timestamp
        assert_eq!(nts.verify(0, &reply, &mut c), Verdict::AuthFailure);
        // A cookie the server cannot open: it answers with an NTS NAK.
        let r = nts.build(0, 1, &header(2)).unwrap();
        let other = CookieKeys::new(9, [0x11; MASTER_KEY_LEN]);
        let Err(Ok(nak)) = ef::server_verify(&r, &other) else { panic!("expected a NAK") };
        let mut out = vec![0u8; 128];
        out[..HEADER_LEN].copy_from_slice(&r[..HEADER_LEN]);
        out[0] = (3 << 6) | (4 << 3) | 4;
        out[1] = 0;
        out[12..16].copy_from_slice(b"NTSN");
        let at = HEADER_LEN;
        out[at..at + 2].copy_from_slice(&ef::UNIQUE_IDENTIFIER.to_be_bytes());
        out[at + 2..at + 4].copy_from_slice(&((4 + nak.unique_id.len()) as u16).to_be_bytes());
        out[at + 4..at + 4 + nak.unique_id.len()].copy_from_slice(nak.unique_id);
        out.truncate(at + 4 + nak.unique_id.len());
        assert_eq!(nts.verify(1, &out, &mut c), Verdict::Nak);
        assert_eq!((c.auth_failures, c.naks), (1, 1));
    }

    #[test]
    fn sessions_are_spread_over_sockets() {
        let server = server_keys();
        let sessions = (0..4).map(|_| session(&server, AeadAlgorithm::AesSivCmac256, 1)).collect();
        let mut nts = Nts::new(sessions, 2, 64, Rng(4));
        // Socket 1 owns sessions 1 and 3: two requests, then nothing.
        assert!(nts.build(1, 0, &header(0)).is_some());
        assert!(nts.build(1, 1, &header(1)).is_some());
        assert!(nts.build(1, 2, &header(2)).is_none());
        assert_eq!(nts.sessions().iter().map(|s| s.jar.len()).collect::<Vec<_>>(), [1, 0, 1, 0]);
    }
}
