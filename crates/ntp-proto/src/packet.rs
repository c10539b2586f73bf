//! The 48-byte NTP header (RFC 5905 §7.3): decoding and encoding.
//!
//! Decoding is total: any 48 bytes decode to a [`Header`]; whether the values
//! make sense (version, mode) is for the caller's protocol logic to decide.

use crate::timestamp::{NtpShort, NtpTimestamp};
use core::fmt;

/// Length of the fixed NTP header.
pub const HEADER_LEN: usize = 48;

/// Leap indicator (2 bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum LeapIndicator {
    /// No warning.
    NoWarning,
    /// The last minute of the day has 61 seconds.
    Insert,
    /// The last minute of the day has 59 seconds.
    Delete,
    /// Clock unsynchronised (alarm condition).
    Unknown,
}

impl LeapIndicator {
    /// From the two wire bits.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::Insert,
            2 => LeapIndicator::Delete,
            _ => LeapIndicator::Unknown,
        }
    }

    /// The two wire bits.
    pub fn to_bits(self) -> u8 {
        match self {
            LeapIndicator::NoWarning => 0,
            LeapIndicator::Insert => 1,
            LeapIndicator::Delete => 2,
            LeapIndicator::Unknown => 3,
        }
    }
}

/// Association mode (3 bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Mode {
    /// 0: reserved (also NTPv1 requests, which had no mode field).
    Reserved,
    /// 1: symmetric active.
    SymmetricActive,
    /// 2: symmetric passive.
    SymmetricPassive,
    /// 3: client.
    Client,
    /// 4: server.
    Server,
    /// 5: broadcast.
    Broadcast,
    /// 6: NTP control message (ntpq).
    Control,
    /// 7: reserved for private use (ntpdc).
    Private,
}

impl Mode {
    /// From the three wire bits.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    /// The three wire bits.
    pub fn to_bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The 32-bit reference identifier: four ASCII characters for stratum 0/1
/// (kiss codes, reference clock names), an IPv4 address or the first four
/// bytes of the MD5 of an IPv6 address above that.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReferenceId(pub [u8; 4]);

impl ReferenceId {
    /// An ASCII code such as `LOCL`, `GPS`, `RATE` (shorter codes are
    /// zero-padded, longer ones truncated).
    pub fn from_ascii(code: &str) -> Self {
        let mut b = [0u8; 4];
        for (dst, src) in b.iter_mut().zip(code.bytes()) {
            *dst = src;
        }
        ReferenceId(b)
    }

    /// The IPv4 form.
    pub fn from_ipv4(addr: core::net::Ipv4Addr) -> Self {
        ReferenceId(addr.octets())
    }

    /// The four bytes as printable text when they are all ASCII graphic
    /// characters or trailing NULs (a kiss code or clock name).
    pub fn as_ascii(&self) -> Option<&str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(4);
        if end == 0 || self.0[end..].iter().any(|&b| b != 0) {
            return None;
        }
        let text = core::str::from_utf8(&self.0[..end]).ok()?;
        text.bytes().all(|b| b.is_ascii_graphic()).then_some(text)
    }
}

impl fmt::Debug for ReferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_ascii() {
            Some(s) => write!(f, "ReferenceId({s:?})"),
            None => write!(f, "ReferenceId({:?})", self.0),
        }
    }
}

/// Why a datagram could not be read as an NTP packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParseError {
    /// Fewer than 48 bytes.
    TooShort,
    /// Bytes after the header are not a valid sequence of extension fields
    /// and/or a MAC (zero, unaligned or overlong lengths, stray bytes).
    MalformedExtension,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooShort => f.write_str("packet shorter than the 48-byte NTP header"),
            ParseError::MalformedExtension => f.write_str("malformed extension fields or MAC after the header"),
        }
    }
}

/// The decoded 48-byte header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// Leap indicator.
    pub leap: LeapIndicator,
    /// Version number (3 bits; 1–4 are meaningful).
    pub version: u8,
    /// Association mode.
    pub mode: Mode,
    /// Stratum (0 = unspecified / kiss-o'-death, 1 = primary, 2–15 secondary).
    pub stratum: u8,
    /// log2 of the poll interval in seconds.
    pub poll: i8,
    /// log2 of the clock precision in seconds.
    pub precision: i8,
    /// Total round-trip delay to the reference clock.
    pub root_delay: NtpShort,
    /// Total dispersion to the reference clock.
    pub root_dispersion: NtpShort,
    /// Reference identifier.
    pub reference_id: ReferenceId,
    /// When the system clock was last set or corrected.
    pub reference_time: NtpTimestamp,
    /// T1 as echoed by a server (the client's transmit time).
    pub origin_time: NtpTimestamp,
    /// T2: when the request arrived at the server.
    pub receive_time: NtpTimestamp,
    /// T3 (server) or T1 (client): when this packet left.
    pub transmit_time: NtpTimestamp,
}

fn ts_at(b: &[u8; HEADER_LEN], at: usize) -> NtpTimestamp {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    NtpTimestamp::from_be_bytes(raw)
}

fn u32_at(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Header {
    /// Byte offset of the transmit timestamp, for callers that stamp a
    /// prepared reply at the last moment.
    pub const TRANSMIT_OFFSET: usize = 40;
    /// Byte offset of the origin timestamp.
    pub const ORIGIN_OFFSET: usize = 24;

    /// Decodes the first 48 bytes of `data`.
    pub fn decode(data: &[u8]) -> Result<Header, ParseError> {
        let b: &[u8; HEADER_LEN] =
            data.get(..HEADER_LEN).and_then(|s| s.try_into().ok()).ok_or(ParseError::TooShort)?;
        Ok(Header {
            leap: LeapIndicator::from_bits(b[0] >> 6),
            version: (b[0] >> 3) & 7,
            mode: Mode::from_bits(b[0]),
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: NtpShort::from_bits(u32_at(b, 4)),
            root_dispersion: NtpShort::from_bits(u32_at(b, 8)),
            reference_id: ReferenceId([b[12], b[13], b[14], b[15]]),
            reference_time: ts_at(b, 16),
            origin_time: ts_at(b, 24),
            receive_time: ts_at(b, 32),
            transmit_time: ts_at(b, 40),
        })
    }

    /// Encodes into `out[..48]`. Returns `None` if `out` is shorter than 48.
    pub fn encode(&self, out: &mut [u8]) -> Option<()> {
        let b: &mut [u8; HEADER_LEN] = out.get_mut(..HEADER_LEN)?.try_into().ok()?;
        b[0] = (self.leap.to_bits() << 6) | ((self.version & 7) << 3) | self.mode.to_bits();
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id.0);
        b[16..24].copy_from_slice(&self.reference_time.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin_time.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive_time.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit_time.to_be_bytes());
        Some(())
    }

    /// True when this is a Kiss-o'-Death packet (stratum 0 from a server).
    pub fn is_kiss_of_death(&self) -> bool {
        self.stratum == 0 && self.mode == Mode::Server
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_a_known_client_request() {
        // ntpdate-style v4 client request: LI 0, VN 4, mode 3, poll 6, precision -20.
        let mut b = [0u8; 48];
        b[0] = 0x23;
        b[2] = 6;
        b[3] = 0xEC;
        b[40..48].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        let h = Header::decode(&b).unwrap();
        assert_eq!(h.leap, LeapIndicator::NoWarning);
        assert_eq!(h.version, 4);
        assert_eq!(h.mode, Mode::Client);
        assert_eq!(h.poll, 6);
        assert_eq!(h.precision, -20);
        assert_eq!(h.transmit_time.to_bits(), 0x1122_3344_5566_7788);
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        for n in 0..48 {
            assert_eq!(Header::decode(&vec![0u8; n]), Err(ParseError::TooShort));
        }
        assert!(Header { ..Header::decode(&[0u8; 48]).unwrap() }.encode(&mut [0u8; 47]).is_none());
    }

    #[test]
    fn reference_id_ascii() {
        assert_eq!(ReferenceId::from_ascii("GPS").as_ascii(), Some("GPS"));
        assert_eq!(ReferenceId::from_ascii("RATE").0, *b"RATE");
        assert_eq!(ReferenceId([127, 0, 0, 1]).as_ascii(), None);
        assert_eq!(ReferenceId([0, 0, 0, 0]).as_ascii(), None);
    }

    proptest! {
        #[test]
        fn encode_decode_is_identity_on_bytes(bytes in proptest::array::uniform32(any::<u8>()), tail in proptest::array::uniform16(any::<u8>())) {
            let mut b = [0u8; 48];
            b[..32].copy_from_slice(&bytes);
            b[32..].copy_from_slice(&tail);
            let h = Header::decode(&b).unwrap();
            let mut out = [0u8; 48];
            h.encode(&mut out).unwrap();
            prop_assert_eq!(out, b);
        }
    }
}
