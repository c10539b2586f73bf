//! Network Time Security for the daemon: the cookie master-key store shared
//! with the NTP workers and the NTS-KE server that hands out cookies. The
//! protocol logic is the sans-IO `ntp_proto::nts`; this module adds files,
//! clocks, randomness, sockets and TLS.
//!
//! - [`keystore`]: master keys, rotation, multi-instance sharing.
//! - [`keyfile`]: the on-disk key files, created atomically.
//! - [`ke`]: the NTS-KE TCP/TLS server.
//! - [`exchange`]: one request/response exchange on a TLS connection.
//! - [`tls`]: the rustls configuration from PEM files.

pub mod exchange;
pub mod ke;
pub mod keyfile;
pub mod keystore;
pub mod tls;

#[cfg(test)]
mod ke_tests;

pub use ke::{KeServer, KeSettings, KeStats};
pub use keystore::{CookieKeyCell, KeyStore};
