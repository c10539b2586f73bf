//! The few NTP wire details a load generator needs, written here on purpose
//! (no dependency on the daemon's protocol crate, so the generator measures
//! any server the same way): the 48-byte NTPv4 client request, the fields read
//! back from a reply, and NTP ↔ Unix time conversion.

/// Length of an NTP header without extension fields.
pub const HEADER_LEN: usize = 48;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// NTP mode of a client request.
const MODE_CLIENT: u8 = 3;
/// NTP mode of a server reply.
const MODE_SERVER: u8 = 4;

/// A 64-bit NTP timestamp: 32 bits of seconds, 32 bits of fraction.
pub type NtpTimestamp = u64;

/// Converts Unix time in nanoseconds to an NTP timestamp (era 0 wraps like the wire format).
pub fn ntp_from_unix_ns(unix_ns: i64) -> NtpTimestamp {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000) as u64;
    let ntp_secs = (secs + NTP_UNIX_OFFSET) as u64 & 0xFFFF_FFFF;
    let frac = (nanos << 32) / 1_000_000_000;
    (ntp_secs << 32) | frac
}

/// Converts an NTP timestamp to Unix nanoseconds, choosing the NTP era that puts
/// it closest to `pivot_unix_ns` (a local time known to be near it), so era
/// rollover (2036) does not matter.
pub fn unix_ns_from_ntp(ts: NtpTimestamp, pivot_unix_ns: i64) -> i64 {
    let pivot_secs = pivot_unix_ns.div_euclid(1_000_000_000);
    let pivot_ntp_secs = ((pivot_secs + NTP_UNIX_OFFSET) as u64 & 0xFFFF_FFFF) as u32;
    let ts_secs = (ts >> 32) as u32;
    let delta = ts_secs.wrapping_sub(pivot_ntp_secs) as i32 as i64;
    let frac = ts & 0xFFFF_FFFF;
    let nanos = ((frac * 1_000_000_000) >> 32) as i64;
    (pivot_secs + delta) * 1_000_000_000 + nanos
}

/// A client request: LI 0, version 4, mode 3, all fields zero except the
/// transmit timestamp, which the generator uses as the request's identity.
pub fn encode_request(transmit: NtpTimestamp) -> [u8; HEADER_LEN] {
    let mut buf = [0u8; HEADER_LEN];
    write_request(&mut buf, transmit);
    buf
}

/// Writes a client request into `buf` (first byte and transmit timestamp; the
/// rest must already be zero, as in a buffer from [`encode_request`]).
pub fn write_request(buf: &mut [u8; HEADER_LEN], transmit: NtpTimestamp) {
    buf[0] = (4 << 3) | MODE_CLIENT;
    buf[40..48].copy_from_slice(&transmit.to_be_bytes());
}

/// The fields of a server reply the generator looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Leap indicator (3 = unsynchronised).
    pub leap: u8,
    /// Version number.
    pub version: u8,
    /// Stratum (0 = Kiss-o'-Death or unspecified).
    pub stratum: u8,
    /// Origin timestamp: the transmit timestamp of the request it answers.
    pub origin: NtpTimestamp,
    /// Receive timestamp T2 (server clock).
    pub receive: NtpTimestamp,
    /// Transmit timestamp T3 (server clock).
    pub transmit: NtpTimestamp,
}

impl Reply {
    /// Leap 3 or stratum 0: the server is not serving time (or sent a Kiss-o'-Death).
    pub fn unsynchronised(&self) -> bool {
        self.leap == 3 || self.stratum == 0
    }
}

/// Why a datagram is not a usable reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer than 48 bytes.
    Short,
    /// Not mode 4 (server).
    NotServerMode,
    /// Version 0 or above 4.
    BadVersion,
}

/// Reads a reply's fields; never panics, whatever the bytes.
pub fn parse_reply(data: &[u8]) -> Result<Reply, Malformed> {
    let Some(h) = data.get(..HEADER_LEN) else {
        return Err(Malformed::Short);
    };
    let version = (h[0] >> 3) & 7;
    if h[0] & 7 != MODE_SERVER {
        return Err(Malformed::NotServerMode);
    }
    if version == 0 || version > 4 {
        return Err(Malformed::BadVersion);
    }
    let ts = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_be_bytes(b)
    };
    Ok(Reply { leap: h[0] >> 6, version, stratum: h[1], origin: ts(24), receive: ts(32), transmit: ts(40) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = encode_request(0x0102_0304_0506_0708);
        assert_eq!(r.len(), 48);
        assert_eq!(r[0], 0x23, "LI 0, VN 4, mode 3");
        assert!(r[1..40].iter().all(|&b| b == 0));
        assert_eq!(&r[40..48], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn write_request_only_changes_transmit() {
        let mut r = encode_request(1);
        write_request(&mut r, 2);
        assert_eq!(r, encode_request(2));
    }

    #[test]
    fn unix_ntp_round_trip() {
        let now = 1_760_000_000_123_456_789i64;
        let ts = ntp_from_unix_ns(now);
        let back = unix_ns_from_ntp(ts, now);
        assert!((back - now).abs() <= 1, "{back} vs {now}");
        // Known value: the Unix epoch is NTP second 2208988800.
        assert_eq!(ntp_from_unix_ns(0) >> 32, 2_208_988_800);
    }

    #[test]
    fn era_rollover_uses_pivot() {
        // 2036-02-07T06:28:16Z is NTP era 1 second 0.
        let rollover_unix_s = (1i64 << 32) - NTP_UNIX_OFFSET;
        let after = (rollover_unix_s + 5) * 1_000_000_000;
        let before = (rollover_unix_s - 5) * 1_000_000_000;
        let ts = ntp_from_unix_ns(after);
        assert_eq!(ts >> 32, 5);
        assert_eq!(unix_ns_from_ntp(ts, before), after);
        assert_eq!(unix_ns_from_ntp(ntp_from_unix_ns(before), after), before);
    }

    #[test]
    fn parses_reply_fields() {
        let mut d = [0u8; 48];
        d[0] = (4 << 3) | 4; // LI 0, VN 4, mode 4
        d[1] = 2;
        d[24..32].copy_from_slice(&7u64.to_be_bytes());
        d[32..40].copy_from_slice(&8u64.to_be_bytes());
        d[40..48].copy_from_slice(&9u64.to_be_bytes());
        let r = parse_reply(&d).unwrap();
        assert_eq!((r.leap, r.version, r.stratum, r.origin, r.receive, r.transmit), (0, 4, 2, 7, 8, 9));
        assert!(!r.unsynchronised());
        d[0] = (3 << 6) | (4 << 3) | 4;
        assert!(parse_reply(&d).unwrap().unsynchronised());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert_eq!(parse_reply(&[]), Err(Malformed::Short));
        assert_eq!(parse_reply(&[0x24; 47]), Err(Malformed::Short));
        assert_eq!(parse_reply(&encode_request(1)), Err(Malformed::NotServerMode));
        let mut d = [0u8; 48];
        d[0] = 4; // version 0, mode 4
        assert_eq!(parse_reply(&d), Err(Malformed::BadVersion));
        d[0] = (7 << 3) | 4;
        assert_eq!(parse_reply(&d), Err(Malformed::BadVersion));
        // Longer than a header (extension fields, MAC) is fine.
        let mut long = vec![0u8; 120];
        long[0] = (4 << 3) | 4;
        assert!(parse_reply(&long).is_ok());
    }
}
