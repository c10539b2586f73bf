//! Validation of a reply to one of our requests: is it the answer to the
//! request we sent (origin = our cookie), is it a server that has time to
//! give (not unsynchronised), are its timestamps sane? Kiss-o'-Death replies
//! are recognised here, after the origin check (an off-path attacker who
//! cannot see our cookie cannot make us back off or stop).

use super::MAX_DISPERSION;
use crate::kod::KissCode;
use crate::nts::ef::NtsError;
use crate::packet::{Header, LeapIndicator, Mode, ParseError, ReferenceId};
use crate::timestamp::NtpTimestamp;
use core::fmt;

/// Why a datagram was not accepted as a sample.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reject {
    /// Not an NTP packet.
    Parse(ParseError),
    /// Not a server (mode 4) packet.
    NotServerMode(Mode),
    /// Version 0 or above 4.
    BadVersion(u8),
    /// No request is outstanding (already answered, timed out, or never sent).
    NoRequestOutstanding,
    /// The origin timestamp is not our cookie: stale, duplicate or spoofed.
    OriginMismatch,
    /// A Kiss-o'-Death with a code we act on (the poller has acted).
    Kiss(KissCode),
    /// Stratum 0 with a reference id that is not a kiss code we act on.
    UnknownKiss(ReferenceId),
    /// Leap indicator 3: the server says it is not synchronised.
    Unsynchronised,
    /// Stratum 16 or above: the server is not synchronised.
    StratumTooHigh(u8),
    /// Receive or transmit timestamp is zero.
    ZeroTimestamp,
    /// The server's transmit time is before its receive time.
    ServerTimesReversed,
    /// The round trip came out negative by more than the clocks' precision.
    NegativeDelay,
    /// Round-trip delay above 16 s.
    ExcessiveDelay,
    /// The server's root distance (root delay / 2 + root dispersion) is
    /// above 16 s.
    ExcessiveRootDistance,
    /// The source was demobilised by a DENY or RSTR kiss code.
    Demobilised,
    /// A source with a key: no MAC, or one that does not verify.
    Unauthenticated,
    /// An NTS source: the reply failed NTS verification.
    Nts(NtsError),
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Parse(e) => write!(f, "not an NTP packet: {e}"),
            Reject::NotServerMode(m) => write!(f, "not a server reply (mode {})", m.to_bits()),
            Reject::BadVersion(v) => write!(f, "unsupported version {v}"),
            Reject::NoRequestOutstanding => f.write_str("no request outstanding"),
            Reject::OriginMismatch => f.write_str("origin timestamp does not match our request"),
            Reject::Kiss(c) => write!(f, "kiss-o'-death {:?}", c),
            Reject::UnknownKiss(id) => write!(f, "stratum 0 reply with reference id {id:?}"),
            Reject::Unsynchronised => f.write_str("server is unsynchronised (leap 3)"),
            Reject::StratumTooHigh(s) => write!(f, "server stratum {s} is unsynchronised"),
            Reject::ZeroTimestamp => f.write_str("zero receive or transmit timestamp"),
            Reject::ServerTimesReversed => f.write_str("server transmit time before its receive time"),
            Reject::NegativeDelay => f.write_str("negative round-trip delay"),
            Reject::ExcessiveDelay => f.write_str("round-trip delay above 16 s"),
            Reject::ExcessiveRootDistance => f.write_str("server root distance above 16 s"),
            Reject::Demobilised => f.write_str("source demobilised by kiss-o'-death"),
            Reject::Unauthenticated => f.write_str("no valid MAC"),
            Reject::Nts(e) => write!(f, "NTS verification failed ({e:?})"),
        }
    }
}

/// A reply that passed validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Validated {
    /// The reply header.
    pub header: Header,
    /// Server minus client, seconds.
    pub offset: f64,
    /// Round-trip delay, seconds (clamped at zero).
    pub delay: f64,
}

/// Validates `reply` as the answer to the request sent with transmit
/// `cookie` at local time `t1` and received at local time `t4`; `precision`
/// is the local clock's (log2 s), used to tolerate tiny negative delays.
pub fn validate_reply(
    reply: &[u8],
    cookie: NtpTimestamp,
    t1: NtpTimestamp,
    t4: NtpTimestamp,
    precision: i8,
) -> Result<Validated, Reject> {
    validate(reply, cookie, Exchange { t1, t2: None, t4 }, precision)
}

/// The local times of an interleaved exchange (RFC 9769): the previous
/// request left at `t1` and its reply arrived at `t4`; the server received
/// that request at `t2` (from the previous reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// When the request left (local).
    pub t1: NtpTimestamp,
    /// When the server received it, when known from an earlier reply
    /// (interleaved); `None`: from this reply (basic).
    pub t2: Option<NtpTimestamp>,
    /// When the reply arrived (local).
    pub t4: NtpTimestamp,
}

/// Validates `reply` as an interleaved answer: its origin is our request's
/// receive field (`previous.t4`), its transmit timestamp is when the server
/// sent its reply to `previous` (T3), which completes that exchange.
pub fn validate_interleaved(reply: &[u8], previous: Exchange, precision: i8) -> Result<Validated, Reject> {
    validate(reply, previous.t4, previous, precision)
}

fn validate(reply: &[u8], origin: NtpTimestamp, exchange: Exchange, precision: i8) -> Result<Validated, Reject> {
    let Exchange { t1, t4, .. } = exchange;
    let cookie = origin;
    let header = Header::decode(reply).map_err(Reject::Parse)?;
    if header.mode != Mode::Server {
        return Err(Reject::NotServerMode(header.mode));
    }
    if header.version == 0 || header.version > 4 {
        return Err(Reject::BadVersion(header.version));
    }
    if header.origin_time != cookie {
        return Err(Reject::OriginMismatch);
    }
    if header.stratum == 0 {
        return Err(match KissCode::from_reference_id(header.reference_id) {
            Some(code) => Reject::Kiss(code),
            None => Reject::UnknownKiss(header.reference_id),
        });
    }
    if header.leap == LeapIndicator::Unknown {
        return Err(Reject::Unsynchronised);
    }
    if header.stratum >= 16 {
        return Err(Reject::StratumTooHigh(header.stratum));
    }
    if header.receive_time.is_zero() || header.transmit_time.is_zero() {
        return Err(Reject::ZeroTimestamp);
    }
    let t2 = exchange.t2.unwrap_or(header.receive_time);
    let t3 = header.transmit_time;
    let server_time = t3.since(t2).to_seconds();
    if server_time < 0.0 {
        return Err(Reject::ServerTimesReversed);
    }
    let raw_delay = t4.since(t1).to_seconds() - server_time;
    let tolerance =
        2.0 * 2f64.powi(i32::from(precision.clamp(-32, 0))) + 2f64.powi(i32::from(header.precision.clamp(-32, 0)));
    if raw_delay < -tolerance {
        return Err(Reject::NegativeDelay);
    }
    if raw_delay > MAX_DISPERSION {
        return Err(Reject::ExcessiveDelay);
    }
    if header.root_delay.to_seconds() / 2.0 + header.root_dispersion.to_seconds() > MAX_DISPERSION {
        return Err(Reject::ExcessiveRootDistance);
    }
    let offset = (t2.since(t1).to_seconds() + t3.since(t4).to_seconds()) / 2.0;
    Ok(Validated { header, offset, delay: raw_delay.max(0.0) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HEADER_LEN;
    use crate::NtpShort;

    const COOKIE: NtpTimestamp = NtpTimestamp::from_bits(0xC00C_1E00_0000_0001);

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_bits(((1_000_000.0 + s) * 4_294_967_296.0) as u64)
    }

    fn reply(edit: impl FnOnce(&mut Header)) -> [u8; HEADER_LEN] {
        let mut h = Header {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: 6,
            precision: -20,
            root_delay: NtpShort::from_seconds(0.01),
            root_dispersion: NtpShort::from_seconds(0.01),
            reference_id: ReferenceId([10, 0, 0, 1]),
            reference_time: ts(0.0),
            origin_time: COOKIE,
            receive_time: ts(10.5),
            transmit_time: ts(10.501),
        };
        edit(&mut h);
        let mut b = [0u8; HEADER_LEN];
        h.encode(&mut b).unwrap();
        b
    }

    fn check(b: &[u8]) -> Result<Validated, Reject> {
        validate_reply(b, COOKIE, ts(10.0), ts(10.021), -20)
    }

    #[test]
    fn good_reply_gives_offset_and_delay() {
        let v = check(&reply(|_| {})).unwrap();
        assert!((v.offset - 0.49).abs() < 1e-6, "{}", v.offset);
        assert!((v.delay - 0.020).abs() < 1e-6, "{}", v.delay);
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(check(&reply(|h| h.origin_time = ts(1.0))), Err(Reject::OriginMismatch));
        assert_eq!(check(&reply(|h| h.mode = Mode::Client)), Err(Reject::NotServerMode(Mode::Client)));
        assert_eq!(check(&reply(|h| h.version = 0)), Err(Reject::BadVersion(0)));
        assert_eq!(check(&reply(|h| h.leap = LeapIndicator::Unknown)), Err(Reject::Unsynchronised));
        assert_eq!(check(&reply(|h| h.stratum = 16)), Err(Reject::StratumTooHigh(16)));
        assert_eq!(
            check(&reply(|h| {
                h.stratum = 0;
                h.reference_id = ReferenceId::from_ascii("INIT")
            })),
            Err(Reject::UnknownKiss(ReferenceId::from_ascii("INIT")))
        );
        assert_eq!(
            check(&reply(|h| {
                h.stratum = 0;
                h.reference_id = ReferenceId::from_ascii("RATE")
            })),
            Err(Reject::Kiss(KissCode::Rate))
        );
        assert_eq!(check(&reply(|h| h.receive_time = NtpTimestamp::ZERO)), Err(Reject::ZeroTimestamp));
        assert_eq!(check(&reply(|h| h.transmit_time = ts(10.4))), Err(Reject::ServerTimesReversed));
        assert_eq!(check(&reply(|h| h.transmit_time = ts(10.6))), Err(Reject::NegativeDelay));
        assert_eq!(
            check(&reply(|h| h.root_dispersion = NtpShort::from_seconds(17.0))),
            Err(Reject::ExcessiveRootDistance)
        );
        assert!(matches!(check(&[0u8; 10]), Err(Reject::Parse(_))));
    }

    #[test]
    fn kiss_with_wrong_origin_is_an_origin_mismatch() {
        let b = reply(|h| {
            h.stratum = 0;
            h.reference_id = ReferenceId::from_ascii("DENY");
            h.origin_time = ts(3.0);
        });
        assert_eq!(check(&b), Err(Reject::OriginMismatch));
    }
}
