//! Server cookies (RFC 8915 §6): the session's C2S and S2C keys and AEAD id,
//! sealed under a server master key so the server keeps no per-client state.
//!
//! Layout: `key_id (u32) || nonce (16) || AES-SIV ciphertext` of
//! `aead_id (u16) || c2s || s2c`, with `key_id` and the nonce as associated
//! data. Master keys are 64 bytes, which makes the cookie cipher
//! AES-SIV-CMAC-512 (RFC 5297 §6.3; AES-SIV-CMAC-256 takes 32-byte keys).
//! Several master keys are kept by id so cookies made under the previous
//! key still open after a rotation.

use super::aead::AeadAlgorithm;
use aes_siv::siv::Aes256Siv;
use aes_siv::KeyInit;

/// Length of a master key.
pub const MASTER_KEY_LEN: usize = 64;
/// Length of the nonce in a cookie.
pub const COOKIE_NONCE_LEN: usize = 16;
const HEADER_LEN: usize = 4 + COOKIE_NONCE_LEN;
const TAG_LEN: usize = 16;

/// The per-association keys a cookie carries.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The negotiated AEAD algorithm.
    pub aead: AeadAlgorithm,
    /// Client-to-server key (`aead.key_len()` bytes).
    pub c2s: Vec<u8>,
    /// Server-to-client key (`aead.key_len()` bytes).
    pub s2c: Vec<u8>,
}

/// The longest key an AEAD algorithm here takes (AES-SIV-CMAC-256).
pub const MAX_KEY_LEN: usize = 32;
/// The longest sealed plaintext of a cookie: AEAD id, two keys, padding.
const MAX_PLAINTEXT_LEN: usize = (2 + 2 * MAX_KEY_LEN).div_ceil(4) * 4;

/// The session keys an opened cookie carries, held without allocating (the
/// server's reply path opens one per request); [`SessionKeys`] is the
/// owned form the client and the key exchange use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSession {
    /// The negotiated AEAD algorithm.
    pub aead: AeadAlgorithm,
    keys: [u8; 2 * MAX_KEY_LEN],
}

impl std::fmt::Debug for CookieSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSession").field("aead", &self.aead).finish_non_exhaustive()
    }
}

impl CookieSession {
    /// The session of `keys`, when their lengths fit the algorithm.
    pub fn new(aead: AeadAlgorithm, c2s: &[u8], s2c: &[u8]) -> Option<CookieSession> {
        let n = aead.key_len();
        if c2s.len() != n || s2c.len() != n {
            return None;
        }
        let mut keys = [0u8; 2 * MAX_KEY_LEN];
        keys[..n].copy_from_slice(c2s);
        keys[n..2 * n].copy_from_slice(s2c);
        Some(CookieSession { aead, keys })
    }

    /// Client-to-server key.
    pub fn c2s(&self) -> &[u8] {
        &self.keys[..self.aead.key_len()]
    }

    /// Server-to-client key.
    pub fn s2c(&self) -> &[u8] {
        let n = self.aead.key_len();
        &self.keys[n..2 * n]
    }

    /// The owned form.
    pub fn to_keys(&self) -> SessionKeys {
        SessionKeys { aead: self.aead, c2s: self.c2s().to_vec(), s2c: self.s2c().to_vec() }
    }
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys").field("aead", &self.aead).finish_non_exhaustive()
    }
}

/// Why a cookie could not be made or opened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CookieError {
    /// No master key with the cookie's key id (expired or foreign).
    UnknownKey(u32),
    /// Too short, tampered with, or not made by this server.
    Invalid,
    /// Keys of the wrong length for the AEAD algorithm (when sealing).
    BadKeyLength,
}

impl std::fmt::Display for CookieError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CookieError::UnknownKey(id) => write!(f, "cookie made under unknown master key {id}"),
            CookieError::Invalid => f.write_str("invalid NTS cookie"),
            CookieError::BadKeyLength => f.write_str("session key length does not match the AEAD algorithm"),
        }
    }
}

impl std::error::Error for CookieError {}

/// The server's master keys by id: one current key that seals, and older
/// ones that still open.
#[derive(Clone)]
pub struct CookieKeys {
    current: u32,
    keys: Vec<(u32, [u8; MASTER_KEY_LEN])>,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("CookieKeys").field("current", &self.current).field("ids", &ids).finish()
    }
}

impl CookieKeys {
    /// A set with one key, which is current.
    pub fn new(id: u32, key: [u8; MASTER_KEY_LEN]) -> CookieKeys {
        CookieKeys { current: id, keys: vec![(id, key)] }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> u32 {
        self.current
    }

    /// Adds (or replaces) a key and makes it current: a rotation. Older
    /// keys keep opening cookies until [`CookieKeys::retain_newest`] drops them.
    pub fn rotate(&mut self, id: u32, key: [u8; MASTER_KEY_LEN]) {
        self.keys.retain(|(k, _)| *k != id);
        self.keys.push((id, key));
        self.current = id;
    }

    /// Keeps only the `n` most recently added keys (at least the current).
    pub fn retain_newest(&mut self, n: usize) {
        let drop = self.keys.len().saturating_sub(n.max(1));
        self.keys.drain(..drop);
    }

    /// The ids of all keys, oldest first.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    fn key(&self, id: u32) -> Option<&[u8; MASTER_KEY_LEN]> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| key)
    }

    /// Length of a cookie for `aead`: always a multiple of 4 (chrony's
    /// client ignores cookies that are not, and NTP extension fields need no
    /// padding then); the sealed plaintext carries zero padding for that.
    pub fn cookie_len(aead: AeadAlgorithm) -> usize {
        HEADER_LEN + TAG_LEN + Self::padded_plaintext_len(aead)
    }

    fn padded_plaintext_len(aead: AeadAlgorithm) -> usize {
        let raw = 2 + 2 * aead.key_len();
        // HEADER_LEN + TAG_LEN is a multiple of 4, so pad the plaintext to one.
        raw.div_ceil(4) * 4
    }

    /// Seals the session keys under the current master key with the
    /// caller's fresh random `nonce`. Allocates; the server's reply path
    /// uses [`CookieKeys::seal_into`].
    pub fn seal(&self, keys: &SessionKeys, nonce: &[u8; COOKIE_NONCE_LEN]) -> Result<Vec<u8>, CookieError> {
        let session = CookieSession::new(keys.aead, &keys.c2s, &keys.s2c).ok_or(CookieError::BadKeyLength)?;
        let mut cookie = vec![0u8; Self::cookie_len(keys.aead)];
        self.seal_into(&session, nonce, &mut cookie)?;
        Ok(cookie)
    }

    /// Writes the cookie for `session` (sealed under the current master key
    /// with the caller's fresh random `nonce`) at the start of `out`
    /// without allocating; returns its length, [`CookieKeys::cookie_len`].
    pub fn seal_into(
        &self,
        session: &CookieSession,
        nonce: &[u8; COOKIE_NONCE_LEN],
        out: &mut [u8],
    ) -> Result<usize, CookieError> {
        let aead = session.aead;
        let len = Self::cookie_len(aead);
        let out = out.get_mut(..len).ok_or(CookieError::Invalid)?;
        let master = self.key(self.current).ok_or(CookieError::UnknownKey(self.current))?;
        let (head, body) = out.split_at_mut(HEADER_LEN);
        head[..4].copy_from_slice(&self.current.to_be_bytes());
        head[4..].copy_from_slice(nonce);
        let (tag, plaintext) = body.split_at_mut(TAG_LEN);
        let n = aead.key_len();
        plaintext.fill(0);
        plaintext[..2].copy_from_slice(&aead.id().to_be_bytes());
        plaintext[2..2 + n].copy_from_slice(session.c2s());
        plaintext[2 + n..2 + 2 * n].copy_from_slice(session.s2c());
        let mut siv = Aes256Siv::new(master.into());
        let t = siv.encrypt_in_place_detached([&head[..4], &head[4..]], plaintext).map_err(|_| CookieError::Invalid)?;
        tag.copy_from_slice(&t);
        Ok(len)
    }

    /// Opens a cookie made by [`CookieKeys::seal`] under any known key.
    pub fn open(&self, cookie: &[u8]) -> Result<SessionKeys, CookieError> {
        self.open_session(cookie).map(|s| s.to_keys())
    }

    /// Opens a cookie under any known key without allocating.
    pub fn open_session(&self, cookie: &[u8]) -> Result<CookieSession, CookieError> {
        if cookie.len() < HEADER_LEN + TAG_LEN {
            return Err(CookieError::Invalid);
        }
        let id = u32::from_be_bytes([cookie[0], cookie[1], cookie[2], cookie[3]]);
        let master = self.key(id).ok_or(CookieError::UnknownKey(id))?;
        let sealed = &cookie[HEADER_LEN + TAG_LEN..];
        if sealed.len() > MAX_PLAINTEXT_LEN {
            return Err(CookieError::Invalid);
        }
        let mut buf = [0u8; MAX_PLAINTEXT_LEN];
        let plain = &mut buf[..sealed.len()];
        plain.copy_from_slice(sealed);
        let tag = aes_siv::Tag::clone_from_slice(&cookie[HEADER_LEN..HEADER_LEN + TAG_LEN]);
        let mut siv = Aes256Siv::new(master.into());
        siv.decrypt_in_place_detached([&cookie[..4], &cookie[4..HEADER_LEN]], plain, &tag)
            .map_err(|_| CookieError::Invalid)?;
        let (aead_id, keys) = plain.split_at_checked(2).ok_or(CookieError::Invalid)?;
        let aead = AeadAlgorithm::from_id(u16::from_be_bytes([aead_id[0], aead_id[1]])).ok_or(CookieError::Invalid)?;
        if plain.len() != Self::padded_plaintext_len(aead) {
            return Err(CookieError::Invalid);
        }
        let (c2s, rest) = keys.split_at(aead.key_len());
        CookieSession::new(aead, c2s, &rest[..aead.key_len()]).ok_or(CookieError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session(aead: AeadAlgorithm) -> SessionKeys {
        SessionKeys { aead, c2s: vec![0x11; aead.key_len()], s2c: vec![0x22; aead.key_len()] }
    }

    #[test]
    fn cookie_layout_and_round_trip() {
        let keys = CookieKeys::new(0xA1B2_C3D4, [5; 64]);
        for aead in AeadAlgorithm::PREFERENCE {
            let s = session(aead);
            let cookie = keys.seal(&s, &[7; 16]).unwrap();
            assert_eq!(cookie.len(), CookieKeys::cookie_len(aead));
            assert_eq!(&cookie[..4], &[0xA1, 0xB2, 0xC3, 0xD4]);
            assert_eq!(&cookie[4..20], &[7; 16]);
            // The keys do not appear in clear.
            assert!(!cookie.windows(8).any(|w| w == [0x11; 8] || w == [0x22; 8]));
            assert_eq!(keys.open(&cookie).unwrap(), s);
        }
        assert_eq!(CookieKeys::cookie_len(AeadAlgorithm::Aes128GcmSiv), 72, "a multiple of 4, as chrony requires");
        assert_eq!(CookieKeys::cookie_len(AeadAlgorithm::AesSivCmac256), 104, "a multiple of 4, as chrony requires");
    }

    #[test]
    fn different_nonces_give_unlinkable_cookies() {
        let keys = CookieKeys::new(1, [5; 64]);
        let s = session(AeadAlgorithm::Aes128GcmSiv);
        let a = keys.seal(&s, &[1; 16]).unwrap();
        let b = keys.seal(&s, &[2; 16]).unwrap();
        assert_ne!(a[20..], b[20..]);
    }

    #[test]
    fn rotation_keeps_old_keys_until_retired() {
        let mut keys = CookieKeys::new(1, [1; 64]);
        let old = keys.seal(&session(AeadAlgorithm::AesSivCmac256), &[0; 16]).unwrap();
        keys.rotate(2, [2; 64]);
        assert_eq!(keys.current_id(), 2);
        let new = keys.seal(&session(AeadAlgorithm::AesSivCmac256), &[0; 16]).unwrap();
        assert_eq!(&new[..4], &2u32.to_be_bytes());
        assert!(keys.open(&old).is_ok());
        keys.retain_newest(1);
        assert_eq!(keys.ids(), vec![2]);
        assert_eq!(keys.open(&old), Err(CookieError::UnknownKey(1)));
        assert!(keys.open(&new).is_ok());
    }

    #[test]
    fn tampering_and_wrong_keys_are_rejected() {
        let keys = CookieKeys::new(9, [3; 64]);
        let cookie = keys.seal(&session(AeadAlgorithm::Aes128GcmSiv), &[4; 16]).unwrap();
        for i in 0..cookie.len() {
            let mut bad = cookie.clone();
            bad[i] ^= 0x40;
            assert!(keys.open(&bad).is_err(), "byte {i}");
        }
        assert_eq!(keys.open(&cookie[..cookie.len() - 1]), Err(CookieError::Invalid));
        assert_eq!(keys.open(&cookie[..10]), Err(CookieError::Invalid));
        let other = CookieKeys::new(9, [4; 64]);
        assert_eq!(other.open(&cookie), Err(CookieError::Invalid));
        let mut short = session(AeadAlgorithm::Aes128GcmSiv);
        short.c2s.pop();
        assert_eq!(keys.seal(&short, &[0; 16]), Err(CookieError::BadKeyLength));
    }

    proptest! {
        #[test]
        fn open_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let keys = CookieKeys::new(u32::from_be_bytes([data.first().copied().unwrap_or(0), 0, 0, 0]), [1; 64]);
            prop_assert!(keys.open(&data).is_err());
        }
    }
}
