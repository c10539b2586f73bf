//! The simulated client clock: true time `t`, the clock's error (reading
//! minus true time), its own frequency error (a random walk updated every
//! true second by the run loop) and the correction the engine sets. It
//! implements `ntp_sync::Clock`, so the engine steers it exactly as it
//! would steer the kernel clock.

use ntp_proto::NtpTimestamp;
use ntp_sync::{Clock, ClockError};

/// NTP seconds of the simulation's time zero (2023-11-14, era 0).
pub const BASE_SECS: u64 = 3_909_000_000;

/// An NTP timestamp for `secs` seconds after the simulation's zero, built
/// from integer and fraction parts so no precision is lost to the base.
pub fn timestamp(secs: f64) -> NtpTimestamp {
    let whole = secs.floor();
    let frac = ((secs - whole) * 4_294_967_296.0).round() as u64;
    let whole = (BASE_SECS as i64 + whole as i64) as u64;
    NtpTimestamp::from_bits((whole << 32).wrapping_add(frac))
}

/// The model clock.
#[derive(Clone, Debug)]
pub struct SimClock {
    t: f64,
    error: f64,
    drift: f64,
    correction: f64,
    /// Steps applied.
    pub steps: u32,
    /// Leap seconds applied (not counted as steps).
    pub leaps: u32,
}

impl SimClock {
    /// A clock at true time 0 with the given error (s) and frequency error
    /// (s/s, positive = fast).
    pub fn new(error: f64, drift: f64) -> Self {
        SimClock { t: 0.0, error, drift, correction: 0.0, steps: 0, leaps: 0 }
    }

    /// The same clock, at true time `t` instead of 0.
    pub fn starting_at(self, t: f64) -> Self {
        SimClock { t, ..self }
    }

    /// True time.
    pub fn true_time(&self) -> f64 {
        self.t
    }

    /// Reading minus true time, s.
    pub fn error(&self) -> f64 {
        self.error
    }

    /// The clock's reading in seconds after the simulation's zero.
    pub fn local(&self) -> f64 {
        self.t + self.error
    }

    /// The rate of the reading relative to true time, minus one.
    pub fn rate(&self) -> f64 {
        self.drift + self.correction
    }

    /// Moves to true time `t` (never backwards).
    pub fn advance_to(&mut self, t: f64) {
        if t > self.t {
            self.error += self.rate() * (t - self.t);
            self.t = t;
        }
    }

    /// Steps the clock by `by` seconds behind the engine's back (someone
    /// else set the host clock): not counted as one of the engine's steps.
    pub fn jump(&mut self, by: f64) {
        self.error += by;
    }

    /// Adds `d` to the intrinsic frequency error (wander).
    pub fn wander(&mut self, d: f64) {
        self.drift += d;
    }

    /// The true time at which the reading will be `local` if the rate
    /// stays as it is now.
    pub fn true_time_of(&self, local: f64) -> f64 {
        self.t + (local - self.local()) / (1.0 + self.rate())
    }
}

impl Clock for SimClock {
    fn now(&self) -> NtpTimestamp {
        timestamp(self.local())
    }

    fn frequency_ppm(&self) -> f64 {
        self.correction * 1e6
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !ppm.is_finite() {
            return Err(ClockError("non-finite frequency".into()));
        }
        self.correction = ppm * 1e-6;
        Ok(())
    }

    fn step(&mut self, offset_s: f64) -> Result<(), ClockError> {
        if !offset_s.is_finite() {
            return Err(ClockError("non-finite step".into()));
        }
        self.error += offset_s;
        self.steps += 1;
        Ok(())
    }

    fn leap_second(&mut self, insert: bool) -> Result<(), ClockError> {
        self.error += if insert { -1.0 } else { 1.0 };
        self.leaps += 1;
        Ok(())
    }
}

/// Seconds after the simulation's zero of an NTP timestamp (near it).
pub fn seconds(ts: NtpTimestamp) -> f64 {
    ts.since(timestamp(0.0)).to_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_sub_nanosecond_precision() {
        let a = timestamp(123_456.000_000_001);
        let b = timestamp(123_456.0);
        let d = a.since(b).to_seconds();
        assert!((d - 1e-9).abs() < 1e-9, "{d}");
        assert!((seconds(a) - 123_456.000_000_001).abs() < 1e-8);
    }

    #[test]
    fn correction_and_steps_move_the_error() {
        let mut c = SimClock::new(0.0, 10e-6);
        c.set_frequency(-10.0).unwrap();
        c.advance_to(1000.0);
        assert!(c.error().abs() < 1e-12);
        c.step(0.5).unwrap();
        assert_eq!(c.error(), 0.5);
        let when = c.true_time_of(c.local() + 10.0);
        assert!((when - 1010.0).abs() < 1e-9);
    }
}
