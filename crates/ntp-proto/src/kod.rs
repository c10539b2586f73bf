//! Kiss-o'-Death (RFC 5905 §7.4): codes and the replies that carry them.
//!
//! A KoD reply is a server packet with stratum 0 and the kiss code in the
//! reference id. Clients back off on RATE and stop on DENY/RSTR. KoD replies
//! are never larger than the request that caused them.

use crate::packet::{Header, LeapIndicator, Mode, ReferenceId, HEADER_LEN};
use crate::server::{ClientRequest, DropReason};
use crate::timestamp::{NtpShort, NtpTimestamp};

/// The kiss codes a server sends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KissCode {
    /// Access denied by policy; the client should stop.
    Deny,
    /// Access restricted; the client should stop.
    Restricted,
    /// Rate exceeded; the client should increase its poll interval.
    Rate,
    /// NTS NAK (RFC 8915 §5.7): the cookie was not accepted; an NTS client
    /// renews its key exchange.
    NtsNak,
}

impl KissCode {
    /// The four ASCII bytes carried in the reference id.
    pub fn reference_id(self) -> ReferenceId {
        ReferenceId(match self {
            KissCode::Deny => *b"DENY",
            KissCode::Restricted => *b"RSTR",
            KissCode::Rate => *b"RATE",
            KissCode::NtsNak => *b"NTSN",
        })
    }

    /// Recognises a kiss code in a received reference id.
    pub fn from_reference_id(id: ReferenceId) -> Option<KissCode> {
        match &id.0 {
            b"DENY" => Some(KissCode::Deny),
            b"RSTR" => Some(KissCode::Restricted),
            b"RATE" => Some(KissCode::Rate),
            b"NTSN" => Some(KissCode::NtsNak),
            _ => None,
        }
    }
}

/// Writes a KoD reply to `request` into `out[..48]` and returns its length.
/// The origin timestamp echoes the request (so the client accepts it as the
/// answer to its request); receive and transmit carry `now`.
pub fn write_kod(
    request: &ClientRequest<'_>,
    code: KissCode,
    precision: i8,
    now: NtpTimestamp,
    out: &mut [u8],
) -> Result<usize, DropReason> {
    let header = Header {
        leap: LeapIndicator::Unknown,
        version: request.header.version,
        mode: Mode::Server,
        stratum: 0,
        poll: request.header.poll,
        precision,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: code.reference_id(),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::from_be_bytes(request.transmit_bytes),
        receive_time: now,
        transmit_time: now,
    };
    header.encode(out).ok_or(DropReason::ReplyTooLarge)?;
    Ok(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::parse_request;

    #[test]
    fn kod_reply_carries_code_and_echoes_origin() {
        let mut req = [0u8; 48];
        req[0] = 0x23;
        req[40..48].copy_from_slice(&42u64.to_be_bytes());
        let parsed = parse_request(&req, 5000).unwrap();
        for code in [KissCode::Deny, KissCode::Restricted, KissCode::Rate, KissCode::NtsNak] {
            let mut out = [0u8; 48];
            let n = write_kod(&parsed, code, -20, NtpTimestamp::from_bits(7), &mut out).unwrap();
            let h = Header::decode(&out[..n]).unwrap();
            assert!(h.is_kiss_of_death());
            assert_eq!(KissCode::from_reference_id(h.reference_id), Some(code));
            assert_eq!(h.origin_time.to_bits(), 42);
        }
        assert_eq!(KissCode::from_reference_id(ReferenceId::from_ascii("LOCL")), None);
    }
}
