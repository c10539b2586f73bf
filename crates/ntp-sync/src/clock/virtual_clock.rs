//! [`VirtualClock`]: a [`Clock`] that never touches the system clock. It
//! reads the system clock through a function the daemon supplies and
//! serves `system + offset + frequency × (system − base)`; the engine's
//! frequency changes re-base it, its steps add to the offset. The daemon
//! converts every system timestamp it uses (kernel receive timestamps,
//! transmit times) with [`VirtualClock::correct`].

use super::{Clock, ClockError};
use ntp_proto::{NtpDuration, NtpTimestamp};

/// Corrected time over an uncorrected system clock.
pub struct VirtualClock<F: Fn() -> NtpTimestamp> {
    system: F,
    base: NtpTimestamp,
    offset: f64,
    frequency: f64,
}

impl<F: Fn() -> NtpTimestamp> VirtualClock<F> {
    /// A virtual clock equal to the system clock, reading it with `system`.
    pub fn new(system: F) -> Self {
        let base = system();
        VirtualClock { system, base, offset: 0.0, frequency: 0.0 }
    }

    /// A virtual clock continuing a previous one's transform (see
    /// [`VirtualClock::parameters`]), so a restarted engine does not make
    /// served time jump.
    pub fn with_parameters(system: F, base: NtpTimestamp, offset: f64, frequency: f64) -> Self {
        VirtualClock { system, base, offset, frequency }
    }

    /// The served time for a system-clock reading `system`.
    pub fn correct(&self, system: NtpTimestamp) -> NtpTimestamp {
        let elapsed = system.since(self.base).to_seconds();
        system + NtpDuration::from_seconds(self.offset + self.frequency * elapsed)
    }

    /// The transform in force: `(base, offset_s, frequency)` such that
    /// served = system + offset + frequency × (system − base). The daemon
    /// publishes exactly this to its serving threads.
    pub fn parameters(&self) -> (NtpTimestamp, f64, f64) {
        (self.base, self.offset, self.frequency)
    }

    /// Served minus system time now, seconds.
    pub fn correction(&self) -> f64 {
        self.correct((self.system)()).since((self.system)()).to_seconds()
    }
}

impl<F: Fn() -> NtpTimestamp> Clock for VirtualClock<F> {
    fn now(&self) -> NtpTimestamp {
        self.correct((self.system)())
    }

    fn frequency_ppm(&self) -> f64 {
        self.frequency * 1e6
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !ppm.is_finite() {
            return Err(ClockError("non-finite frequency".into()));
        }
        let now = (self.system)();
        self.offset += self.frequency * now.since(self.base).to_seconds();
        self.base = now;
        self.frequency = ppm * 1e-6;
        Ok(())
    }

    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        if !offset_s.is_finite() {
            return Err(ClockError("non-finite step".into()));
        }
        self.offset += offset_s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn frequency_and_steps_apply_to_served_time_only() {
        let sys = Rc::new(Cell::new(1_000.0f64));
        let ts = |s: f64| NtpTimestamp::from_bits((s * 4_294_967_296.0) as u64);
        let src = sys.clone();
        let mut c = VirtualClock::new(move || ts(src.get()));
        c.set_frequency(100.0).unwrap();
        sys.set(1_100.0);
        assert!((c.now().since(ts(1_100.0)).to_seconds() - 0.01).abs() < 1e-9);
        c.set_frequency(0.0).unwrap();
        c.step(-0.5).unwrap();
        sys.set(1_200.0);
        assert!((c.correction() + 0.49).abs() < 1e-9, "{}", c.correction());
        assert!((c.correct(ts(1_150.0)).since(ts(1_150.0)).to_seconds() + 0.49).abs() < 1e-9);
        assert!(c.set_frequency(f64::NAN).is_err());
    }
}
