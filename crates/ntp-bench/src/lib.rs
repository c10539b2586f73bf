//! ntp-bench: an independent NTP load generator for Linux.
//!
//! It speaks plain NTPv4 client mode (48-byte requests, encoded here, not by
//! the daemon's crates), so it measures simple-ntpd, chronyd or any other
//! server the same way: closed loop (N requests in flight) or open loop (a
//! fixed rate), from one or many loopback source addresses, batched with
//! `sendmmsg`/`recvmmsg` on non-blocking sockets, with kernel receive
//! timestamps for round-trip times and for the error of the server's transmit
//! timestamp. `unsafe` lives only in [`sys`].
//!
//! The NTS mode ([`nts`], `--nts-ke`) is the exception: it uses the NTS codecs
//! of `ntp-proto` and rustls for NTS-KE, and sends only NTS-authenticated
//! requests (same engine, same figures, plus NTS counters).

pub mod accuracy;
pub mod cli;
pub mod engine;
pub mod histogram;
pub mod ntp;
pub mod nts;
pub mod pacing;
pub mod report;
pub mod rng;
pub mod sockets;
pub mod stats;
pub mod sys;
pub mod tracker;

pub use engine::{run, run_with, RunConfig};
pub use pacing::Load;
pub use report::Report;

/// The raw outcome of a run.
#[derive(Clone)]
pub struct RunResult {
    /// Counters and distributions of the measurement window.
    pub stats: stats::Stats,
    /// Actual length of the measurement window.
    pub window: std::time::Duration,
    /// NTS mode: what the key exchanges gave.
    pub nts: Option<NtsSummary>,
}

/// NTS mode: the sessions' setup, for the report.
#[derive(Clone, Debug)]
pub struct NtsSummary {
    /// The AEAD algorithm negotiated (of the first session).
    pub aead: String,
    /// Sessions (key exchanges done at start).
    pub sessions: usize,
    /// Key exchanges per second during the initial sequential burst.
    pub ke_per_s: f64,
}
