//! The clocks the engine steers (`[clock] discipline`):
//! - `virtual`: never touches the system clock; the daemon serves system
//!   time corrected by the engine's offset and frequency, and the serving
//!   threads apply exactly the same correction to receive and transmit
//!   timestamps.
//! - `system`: steers the kernel clock (frequency, steps per makestep) and
//!   keeps STA_UNSYNC / maxerror / esterror true.
//! - `auto`: `system` when the process may set the clock (CAP_SYS_TIME),
//!   else `virtual`.
//!
//! (`none` — trust the host clock — has no engine; see `sync::host`.)

use ntp_config::ClockDiscipline;
use ntp_proto::{LeapIndicator, NtpDuration, NtpTimestamp};
use ntp_sync::{Clock, ClockError, ClockStatus, VirtualClock};

use crate::clock::{kernel, SystemClock};
use crate::served::Correction;

/// Which clock is steered: `[clock] discipline` (`ntp_config::ClockDiscipline`)
/// with `auto` resolved. (The controller that steers it is
/// `ntp_sync::discipline::Discipline`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steering {
    /// Steer the kernel clock.
    System,
    /// Correct served time only.
    Virtual,
    /// Trust the host clock.
    None,
}

impl Steering {
    /// Name for logs and the API.
    pub fn name(self) -> &'static str {
        match self {
            Steering::System => "system",
            Steering::Virtual => "virtual",
            Steering::None => "none",
        }
    }
}

/// True when this process may adjust the system clock.
pub fn may_set_clock() -> bool {
    !kernel::read_only()
        && caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_TIME).unwrap_or(false)
}

/// Resolves `auto`; returns the discipline and why.
pub fn choose(configured: ClockDiscipline) -> (Steering, &'static str) {
    match configured {
        ClockDiscipline::System => (Steering::System, "configured"),
        ClockDiscipline::Virtual => (Steering::Virtual, "configured"),
        ClockDiscipline::None => (Steering::None, "configured"),
        ClockDiscipline::Auto if may_set_clock() => {
            (Steering::System, "auto: the process may set the clock (CAP_SYS_TIME)")
        }
        ClockDiscipline::Auto => (Steering::Virtual, "auto: the process may not set the clock"),
    }
}

fn system_now() -> NtpTimestamp {
    SystemClock.now()
}

/// A clock the engine steers, plus what the serving path needs from it.
pub trait DriverClock: Clock + Send {
    /// The correction from system time to served time.
    fn correction(&self) -> Correction;
    /// Which clock this is.
    fn discipline(&self) -> Steering;
}

/// The virtual clock.
pub struct VirtualDriver(VirtualClock<fn() -> NtpTimestamp>);

impl VirtualDriver {
    /// A fresh virtual clock (identity), or one continuing `previous`.
    pub fn new(previous: Option<Correction>) -> Self {
        match previous {
            Some(c) => VirtualDriver(VirtualClock::with_parameters(system_now, c.base, c.offset.to_seconds(), c.freq)),
            None => VirtualDriver(VirtualClock::new(system_now)),
        }
    }

    /// A fresh virtual clock over another time source than the system
    /// clock (simulated time in tests).
    pub fn over(system: fn() -> NtpTimestamp) -> Self {
        VirtualDriver(VirtualClock::new(system))
    }
}

impl Clock for VirtualDriver {
    fn now(&self) -> NtpTimestamp {
        self.0.now()
    }
    fn frequency_ppm(&self) -> f64 {
        self.0.frequency_ppm()
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.0.set_frequency(ppm)
    }
    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        self.0.step(offset_s)
    }
}

impl DriverClock for VirtualDriver {
    fn correction(&self) -> Correction {
        let (base, offset, freq) = self.0.parameters();
        Correction { offset: NtpDuration::from_seconds(offset), base, freq }
    }
    fn discipline(&self) -> Steering {
        Steering::Virtual
    }
}

/// The kernel clock.
pub struct KernelDriver {
    frequency_ppm: f64,
}

impl KernelDriver {
    /// Starts from the kernel's current frequency.
    pub fn new() -> Self {
        KernelDriver { frequency_ppm: kernel::read().map(|k| k.frequency_ppm).unwrap_or(0.0) }
    }
}

impl Default for KernelDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for KernelDriver {
    fn now(&self) -> NtpTimestamp {
        SystemClock.now()
    }
    fn frequency_ppm(&self) -> f64 {
        self.frequency_ppm
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        kernel::set_frequency(ppm).map_err(|e| ClockError(e.to_string()))?;
        self.frequency_ppm = ppm;
        Ok(())
    }
    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        kernel::step(offset_s).map_err(|e| ClockError(e.to_string()))
    }
    fn set_status(&mut self, s: &ClockStatus) {
        let _ = kernel::set_status(
            s.synchronised,
            s.leap == LeapIndicator::Insert,
            s.leap == LeapIndicator::Delete,
            s.est_error,
            s.max_error,
        );
    }
}

impl DriverClock for KernelDriver {
    fn correction(&self) -> Correction {
        Correction::IDENTITY
    }
    fn discipline(&self) -> Steering {
        Steering::System
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_correction_matches_what_the_engine_steers() {
        let mut v = VirtualDriver::new(None);
        v.set_frequency(10.0).unwrap();
        v.step(0.25).unwrap();
        let sys = SystemClock.now();
        let served = v.correction().apply(sys);
        // The driver's own view of "now" and the published correction agree.
        let now = v.now();
        assert!(now.since(served).to_seconds().abs() < 1e-3);
        assert!((served.since(sys).to_seconds() - 0.25).abs() < 1e-4);
        // A continued clock keeps the transform.
        let w = VirtualDriver::new(Some(v.correction()));
        assert_eq!(w.correction(), v.correction());
    }

    #[test]
    fn configured_disciplines_are_taken_as_given() {
        assert_eq!(choose(ClockDiscipline::Virtual).0, Steering::Virtual);
        assert_eq!(choose(ClockDiscipline::None).0, Steering::None);
        if kernel::read_only() {
            assert_eq!(
                choose(ClockDiscipline::Auto).0,
                Steering::Virtual,
                "the interlock keeps auto off the system clock"
            );
        }
    }
}
