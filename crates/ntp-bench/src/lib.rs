//! ntp-bench: an independent NTP load generator for Linux.
//!
//! It speaks plain NTPv4 client mode (48-byte requests, encoded here, not by
//! the daemon's crates), so it measures simple-ntpd, chronyd or any other
//! server the same way: closed loop (N requests in flight) or open loop (a
//! fixed rate), from one or many loopback source addresses, batched with
//! `sendmmsg`/`recvmmsg` on non-blocking sockets, with kernel receive
//! timestamps for round-trip times and for the error of the server's transmit
//! timestamp. `unsafe` lives only in [`sys`].

pub mod cli;
pub mod engine;
pub mod histogram;
pub mod ntp;
pub mod pacing;
pub mod report;
pub mod sockets;
pub mod stats;
pub mod sys;
pub mod tracker;

pub use engine::{run, RunConfig};
pub use pacing::Load;
pub use report::Report;

/// The raw outcome of a run.
#[derive(Clone)]
pub struct RunResult {
    /// Counters and distributions of the measurement window.
    pub stats: stats::Stats,
    /// Actual length of the measurement window.
    pub window: std::time::Duration,
}
