//! A one-shot client exchange (SNTP, RFC 4330 / RFC 5905 on-wire protocol):
//! build a request, validate the reply against it, compute offset and delay.
//!
//! The request's transmit timestamp is a random cookie chosen by the caller,
//! not the send time (as chrony and ntpd-rs do): it hides the client's clock
//! and makes off-path spoofing harder. The caller keeps the real send time T1.

use crate::packet::{Header, LeapIndicator, Mode, ParseError, HEADER_LEN};
use crate::timestamp::NtpTimestamp;
use core::fmt;

/// Writes a 48-byte client request with the given version and transmit
/// cookie into `out`; returns the length.
pub fn write_request(version: u8, poll: i8, cookie: NtpTimestamp, out: &mut [u8]) -> Option<usize> {
    let header = Header {
        leap: LeapIndicator::Unknown,
        version,
        mode: Mode::Client,
        stratum: 0,
        poll,
        precision: 0,
        root_delay: Default::default(),
        root_dispersion: Default::default(),
        reference_id: Default::default(),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: cookie,
    };
    header.encode(out)?;
    Some(HEADER_LEN)
}

/// Why a reply was not accepted as the answer to our request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyError {
    /// Not an NTP packet.
    Parse(ParseError),
    /// Not a server (mode 4) packet.
    NotServerMode(Mode),
    /// The origin timestamp does not echo our request: stale or spoofed.
    OriginMismatch,
    /// Receive or transmit timestamp is zero.
    ZeroTimestamp,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Parse(e) => write!(f, "not an NTP packet: {e}"),
            ReplyError::NotServerMode(m) => write!(f, "not a server reply (mode {})", m.to_bits()),
            ReplyError::OriginMismatch => f.write_str("origin timestamp does not match our request"),
            ReplyError::ZeroTimestamp => f.write_str("reply has a zero receive or transmit timestamp"),
        }
    }
}

/// A validated reply and what it says about our clock.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// The reply header.
    pub header: Header,
    /// Server minus client, in seconds: ((T2 - T1) + (T3 - T4)) / 2.
    pub offset: f64,
    /// Round-trip delay in seconds: (T4 - T1) - (T3 - T2), not below zero.
    pub delay: f64,
}

/// Validates `reply` as the answer to a request sent with transmit `cookie`
/// at local time `t1`, received at local time `t4`.
pub fn measure(
    reply: &[u8],
    cookie: NtpTimestamp,
    t1: NtpTimestamp,
    t4: NtpTimestamp,
) -> Result<Measurement, ReplyError> {
    let header = Header::decode(reply).map_err(ReplyError::Parse)?;
    if header.mode != Mode::Server {
        return Err(ReplyError::NotServerMode(header.mode));
    }
    if header.origin_time != cookie {
        return Err(ReplyError::OriginMismatch);
    }
    if header.receive_time.is_zero() || header.transmit_time.is_zero() {
        return Err(ReplyError::ZeroTimestamp);
    }
    let t2 = header.receive_time;
    let t3 = header.transmit_time;
    let offset = (t2.since(t1).to_seconds() + t3.since(t4).to_seconds()) / 2.0;
    let delay = (t4.since(t1).to_seconds() - t3.since(t2).to_seconds()).max(0.0);
    Ok(Measurement { header, offset, delay })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{parse_request, write_reply, ServerState};
    use crate::{NtpShort, ReferenceId};

    #[test]
    fn round_trip_against_our_own_server_logic() {
        let mut req = [0u8; 48];
        let cookie = NtpTimestamp::from_bits(0x0123_4567_89AB_CDEF);
        write_request(4, 6, cookie, &mut req).unwrap();
        // Server clock is 0.5 s ahead; 10 ms each way; 1 ms processing.
        let t1 = NtpTimestamp::from_unix(1_900_000_000, 0);
        let t2 = NtpTimestamp::from_unix(1_900_000_000, 510_000_000);
        let t3 = NtpTimestamp::from_unix(1_900_000_000, 511_000_000);
        let t4 = NtpTimestamp::from_unix(1_900_000_000, 21_000_000);
        let state = ServerState {
            leap: LeapIndicator::NoWarning,
            stratum: 2,
            precision: -20,
            reference_id: ReferenceId::from_ascii("GPS"),
            reference_time: t1,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            dispersion_rate: 0.0,
        };
        let parsed = parse_request(&req, 50000).unwrap();
        let mut out = [0u8; 48];
        let n = write_reply(&parsed, t2, &state, &mut out).unwrap().finish(&mut out, t3);
        let m = measure(&out[..n], cookie, t1, t4).unwrap();
        assert!((m.offset - 0.5).abs() < 1e-9, "{}", m.offset);
        assert!((m.delay - 0.020).abs() < 1e-9, "{}", m.delay);
        assert_eq!(m.header.stratum, 2);
    }

    #[test]
    fn rejects_wrong_origin_and_mode() {
        let mut pkt = [0u8; 48];
        pkt[0] = 0x24;
        pkt[24..32].copy_from_slice(&5u64.to_be_bytes());
        pkt[32..40].copy_from_slice(&1u64.to_be_bytes());
        pkt[40..48].copy_from_slice(&1u64.to_be_bytes());
        let z = NtpTimestamp::ZERO;
        assert_eq!(measure(&pkt, NtpTimestamp::from_bits(6), z, z).unwrap_err(), ReplyError::OriginMismatch);
        assert!(measure(&pkt, NtpTimestamp::from_bits(5), z, z).is_ok());
        pkt[0] = 0x23;
        assert_eq!(
            measure(&pkt, NtpTimestamp::from_bits(5), z, z).unwrap_err(),
            ReplyError::NotServerMode(Mode::Client)
        );
        assert!(matches!(measure(&pkt[..20], z, z, z), Err(ReplyError::Parse(_))));
    }
}
