//! Symmetric-key authentication (RFC 5905 MAC, RFC 8573 AES-CMAC): keys and
//! the MAC that trails a packet.
//!
//! - [`keyfile`]: the chrony key-file format.
//! - [`mac`]: the one check of a packet's MAC, for requests (server side)
//!   and replies (client side) alike.
//!
//! MAC algorithms: MD5, SHA1, SHA256, SHA384, SHA512 as the legacy
//! `H(key || packet)` construction ntpd and chrony use, and AES128/AES256
//! CMAC (RFC 8573, recommended). Digests longer than 20 bytes are truncated
//! to 20 in NTPv4 packets (a longer trailer would read as an extension
//! field), as chrony does; verification accepts any truncation of at least
//! 16 bytes and compares in constant time. Nothing here allocates per packet.

use aes::{Aes128, Aes256};
use cmac::Cmac;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use core::fmt;

pub mod keyfile;
pub mod mac;

pub use keyfile::{decode_secret, parse_keyfile, KeyFileError};
pub use mac::{check_mac, check_packet_mac, MacCheck};

/// Longest digest any algorithm produces (SHA-512).
pub const MAX_DIGEST: usize = 64;
/// Longest digest carried in an NTPv4 packet.
pub const MAX_V4_DIGEST: usize = 20;
/// Shortest digest accepted.
pub const MIN_DIGEST: usize = 16;

/// A MAC algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// MD5(key || packet), 16 bytes.
    Md5,
    /// SHA1(key || packet), 20 bytes.
    Sha1,
    /// SHA256(key || packet), 32 bytes.
    Sha256,
    /// SHA384(key || packet), 48 bytes.
    Sha384,
    /// SHA512(key || packet), 64 bytes.
    Sha512,
    /// AES-128-CMAC, 16 bytes (key of 16 bytes).
    Aes128,
    /// AES-256-CMAC, 16 bytes (key of 32 bytes).
    Aes256,
}

impl KeyType {
    /// Every type, for help texts.
    pub const ALL: [KeyType; 7] = [
        KeyType::Md5,
        KeyType::Sha1,
        KeyType::Sha256,
        KeyType::Sha384,
        KeyType::Sha512,
        KeyType::Aes128,
        KeyType::Aes256,
    ];

    /// The name used in key files (`MD5`, `SHA256`, `AES128`, ...).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Sha256 => "SHA256",
            KeyType::Sha384 => "SHA384",
            KeyType::Sha512 => "SHA512",
            KeyType::Aes128 => "AES128",
            KeyType::Aes256 => "AES256",
        }
    }

    /// Parses a type name, case-insensitively (`M` is ntpd's MD5).
    pub fn parse(name: &str) -> Option<KeyType> {
        let up = name.to_ascii_uppercase();
        Some(match up.as_str() {
            "MD5" | "M" => KeyType::Md5,
            "SHA1" | "SHA-1" => KeyType::Sha1,
            "SHA256" | "SHA-256" => KeyType::Sha256,
            "SHA384" | "SHA-384" => KeyType::Sha384,
            "SHA512" | "SHA-512" => KeyType::Sha512,
            "AES128" | "AES-128" | "AES128CMAC" => KeyType::Aes128,
            "AES256" | "AES-256" | "AES256CMAC" => KeyType::Aes256,
            _ => return None,
        })
    }

    /// Full digest length.
    pub fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128 | KeyType::Aes256 => 16,
            KeyType::Sha1 => 20,
            KeyType::Sha256 => 32,
            KeyType::Sha384 => 48,
            KeyType::Sha512 => 64,
        }
    }

    /// The key length an AES type requires (None: any length).
    pub fn required_key_len(self) -> Option<usize> {
        match self {
            KeyType::Aes128 => Some(16),
            KeyType::Aes256 => Some(32),
            _ => None,
        }
    }

    /// Secret length `keygen` produces.
    pub fn generated_key_len(self) -> usize {
        self.required_key_len().unwrap_or(match self {
            KeyType::Md5 => 20,
            KeyType::Sha1 => 20,
            _ => 32,
        })
    }
}

/// Why a key could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Key id 0 is reserved (crypto-NAK).
    ZeroId,
    /// Empty secret.
    Empty,
    /// An AES key of the wrong length.
    WrongLength {
        /// Required length.
        want: usize,
        /// Given length.
        got: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::ZeroId => f.write_str("key id 0 is reserved"),
            KeyError::Empty => f.write_str("the key is empty"),
            KeyError::WrongLength { want, got } => write!(f, "the key must be {want} bytes for this type, not {got}"),
        }
    }
}

/// A symmetric key.
#[derive(Clone, PartialEq, Eq)]
pub struct SymmetricKey {
    id: u32,
    kind: KeyType,
    secret: Vec<u8>,
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricKey")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SymmetricKey {
    /// A key with id 1..=2^32-1.
    pub fn new(id: u32, kind: KeyType, secret: Vec<u8>) -> Result<Self, KeyError> {
        if id == 0 {
            return Err(KeyError::ZeroId);
        }
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(want) = kind.required_key_len() {
            if secret.len() != want {
                return Err(KeyError::WrongLength { want, got: secret.len() });
            }
        }
        Ok(SymmetricKey { id, kind, secret })
    }

    /// Key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Algorithm.
    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// Writes the full digest of `data` into `out[..digest_len]` and returns
    /// its length.
    pub fn digest(&self, data: &[u8], out: &mut [u8; MAX_DIGEST]) -> usize {
        fn hash<D: Digest>(key: &[u8], data: &[u8], out: &mut [u8]) -> usize {
            let mut h = D::new();
            h.update(key);
            h.update(data);
            let d = h.finalize();
            out[..d.len()].copy_from_slice(&d);
            d.len()
        }
        fn cmac<C: cmac::Mac + cmac::digest::KeyInit>(key: &[u8], data: &[u8], out: &mut [u8]) -> usize {
            // The key length was checked at construction.
            let Ok(mut m) = <C as cmac::digest::KeyInit>::new_from_slice(key) else { return 0 };
            m.update(data);
            let d = m.finalize().into_bytes();
            out[..d.len()].copy_from_slice(&d);
            d.len()
        }
        match self.kind {
            KeyType::Md5 => hash::<Md5>(&self.secret, data, out),
            KeyType::Sha1 => hash::<Sha1>(&self.secret, data, out),
            KeyType::Sha256 => hash::<Sha256>(&self.secret, data, out),
            KeyType::Sha384 => hash::<Sha384>(&self.secret, data, out),
            KeyType::Sha512 => hash::<Sha512>(&self.secret, data, out),
            KeyType::Aes128 => cmac::<Cmac<Aes128>>(&self.secret, data, out),
            KeyType::Aes256 => cmac::<Cmac<Aes256>>(&self.secret, data, out),
        }
    }

    /// True when `digest` (possibly truncated, at least 16 bytes) is this
    /// key's MAC of `data`. Constant time in the digest contents.
    pub fn verify(&self, data: &[u8], digest: &[u8]) -> bool {
        let mut full = [0u8; MAX_DIGEST];
        let n = self.digest(data, &mut full);
        digest.len() >= MIN_DIGEST.min(n) && digest.len() <= n && bool::from(full[..digest.len()].ct_eq(digest))
    }

    /// The digest length this key puts in a packet of `version`.
    pub fn packet_digest_len(&self, version: u8) -> usize {
        let n = self.kind.digest_len();
        if version >= 4 {
            n.min(MAX_V4_DIGEST)
        } else {
            n
        }
    }

    /// Appends key id and a digest of `buf[..len]` truncated to `digest_len`
    /// at `buf[len..]`; returns the new length, or None if it does not fit.
    pub fn append_mac(&self, buf: &mut [u8], len: usize, digest_len: usize) -> Option<usize> {
        let mut full = [0u8; MAX_DIGEST];
        let n = self.digest(buf.get(..len)?, &mut full);
        let d = digest_len.min(n);
        let end = len.checked_add(4 + d)?;
        let dst = buf.get_mut(len..end)?;
        dst[..4].copy_from_slice(&self.id.to_be_bytes());
        dst[4..].copy_from_slice(&full[..d]);
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        decode_secret(&format!("HEX:{s}")).unwrap()
    }

    #[test]
    fn rfc4493_aes_cmac_vector() {
        // RFC 4493 example 2: 16-byte message.
        let key = SymmetricKey::new(1, KeyType::Aes128, hex("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        let mut out = [0u8; MAX_DIGEST];
        let n = key.digest(&hex("6bc1bee22e409f96e93d7e117393172a"), &mut out);
        assert_eq!(&out[..n], hex("070a16b46b4d4144f79bdd9dd04a287c").as_slice());
    }

    #[test]
    fn legacy_mac_is_hash_of_key_then_packet() {
        let key = SymmetricKey::new(7, KeyType::Md5, b"abc".to_vec()).unwrap();
        let mut out = [0u8; MAX_DIGEST];
        let n = key.digest(b"", &mut out);
        // MD5("abc")
        assert_eq!(&out[..n], hex("900150983cd24fb0d6963f7d28e17f72").as_slice());
    }

    #[test]
    fn append_and_verify_with_truncation() {
        for kind in KeyType::ALL {
            let key = SymmetricKey::new(42, kind, vec![9; kind.generated_key_len()]).unwrap();
            let mut buf = [0u8; 200];
            buf[..48].copy_from_slice(&[0x23; 48]);
            let d = key.packet_digest_len(4);
            let end = key.append_mac(&mut buf, 48, d).unwrap();
            assert_eq!(end, 48 + 4 + d);
            assert!(d <= MAX_V4_DIGEST);
            assert_eq!(u32::from_be_bytes(buf[48..52].try_into().unwrap()), 42);
            assert!(key.verify(&buf[..48], &buf[52..end]), "{kind:?}");
            buf[10] ^= 1;
            assert!(!key.verify(&buf[..48], &buf[52..end]), "{kind:?} accepted a tampered packet");
            assert!(!key.verify(&buf[..48], &buf[52..52 + 8]), "short digests are refused");
        }
    }
}
