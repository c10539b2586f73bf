//! The one check of the MAC that trails a packet (RFC 5905 §7.3, RFC 8573),
//! used by the server on requests and by the client on replies: find the
//! trailing key id and digest, look the key up, refuse crypto-NAKs, and
//! compare the digest in constant time.

use super::SymmetricKey;
use crate::extension::Trailer;
use crate::packet::Header;

/// What the MAC at the end of a packet says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacCheck {
    /// The packet carries no MAC.
    Absent,
    /// A MAC that verifies with the key `key_id`; a reply to this packet is
    /// protected with the same key and digest length.
    Valid {
        /// The key id the packet names.
        key_id: u32,
        /// The length of its digest, bytes.
        digest_len: usize,
    },
    /// A MAC that does not verify: an unknown key, a crypto-NAK, or a wrong
    /// digest.
    Invalid,
}

impl MacCheck {
    /// True for [`MacCheck::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, MacCheck::Valid { .. })
    }
}

/// Checks the MAC of `packet`, whose header and extension fields were parsed
/// into `trailer`, with the key `key` gives for the packet's key id.
pub fn check_mac<'k>(
    packet: &[u8],
    trailer: &Trailer<'_>,
    key: impl FnOnce(u32) -> Option<&'k SymmetricKey>,
) -> MacCheck {
    let Some(mac) = trailer.mac() else { return MacCheck::Absent };
    if mac.is_crypto_nak() {
        return MacCheck::Invalid;
    }
    let Some(covered) = packet.len().checked_sub(4 + mac.digest.len()).and_then(|end| packet.get(..end)) else {
        return MacCheck::Invalid;
    };
    match key(mac.key_id) {
        Some(k) if k.id() == mac.key_id && k.verify(covered, mac.digest) => {
            MacCheck::Valid { key_id: mac.key_id, digest_len: mac.digest.len() }
        }
        _ => MacCheck::Invalid,
    }
}

/// [`check_mac`] on a whole packet: parses its header and trailer first (a
/// packet that does not parse has no valid MAC).
pub fn check_packet_mac<'k>(packet: &[u8], key: impl FnOnce(u32) -> Option<&'k SymmetricKey>) -> MacCheck {
    let Ok(header) = Header::decode(packet) else { return MacCheck::Invalid };
    match Trailer::parse(packet, header.version) {
        Ok(trailer) => check_mac(packet, &trailer, key),
        Err(_) => MacCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyType;

    fn packet_with_mac(key: &SymmetricKey) -> Vec<u8> {
        let mut buf = [0u8; 128];
        buf[0] = 0x23;
        let n = key.append_mac(&mut buf, 48, key.packet_digest_len(4)).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn valid_absent_and_every_kind_of_invalid() {
        let key = SymmetricKey::new(5, KeyType::Aes128, vec![3; 16]).unwrap();
        let other = SymmetricKey::new(6, KeyType::Aes128, vec![3; 16]).unwrap();
        let p = packet_with_mac(&key);
        assert_eq!(check_packet_mac(&p, |id| (id == 5).then_some(&key)), MacCheck::Valid { key_id: 5, digest_len: 16 });
        assert_eq!(check_packet_mac(&p[..48], |_| Some(&key)), MacCheck::Absent);
        assert_eq!(check_packet_mac(&p, |_| None), MacCheck::Invalid, "unknown key");
        // A lookup that hands back a key with another id never verifies.
        assert_eq!(check_packet_mac(&p, |_| Some(&other)), MacCheck::Invalid);
        let mut tampered = p.clone();
        tampered[20] ^= 1;
        assert_eq!(check_packet_mac(&tampered, |_| Some(&key)), MacCheck::Invalid);
        // A crypto-NAK (key id 0, no digest) is never a valid MAC.
        let mut nak = p[..48].to_vec();
        nak.extend([0, 0, 0, 0]);
        assert_eq!(check_packet_mac(&nak, |_| Some(&key)), MacCheck::Invalid);
        assert_eq!(check_packet_mac(&[1, 2, 3], |_| Some(&key)), MacCheck::Invalid);
    }
}
