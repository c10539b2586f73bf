//! Network Time Security (RFC 8915), sans-IO: the NTS-KE record codec and
//! negotiation, server cookies, and the NTS extension fields of NTPv4
//! packets. Pure codecs and crypto on byte slices: no sockets, no TLS, no
//! clock reads, and no randomness of its own — every nonce and random byte is
//! handed in by the caller, so everything here is deterministic and testable.
//!
//! - [`aead`]: the two AEAD algorithms NTS uses here (AES-SIV-CMAC-256, id 15;
//!   AES-128-GCM-SIV, id 30) and sealing/opening with them.
//! - [`ke`]: NTS-KE records (§4): incremental decoder, encoder, the server's
//!   response to a request and the client's request and response parsing.
//! - [`cookie`]: the server's cookies, keys sealed under rotating master keys.
//! - [`ef`]: the NTS extension fields (§5): server-side verification and
//!   reply fields, client-side request fields and reply verification.
//!
//! The protocol constants both sides and the load generator share — the
//! ALPN id, the TLS exporter label and context, the KE port — are here.

pub mod aead;
pub mod cookie;
pub mod ef;
pub mod ke;

use aead::AeadAlgorithm;
use ke::PROTOCOL_NTPV4;

/// The ALPN protocol id of NTS-KE (RFC 8915 §4).
pub const ALPN_NTSKE: &[u8] = b"ntske/1";

/// The TLS exporter label the NTS keys are exported under (RFC 8915 §5.1).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";

/// The TCP port of NTS-KE when none is given (RFC 8915 §4).
pub const KE_PORT: u16 = 4460;

/// Which of a session's two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDirection {
    /// Client to server (C2S): protects requests.
    ClientToServer,
    /// Server to client (S2C): protects replies.
    ServerToClient,
}

/// The TLS exporter context for one key (RFC 8915 §5.1): the next protocol
/// (NTPv4), the AEAD algorithm id and the direction.
pub fn exporter_context(aead: AeadAlgorithm, direction: KeyDirection) -> [u8; 5] {
    let [p_hi, p_lo] = PROTOCOL_NTPV4.to_be_bytes();
    let [a_hi, a_lo] = aead.id().to_be_bytes();
    let d = match direction {
        KeyDirection::ClientToServer => 0,
        KeyDirection::ServerToClient => 1,
    };
    [p_hi, p_lo, a_hi, a_lo, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_context_follows_rfc_8915() {
        assert_eq!(exporter_context(AeadAlgorithm::AesSivCmac256, KeyDirection::ClientToServer), [0, 0, 0, 15, 0]);
        assert_eq!(exporter_context(AeadAlgorithm::Aes128GcmSiv, KeyDirection::ServerToClient), [0, 0, 0, 30, 1]);
    }
}
