//! The [`Clock`] the engine steers, and what it tells the clock about its
//! own error.
//!
//! The engine needs only four things from a clock: read it, set its total
//! frequency correction, step it, and hear about the error estimates. It
//! slews offsets *itself*, as a temporary extra frequency correction whose
//! start and end it chooses, so it always knows exactly how much correction
//! has been applied: the three drivers stay trivial and behave identically.
//!
//! - Kernel (`clock_adjtime`): `set_frequency` = `ADJ_FREQUENCY` (±500 ppm;
//!   `ADJ_TICK` beyond), `step` = `ADJ_SETOFFSET`, `set_status` =
//!   `ADJ_ESTERROR | ADJ_MAXERROR | ADJ_STATUS` (clears `STA_UNSYNC` while
//!   synchronised, so `node_timex_sync_status` reads 1, and sets `STA_INS`
//!   / `STA_DEL` during the day of a leap second, which the kernel then
//!   applies at midnight).
//! - Virtual clock (never touches the system clock): keeps
//!   `served = system + offset + freq × (system − t0)`; `set_frequency`
//!   re-bases `offset`/`t0` at the current reading then stores the new
//!   frequency, `step` adds to `offset`. The daemon serves and timestamps
//!   with the corrected readings.
//! - Simulator: integrates its model clock's phase with the correction.

use core::fmt;
use ntp_proto::{LeapIndicator, NtpTimestamp};

/// A clock operation that failed (e.g. `EPERM` from the kernel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockError(pub String);

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clock adjustment failed: {}", self.0)
    }
}

impl std::error::Error for ClockError {}

/// What the engine tells the clock about its state (kernel: `maxerror`,
/// `esterror`, `STA_UNSYNC`, leap bits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockStatus {
    /// True while the engine considers the clock synchronised.
    pub synchronised: bool,
    /// Leap second warning of the selected sources.
    pub leap: LeapIndicator,
    /// Estimated error (1σ of the offset estimate plus jitter), seconds.
    pub est_error: f64,
    /// Maximum error (root distance: root delay / 2 + root dispersion),
    /// seconds.
    pub max_error: f64,
}

/// The clock the engine reads and steers. Frequencies are in ppm, positive
/// = the clock runs faster; offsets in seconds, positive = forward.
pub trait Clock {
    /// The clock's current reading.
    fn now(&self) -> NtpTimestamp;

    /// The total frequency correction in force now, ppm (the kernel's
    /// current value at start; the engine's last setting after).
    fn frequency_ppm(&self) -> f64;

    /// Sets the total frequency correction, effective immediately. The
    /// engine keeps it within `EngineConfig::max_frequency_ppm`.
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError>;

    /// Steps the clock by `offset_s` seconds at once.
    fn step(&mut self, offset_s: f64) -> Result<(), ClockError>;

    /// Receives the engine's error estimates and sync state after every
    /// update and tick. Default: ignored.
    fn set_status(&mut self, status: &ClockStatus) {
        let _ = status;
    }

    /// A leap second takes effect now (`insert`: 23:59:60 is inserted, else
    /// 23:59:59 is deleted); the engine calls this once, at the leap's
    /// instant. Afterwards the reading must be a second behind (insert) or
    /// ahead (delete) of where it would have been. Default: step by ∓1 s,
    /// for clocks whose reading does not leap by itself (virtual,
    /// simulated); the kernel clock, armed through [`Clock::set_status`]
    /// during the day of the leap, leaps by itself.
    fn leap_second(&mut self, insert: bool) -> Result<(), ClockError> {
        self.step(if insert { -1.0 } else { 1.0 })
    }
}

mod virtual_clock;
pub use virtual_clock::VirtualClock;
