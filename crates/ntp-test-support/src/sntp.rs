//! A minimal, independent SNTP client on `std::net::UdpSocket`.
//!
//! Deliberately does not use the project's `ntp-proto`: it is the outside view.
//! Requests carry a random transmit timestamp (as chrony's client does), so a correct
//! server echoes that value in the reply's origin field; T1/T4 are local clock readings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::Deref;
use std::time::{Duration, Instant};

use crate::timestamp::{ntp_to_unix, unix_now};

/// The 48-byte NTP header, decoded. Short-format fields are converted to seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct NtpHeader {
    /// Leap indicator (0 none, 1 +1 s, 2 -1 s, 3 unsynchronised).
    pub li: u8,
    /// Version number (3 bits).
    pub version: u8,
    /// Association mode (3 client, 4 server, 5 broadcast, ...).
    pub mode: u8,
    /// Stratum (0 = kiss-o'-death / unspecified, 16 = unsynchronised).
    pub stratum: u8,
    /// Poll exponent (log2 s), signed.
    pub poll: i8,
    /// Precision exponent (log2 s), signed.
    pub precision: i8,
    /// Root delay in seconds (signed 16.16).
    pub root_delay: f64,
    /// Root dispersion in seconds (unsigned 16.16).
    pub root_dispersion: f64,
    /// Reference ID bytes (ASCII kiss code or refclock name, or IPv4, or hash).
    pub refid: [u8; 4],
    /// Raw 32.32 timestamps.
    pub reference_ts: u64,
    /// Raw origin timestamp (should echo the request's transmit timestamp).
    pub origin_ts: u64,
    /// Raw receive timestamp (T2).
    pub receive_ts: u64,
    /// Raw transmit timestamp (T3).
    pub transmit_ts: u64,
    /// `reference_ts` as Unix seconds (0.0 when raw 0).
    pub reference_time: f64,
    /// `origin_ts` as Unix seconds (0.0 when raw 0).
    pub origin_time: f64,
    /// `receive_ts` as Unix seconds.
    pub receive_time: f64,
    /// `transmit_ts` as Unix seconds.
    pub transmit_time: f64,
}

impl NtpHeader {
    /// The reference ID as text: ASCII when printable (kiss codes, refclock names),
    /// dotted quad otherwise.
    pub fn refid_string(&self) -> String {
        let printable = self.refid.iter().all(|&b| b == 0 || (b.is_ascii_graphic() || b == b' '));
        if printable && self.refid[0] != 0 {
            String::from_utf8_lossy(&self.refid).trim_end_matches(['\0', ' ']).to_string()
        } else {
            Ipv4Addr::from(self.refid).to_string()
        }
    }

    /// The kiss code (`RATE`, `DENY`, `RSTR`, ...) when stratum is 0.
    pub fn kiss_code(&self) -> Option<String> {
        (self.stratum == 0).then(|| String::from_utf8_lossy(&self.refid).trim_end_matches('\0').to_string())
    }
}

/// A server reply to [`sntp_probe`].
#[derive(Debug, Clone)]
pub struct ProbeReply {
    /// The datagram exactly as received (may be longer than 48 bytes: extensions/MAC).
    pub raw: Vec<u8>,
    /// Decoded header (also reachable directly through `Deref`: `reply.stratum`).
    pub header: NtpHeader,
    /// Where the reply came from.
    pub from: SocketAddr,
    /// The random transmit timestamp we put in the request.
    pub request_transmit_ts: u64,
    /// True when `origin_ts == request_transmit_ts` (the server echoed our timestamp).
    pub origin_matches: bool,
    /// Local Unix time just before sending (T1).
    pub t1: f64,
    /// Local Unix time just after receiving (T4).
    pub t4: f64,
    /// Clock offset ((T2-T1)+(T3-T4))/2, seconds; positive = server ahead of us.
    pub offset: f64,
    /// Round-trip delay (T4-T1)-(T3-T2), seconds.
    pub delay: f64,
}

impl Deref for ProbeReply {
    type Target = NtpHeader;
    fn deref(&self) -> &NtpHeader {
        &self.header
    }
}

/// A 48-byte client request: LI 0, the given version (low 3 bits), mode 3, all
/// fields zero except the transmit timestamp.
pub fn build_request(version: u8, transmit_ts: u64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = ((version & 7) << 3) | 3;
    p[40..48].copy_from_slice(&transmit_ts.to_be_bytes());
    p
}

/// Decode the first 48 bytes of an NTP packet. `Err` when shorter than 48 bytes.
pub fn decode_packet(b: &[u8]) -> Result<NtpHeader, String> {
    if b.len() < 48 {
        return Err(format!("NTP packet too short: {} bytes ({})", b.len(), hex(b)));
    }
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_be_bytes(a)
    };
    let (reference_ts, origin_ts, receive_ts, transmit_ts) = (u64_at(16), u64_at(24), u64_at(32), u64_at(40));
    Ok(NtpHeader {
        li: b[0] >> 6,
        version: (b[0] >> 3) & 7,
        mode: b[0] & 7,
        stratum: b[1],
        poll: b[2] as i8,
        precision: b[3] as i8,
        root_delay: u32_at(4) as i32 as f64 / 65536.0,
        root_dispersion: u32_at(8) as f64 / 65536.0,
        refid: [b[12], b[13], b[14], b[15]],
        reference_ts,
        origin_ts,
        receive_ts,
        transmit_ts,
        reference_time: ntp_to_unix(reference_ts),
        origin_time: ntp_to_unix(origin_ts),
        receive_time: ntp_to_unix(receive_ts),
        transmit_time: ntp_to_unix(transmit_ts),
    })
}

/// Send one mode-3 request with a random transmit timestamp to `addr` and wait at most
/// `timeout` for the first datagram back from `addr` (the socket is connected, so
/// nothing else is accepted). Errors: no reply in time, ICMP unreachable, reply
/// shorter than 48 bytes. A reply whose origin does not echo our timestamp is still
/// returned, with `origin_matches == false`, so tests can assert on it.
pub fn sntp_probe(addr: SocketAddr, version: u8, timeout: Duration) -> Result<ProbeReply, String> {
    let sock = connected_socket(addr)?;
    let tx = crate::random::random_u64();
    let req = build_request(version, tx);
    let t1 = unix_now();
    sock.send(&req).map_err(|e| format!("sntp_probe: send to {addr}: {e}"))?;
    let raw = recv_one(&sock, addr, Instant::now() + timeout)?;
    let t4 = unix_now();
    let header = decode_packet(&raw).map_err(|e| format!("sntp_probe: reply from {addr}: {e}"))?;
    let (t2, t3) = (header.receive_time, header.transmit_time);
    Ok(ProbeReply {
        from: addr,
        request_transmit_ts: tx,
        origin_matches: header.origin_ts == tx,
        t1,
        t4,
        offset: ((t2 - t1) + (t3 - t4)) / 2.0,
        delay: (t4 - t1) - (t3 - t2),
        raw,
        header,
    })
}

/// Send `bytes` as one datagram to `addr`; the first datagram back within `timeout`,
/// or `None` (no reply, ICMP unreachable, or any socket error).
pub fn send_raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let sock = connected_socket(addr).ok()?;
    sock.send(bytes).ok()?;
    recv_one(&sock, addr, Instant::now() + timeout).ok()
}

/// Send `bytes` once and collect every datagram that comes back during `window`
/// (e.g. to check that a server answers at most once and never amplifies).
pub fn send_raw_collect(addr: SocketAddr, bytes: &[u8], window: Duration) -> Vec<Vec<u8>> {
    let mut replies = Vec::new();
    let Ok(sock) = connected_socket(addr) else {
        return replies;
    };
    if sock.send(bytes).is_err() {
        return replies;
    }
    let deadline = Instant::now() + window;
    while let Ok(r) = recv_one(&sock, addr, deadline) {
        replies.push(r);
    }
    replies
}

fn connected_socket(addr: SocketAddr) -> Result<UdpSocket, String> {
    let local: IpAddr = match addr {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock =
        UdpSocket::bind(SocketAddr::new(local, 0)).map_err(|e| format!("bind a UDP socket to reach {addr}: {e}"))?;
    sock.connect(addr).map_err(|e| format!("connect UDP socket to {addr}: {e}"))?;
    Ok(sock)
}

fn recv_one(sock: &UdpSocket, addr: SocketAddr, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no reply from {addr} within the time limit"));
        }
        sock.set_read_timeout(Some(left)).map_err(|e| format!("set_read_timeout: {e}"))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                continue
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(format!("{addr}: port unreachable (nothing listening): {e}"))
            }
            Err(e) => return Err(format!("receive from {addr}: {e}")),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::unix_to_ntp;

    #[test]
    fn request_layout() {
        let r = build_request(4, 0x0102_0304_0506_0708);
        assert_eq!(r[0], 0x23);
        assert_eq!(&r[40..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(r[1..40].iter().all(|&b| b == 0));
    }

    #[test]
    fn decodes_fields_and_rejects_short() {
        let mut p = [0u8; 48];
        p[0] = (1 << 6) | (4 << 3) | 4;
        p[1] = 2;
        p[2] = 6;
        p[3] = (-20i8) as u8;
        p[4..8].copy_from_slice(&0x0001_8000u32.to_be_bytes()); // 1.5 s
        p[8..12].copy_from_slice(&0x0000_4000u32.to_be_bytes()); // 0.25 s
        p[12..16].copy_from_slice(b"GPS\0");
        p[40..48].copy_from_slice(&unix_to_ntp(1_700_000_000.25).to_be_bytes());
        let h = decode_packet(&p).unwrap();
        assert_eq!((h.li, h.version, h.mode, h.stratum), (1, 4, 4, 2));
        assert_eq!((h.poll, h.precision), (6, -20));
        assert_eq!((h.root_delay, h.root_dispersion), (1.5, 0.25));
        assert_eq!(h.refid_string(), "GPS");
        assert!((h.transmit_time - 1_700_000_000.25).abs() < 1e-6);
        assert_eq!(h.origin_time, 0.0);
        assert!(decode_packet(&p[..47]).is_err());
    }

    #[test]
    fn probe_against_inline_server_and_silence() {
        // A tiny responder: echoes transmit into origin, stratum 3, clock +2 s.
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut b = [0u8; 512];
            srv.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (n, from) = srv.recv_from(&mut b).unwrap();
            assert_eq!(n, 48);
            let now = unix_to_ntp(unix_now() + 2.0);
            let mut r = [0u8; 48];
            r[0] = (4 << 3) | 4;
            r[1] = 3;
            r[24..32].copy_from_slice(&b[40..48]);
            r[32..40].copy_from_slice(&now.to_be_bytes());
            r[40..48].copy_from_slice(&now.to_be_bytes());
            srv.send_to(&r, from).unwrap();
        });
        let rep = sntp_probe(addr, 4, Duration::from_secs(3)).unwrap();
        h.join().unwrap();
        assert!(rep.origin_matches);
        assert_eq!((rep.stratum, rep.mode, rep.version), (3, 4, 4));
        assert!((rep.offset - 2.0).abs() < 0.05, "offset {}", rep.offset);
        assert!(rep.delay >= -0.001 && rep.delay < 0.5);

        // Nobody listening: bounded error, and send_raw gives None.
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let qaddr = quiet.local_addr().unwrap();
        let t = Instant::now();
        assert!(sntp_probe(qaddr, 4, Duration::from_millis(200)).is_err());
        assert!(send_raw(qaddr, &[0u8; 48], Duration::from_millis(200)).is_none());
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
