//! Reference clock drivers: the IO side of `ntp_proto::refclock`.
//!
//! Each configured clock gets one driver thread that owns its device and
//! sends what it reads — raw samples and pulse edges stamped with the
//! system clock — to whichever synchronisation loop is attached
//! ([`devices::Devices::attach`]); the loop turns them into engine samples
//! (`sync::refclocks`). Devices are opened when the daemon starts, before it
//! drops root, and survive reloads that keep the same clocks. A device that
//! is missing, a receiver without a fix or a writer that has not started
//! yet is reported in the clock's [`health::Health`] and retried, never
//! fatal; bad input is counted and logged once per kind.
//!
//! - [`spec`]: the clocks the configuration asks for.
//! - [`health`]: per-clock driver status and counters.
//! - [`devices`]: starting, attaching and stopping the driver threads.
//! - [`shm`], [`sock`], [`nmea`], [`pps`]: the four drivers.
//! - [`shm_segment`], [`pps_device`] (`unsafe`, OS interfaces) and
//!   [`serial`]: System V shared memory, the Linux PPS API ioctls, termios.

pub mod devices;
pub mod health;
pub mod nmea;
pub mod pps;
pub mod pps_device;
pub mod serial;
pub mod shm;
pub mod shm_segment;
pub mod sock;
pub mod spec;

use ntp_proto::{LeapIndicator, NtpTimestamp};

/// What a driver read, stamped with the system clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// At system time `system` the reference was `offset` seconds ahead.
    Sample {
        /// System time of the measurement.
        system: NtpTimestamp,
        /// Reference minus system time, seconds.
        offset: f64,
        /// Leap second announced.
        leap: LeapIndicator,
    },
    /// A pulse edge at system time `system`; `offset` when the sender also
    /// gave its offset modulo the pulse interval (a SOCK pulse sample).
    Pulse {
        /// System time of the edge.
        system: NtpTimestamp,
        /// Reference minus system time, meaningful modulo the pulse interval.
        offset: Option<f64>,
    },
}

/// A reading of clock `index` (its position in the configured list).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefclockEvent {
    /// Which clock.
    pub index: usize,
    /// What it read.
    pub reading: Reading,
}

/// How long blocking reads wait before checking for a stop, and the pause
/// between attempts to open a missing device.
pub(crate) const STOP_CHECK: std::time::Duration = std::time::Duration::from_secs(1);
/// Wait between attempts to open a device that failed.
pub(crate) const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
