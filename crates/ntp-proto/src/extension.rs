//! What follows the 48-byte header: RFC 7822 extension fields and the
//! RFC 5905 MAC (key identifier plus digest).
//!
//! The layout rules, which decide what is "malformed":
//! - Everything after the header is a multiple of 4 bytes.
//! - NTPv4: a sequence of extension fields, each with a 16-bit type, a 16-bit
//!   total length that is a multiple of 4, at least 16 and within the packet,
//!   optionally followed by a MAC of 20 or 24 bytes (or the 4-byte crypto-NAK).
//!   A remainder of 4..=24 bytes is read as the MAC, as chrony and ntpd do
//!   (RFC 7822 §7.5: the last extension field before no MAC is at least 28).
//! - NTPv1–v3 have no extension fields: only an optional MAC of 20..=68 bytes
//!   (key id plus a 16..=64 byte digest).
//!
//! Parsing validates the whole trailer once and then hands out borrowed
//! views, so the packet path never allocates.

use crate::packet::{ParseError, HEADER_LEN};

/// Smallest legal extension field (RFC 7822).
pub const MIN_FIELD_LEN: usize = 16;
/// Longest MAC read in an NTPv4 packet: key id + 20-byte digest.
pub const MAX_V4_MAC_LEN: usize = 24;
/// Longest MAC in NTPv3 and older: key id + 64-byte digest (SHA-512).
pub const MAX_LEGACY_MAC_LEN: usize = 68;
/// A crypto-NAK: a MAC that is a zero key id only.
pub const CRYPTO_NAK_LEN: usize = 4;

/// One extension field, borrowed from the packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtensionField<'a> {
    /// The field type.
    pub field_type: u16,
    /// The field value (excluding the 4-byte type/length header, including
    /// any padding the sender added).
    pub value: &'a [u8],
}

/// The trailing message authentication code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mac<'a> {
    /// Key identifier.
    pub key_id: u32,
    /// Digest bytes (empty for a crypto-NAK).
    pub digest: &'a [u8],
}

impl Mac<'_> {
    /// True for the 4-byte crypto-NAK.
    pub fn is_crypto_nak(&self) -> bool {
        self.digest.is_empty()
    }
}

/// The validated region after the header.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Trailer<'a> {
    fields: &'a [u8],
    mac: Option<Mac<'a>>,
}

impl<'a> Trailer<'a> {
    /// Validates `packet[48..]` for a packet of the given version.
    pub fn parse(packet: &'a [u8], version: u8) -> Result<Trailer<'a>, ParseError> {
        let rest = packet.get(HEADER_LEN..).ok_or(ParseError::TooShort)?;
        if rest.len() % 4 != 0 {
            return Err(ParseError::MalformedExtension);
        }
        if rest.is_empty() {
            return Ok(Trailer::default());
        }
        if version < 4 {
            return match rest.len() {
                CRYPTO_NAK_LEN | 20..=MAX_LEGACY_MAC_LEN => Ok(Trailer { fields: &[], mac: Some(split_mac(rest)) }),
                _ => Err(ParseError::MalformedExtension),
            };
        }
        let mut at = 0;
        while at < rest.len() {
            let remaining = rest.len() - at;
            if remaining <= MAX_V4_MAC_LEN {
                return Ok(Trailer { fields: &rest[..at], mac: Some(split_mac(&rest[at..])) });
            }
            let len = usize::from(u16::from_be_bytes([rest[at + 2], rest[at + 3]]));
            if len < MIN_FIELD_LEN || len % 4 != 0 || len > remaining {
                return Err(ParseError::MalformedExtension);
            }
            at += len;
        }
        Ok(Trailer { fields: rest, mac: None })
    }

    /// The extension fields, in order.
    pub fn fields(&self) -> ExtensionFields<'a> {
        ExtensionFields { rest: self.fields }
    }

    /// True when there is at least one extension field.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The trailing MAC, if any.
    pub fn mac(&self) -> Option<Mac<'a>> {
        self.mac
    }
}

fn split_mac(bytes: &[u8]) -> Mac<'_> {
    Mac { key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]), digest: &bytes[4..] }
}

/// Iterator over already-validated extension fields.
#[derive(Clone, Debug)]
pub struct ExtensionFields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ExtensionFields<'a> {
    type Item = ExtensionField<'a>;

    fn next(&mut self) -> Option<ExtensionField<'a>> {
        if self.rest.len() < 4 {
            return None;
        }
        let field_type = u16::from_be_bytes([self.rest[0], self.rest[1]]);
        let len = usize::from(u16::from_be_bytes([self.rest[2], self.rest[3]]));
        // Trailer::parse validated the layout; stay total anyway.
        let len = len.clamp(4, self.rest.len());
        let value = &self.rest[4..len];
        self.rest = &self.rest[len..];
        Some(ExtensionField { field_type, value })
    }
}

/// Appends one extension field (type, value, zero padding to a multiple of 4
/// and at least 16 bytes) to `out` at `at`. Returns the new end, or `None`
/// when it does not fit or the value is too long for the 16-bit length.
pub fn write_field(out: &mut [u8], at: usize, field_type: u16, value: &[u8]) -> Option<usize> {
    let len = (4 + value.len()).div_ceil(4).max(MIN_FIELD_LEN / 4) * 4;
    let len16 = u16::try_from(len).ok()?;
    let dst = out.get_mut(at..at.checked_add(len)?)?;
    dst.fill(0);
    dst[..2].copy_from_slice(&field_type.to_be_bytes());
    dst[2..4].copy_from_slice(&len16.to_be_bytes());
    dst[4..4 + value.len()].copy_from_slice(value);
    Some(at + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet_with(trailer: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 0x23;
        p.extend_from_slice(trailer);
        p
    }

    fn field(ty: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0xAB; len];
        f[..2].copy_from_slice(&ty.to_be_bytes());
        f[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        f
    }

    #[test]
    fn plain_header_has_no_trailer() {
        let p = packet_with(&[]);
        let t = Trailer::parse(&p, 4).unwrap();
        assert!(!t.has_fields());
        assert!(t.mac().is_none());
    }

    #[test]
    fn fields_then_mac() {
        let mut tr = field(0x0104, 36);
        tr.extend(field(0x0204, 104));
        tr.extend([0, 0, 0, 7]);
        tr.extend([0xCC; 16]);
        let p = packet_with(&tr);
        let t = Trailer::parse(&p, 4).unwrap();
        let types: Vec<u16> = t.fields().map(|f| f.field_type).collect();
        assert_eq!(types, vec![0x0104, 0x0204]);
        assert_eq!(t.fields().next().unwrap().value.len(), 32);
        let mac = t.mac().unwrap();
        assert_eq!(mac.key_id, 7);
        assert_eq!(mac.digest.len(), 16);
    }

    #[test]
    fn malformed_lengths_are_rejected() {
        // zero length, unaligned length, too short, overlong, stray bytes
        for tr in [
            field(1, 28).into_iter().enumerate().map(|(i, b)| if i == 3 { 0 } else { b }).collect::<Vec<_>>(),
            {
                let mut f = field(1, 32);
                f[3] = 30;
                f
            },
            {
                let mut f = field(1, 32);
                f[3] = 12;
                f
            },
            {
                let mut f = field(1, 32);
                f[2] = 1;
                f
            },
            vec![0u8; 30],
        ] {
            let p = packet_with(&tr);
            assert_eq!(Trailer::parse(&p, 4), Err(ParseError::MalformedExtension), "{tr:?}");
        }
    }

    #[test]
    fn legacy_versions_take_only_a_mac() {
        let p = packet_with(&[0u8; 20]);
        assert!(Trailer::parse(&p, 3).unwrap().mac().is_some());
        let p = packet_with(&[0u8; 36]); // SHA-256 MAC in NTPv3
        assert_eq!(Trailer::parse(&p, 3).unwrap().mac().unwrap().digest.len(), 32);
        let p = packet_with(&field(1, 80));
        assert_eq!(Trailer::parse(&p, 3), Err(ParseError::MalformedExtension));
    }

    #[test]
    fn write_field_pads_to_minimum_and_round_trips() {
        let mut buf = vec![0u8; 128];
        let end = write_field(&mut buf, HEADER_LEN, 0x0104, &[1, 2, 3]).unwrap();
        assert_eq!(end, HEADER_LEN + 16);
        let end = write_field(&mut buf, end, 0x0204, &[9; 33]).unwrap();
        assert_eq!(end, HEADER_LEN + 16 + 40);
        let t = Trailer::parse(&buf[..end], 4).unwrap();
        let f: Vec<_> = t.fields().collect();
        assert_eq!(f.len(), 2);
        assert_eq!(&f[0].value[..3], &[1, 2, 3]);
        assert!(write_field(&mut buf, 120, 1, &[0; 40]).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_fields_stay_in_bounds(data in proptest::collection::vec(any::<u8>(), 0..600), version in 0u8..8) {
            if let Ok(t) = Trailer::parse(&data, version) {
                let total: usize = t.fields().map(|f| f.value.len() + 4).sum();
                prop_assert!(total + HEADER_LEN <= data.len());
                for f in t.fields() {
                    prop_assert!(f.value.len() + 4 >= MIN_FIELD_LEN);
                }
            }
        }
    }
}
