//! Protecting a reply after its transmit timestamp is stamped: a MAC with
//! the request's key and digest length, or the NTS fields (unique id echo,
//! fresh cookies, authenticator). Both cover the whole header, T3 included,
//! so they can only be computed after [`super::PreparedReply::finish`].

use rand_core::RngCore;

use super::decide::Policy;
use super::request::DropReason;
use crate::nts::ef::{server_reply_fields, VerifiedRequest};

/// A MAC to append: the key and digest length of the request's MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacSeal {
    /// The key id (looked up again in the same policy snapshot).
    pub key_id: u32,
    /// The digest length, bytes.
    pub digest_len: usize,
}

impl MacSeal {
    /// Bytes the MAC adds: key id and digest.
    pub fn len(&self) -> usize {
        4 + self.digest_len
    }

    /// Never empty: a MAC has at least a key id.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the MAC of `out[..len]` at `out[len..]`; returns the new
    /// length, or `None` when the key is not in `policy` or `out` is short.
    pub fn apply(self, out: &mut [u8], len: usize, policy: &impl Policy) -> Option<usize> {
        policy.mac_key(self.key_id)?.append_mac(out, len, self.digest_len)
    }
}

/// How a reply is protected.
#[derive(Debug)]
pub enum Seal<'a> {
    /// Not at all.
    Plain,
    /// A MAC.
    Mac(MacSeal),
    /// NTS, for this verified request (borrows the request's bytes).
    Nts(VerifiedRequest<'a>),
}

/// A protected reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// A plain reply of this length.
    Plain(usize),
    /// A reply with a MAC, of this length.
    Mac(usize),
    /// An NTS-protected reply of this length.
    Nts(usize),
}

impl Sealed {
    /// The length to send.
    pub fn len(&self) -> usize {
        match *self {
            Sealed::Plain(n) | Sealed::Mac(n) | Sealed::Nts(n) => n,
        }
    }

    /// Never empty: a reply has at least a header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Seal<'_> {
    /// The bytes the seal adds that are known before sealing (a MAC's; NTS
    /// fits its fields into the request's length while sealing).
    pub fn known_len(&self) -> usize {
        match self {
            Seal::Mac(m) => m.len(),
            Seal::Plain | Seal::Nts(_) => 0,
        }
    }

    /// Protects the stamped reply in `out[..len]` answering a request of
    /// `request_len` bytes; `rng` supplies NTS nonces. The result is never
    /// longer than the request.
    pub fn seal(
        self,
        out: &mut [u8],
        len: usize,
        request_len: usize,
        policy: &impl Policy,
        rng: &mut impl RngCore,
    ) -> Result<Sealed, DropReason> {
        match self {
            Seal::Plain => Ok(Sealed::Plain(len)),
            Seal::Mac(m) => match m.apply(out, len, policy) {
                Some(n) if n <= request_len => Ok(Sealed::Mac(n)),
                _ => Err(DropReason::AuthenticationFailed),
            },
            Seal::Nts(verified) => {
                let keys = policy.nts_cookie_keys().ok_or(DropReason::Nts)?;
                let mut nonce = [0u8; 16];
                let n = verified.keys.aead.nonce_len().min(nonce.len());
                rng.fill_bytes(&mut nonce[..n]);
                let result = server_reply_fields(out, &verified, request_len, keys, &nonce[..n], || {
                    let mut c = [0u8; 16];
                    rng.fill_bytes(&mut c);
                    c
                });
                match result {
                    Ok(n) if n <= request_len => Ok(Sealed::Nts(n)),
                    _ => Err(DropReason::Nts),
                }
            }
        }
    }
}
