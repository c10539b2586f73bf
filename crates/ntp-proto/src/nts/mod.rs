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

pub mod aead;
pub mod cookie;
pub mod ef;
pub mod ke;
