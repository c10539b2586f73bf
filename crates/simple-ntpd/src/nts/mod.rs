//! Network Time Security for the daemon, client and server side by side.
//! The protocol logic is the sans-IO `ntp_proto::nts` (and, for a source's
//! cookie jar, `ntp_proto::association`); this module adds files, clocks,
//! randomness, sockets and TLS.
//!
//! Client side (an upstream source with `nts = true`):
//! - [`client`]: the key exchange with the source's NTS-KE server.
//!
//! Server side:
//! - [`ke`]: the NTS-KE TCP/TLS server.
//! - [`exchange`]: one request/response exchange on a TLS connection.
//! - [`tls`]: the server's rustls configuration from PEM files.
//! - [`keystore`]: cookie master keys, rotation, multi-instance sharing;
//!   the NTP workers open cookies with them.
//! - [`keyfile`]: the on-disk key files, created atomically.

pub mod client;
pub mod exchange;
pub mod ke;
pub mod keyfile;
pub mod keystore;
pub mod tls;

#[cfg(test)]
mod ke_tests;

pub use ke::{KeServer, KeSettings, KeStats};
pub use keystore::{CookieKeyCell, CookieKeyStore};
