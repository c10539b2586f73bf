//! Upstream sources: the per-server poll state machine of the client side.
//!
//! One [`SourcePoller`] per configured upstream server. Like the rest of this
//! crate it does no IO and reads no clock: the daemon asks it when to poll
//! ([`SourcePoller::next_poll_at`]), has it write the request
//! ([`SourcePoller::build_request`]) with a random transmit cookie, sends it,
//! and hands back whatever arrives ([`SourcePoller::handle_response`]) with
//! the local send and receive timestamps. A valid reply yields a [`Sample`]
//! for the synchronisation engine (crate `ntp-sync`); anything else is a
//! [`Reject`] with the reason.
//!
//! - [`reach`]: the 8-bit reachability register.
//! - [`poll`]: the poll interval (minpoll..maxpoll, engine advice, iburst,
//!   unreachable back-off, KoD RATE back-off).
//! - [`filter`]: the RFC 5905 clock filter (minimum-delay sample choice,
//!   per-source offset, delay, dispersion and jitter).
//! - [`validate`]: reply validation (origin, unsynchronised, bogus, KoD).
//! - [`sample`]: what a valid reply tells the engine.
//! - [`poller`]: the state machine tying these together.

pub mod filter;
pub mod poll;
pub mod poller;
pub mod reach;
pub mod sample;
pub mod validate;

pub use filter::{ClockFilter, FilterStats};
pub use poll::PollConfig;
pub use poller::{PollerState, SourceConfig, SourcePoller, SourceStatus};
pub use reach::Reach;
pub use sample::Sample;
pub use validate::{Exchange, Reject};

/// RFC 5905 PHI: the frequency tolerance assumed for dispersion growth, 15 ppm.
pub const PHI: f64 = 15e-6;

/// RFC 5905 MAXDISP: the dispersion of an empty or missing sample, 16 s.
pub const MAX_DISPERSION: f64 = 16.0;
