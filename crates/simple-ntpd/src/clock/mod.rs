//! Clocks behind a trait, so the serving path and (later) the
//! synchronisation engine run unchanged against the real system clock or a
//! simulated one. Tests never step or slew the real clock: the system clock
//! driver here only reads.

pub mod kernel;
pub mod system;

use ntp_proto::NtpTimestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time as an NTP timestamp.
    fn now(&self) -> NtpTimestamp;
}

pub use system::SystemClock;
