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
    /// Steps served time by ∓1 s — unless the host's kernel leapt under it
    /// (another daemon armed it), which the correction then follows anyway.
    fn leap_second(&mut self, insert: bool) -> Result<(), ClockError> {
        if kernel::read().is_ok_and(|k| k.leap_done) {
            return Ok(());
        }
        self.0.step(if insert { -1.0 } else { 1.0 })
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
        let (insert, delete) = leap_bits(s);
        let _ = kernel::set_status(s.synchronised, insert, delete, s.est_error, s.max_error);
    }
    /// The kernel, armed with STA_INS/STA_DEL through `set_status` during the
    /// day, has leapt by itself at midnight; if it was not armed (the status
    /// could not be set), the clock is stepped instead.
    fn leap_second(&mut self, insert: bool) -> Result<(), ClockError> {
        if kernel::read().is_ok_and(|k| k.leap_done) {
            return Ok(());
        }
        self.step(if insert { -1.0 } else { 1.0 })
    }
}

/// The kernel's leap bits (STA_INS, STA_DEL) for the engine's status: set
/// during the day a leap second is announced, so the kernel applies it at
/// that day's midnight.
fn leap_bits(s: &ClockStatus) -> (bool, bool) {
    (s.leap == LeapIndicator::Insert, s.leap == LeapIndicator::Delete)
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

    /// The kernel words the system discipline writes around a leap second,
    /// from the engine's own status (never written for real here): STA_INS
    /// or STA_DEL during the announced day only, cleared once applied.
    #[test]
    fn kernel_leap_words_follow_the_engine_around_a_leap_second() {
        use ntp_sync::leap::{LeapTable, DAY};
        use ntp_sync::{Engine, EngineConfig};
        use std::cell::Cell;
        const L: u64 = 3_692_217_600; // 2017-01-01 00:00 UTC
        thread_local!(static NOW: Cell<u64> = const { Cell::new(0) });
        fn now() -> NtpTimestamp {
            NtpTimestamp::from_bits(NOW.with(Cell::get) << 32)
        }
        for (tai, sta) in [(37, libc::STA_INS), (35, libc::STA_DEL)] {
            let table = LeapTable::new(vec![(L - 400 * DAY, 36), (L, tai)], None).unwrap();
            let mut engine = Engine::new(EngineConfig::default());
            engine.set_leap_table(Some(std::sync::Arc::new(table)));
            let mut clock = VirtualDriver::over(now);
            let word = |engine: &Engine, t: u64| {
                let status = engine.clock_status(NtpTimestamp::from_bits(t << 32));
                let (insert, delete) = leap_bits(&status);
                kernel::status_word(libc::STA_NANO, true, insert, delete)
            };
            NOW.with(|n| n.set(L - DAY - 10));
            engine.tick(&mut clock);
            assert_eq!(word(&engine, L - DAY - 10), libc::STA_NANO, "not before the day");
            NOW.with(|n| n.set(L - DAY + 10));
            engine.tick(&mut clock);
            assert_eq!(word(&engine, L - DAY + 10), libc::STA_NANO | sta, "armed for the day");
            NOW.with(|n| n.set(L - 1));
            engine.tick(&mut clock);
            assert_eq!(word(&engine, L - 1), libc::STA_NANO | sta);
            assert_eq!(engine.next_tick_at(), Some(NtpTimestamp::from_bits(L << 32)), "wakes at the leap");
            NOW.with(|n| n.set(L));
            let action = engine.tick(&mut clock);
            let jump = if sta == libc::STA_INS { -1.0 } else { 1.0 };
            assert_eq!(action, Some(ntp_sync::ClockAction::LeapSecond { offset: jump }));
            assert_eq!(clock.correction().offset.to_seconds(), jump, "the virtual clock applied it");
            assert_eq!(word(&engine, L), libc::STA_NANO, "cleared once applied");
        }
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
