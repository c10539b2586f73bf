//! One reference clock as the synchronisation engine sees it: the sans-IO
//! counterpart of an upstream server's poller. Its driver (shared memory,
//! socket, serial NMEA, PPS device — IO the daemon or the simulator does)
//! hands in raw samples and pulse edges on the local clock's timeline; at
//! every poll ([`Refclock::handle_timeout`]) the median filter reduces them
//! to one [`Sample`] for the engine, which treats it like any server's:
//! the same estimation, selection (falsetickers, `prefer`) and discipline.
//! A refclock's samples have stratum `stratum` (0 by default, so the
//! daemon serves stratum 1), its reference id, a root delay of `delay`,
//! and no root dispersion beyond their own.

use super::filter::{FilterSample, Filtered, MedianFilter};
use super::pulse::{self, LockReference, PulseError};
use crate::packet::{LeapIndicator, ReferenceId};
use crate::source::{FilterStats, Reach, Sample};
use crate::timestamp::{NtpDuration, NtpTimestamp};

/// √12: a uniform error of width w has standard deviation w/√12; the
/// engine reads a sample's dispersion that way.
const SQRT_12: f64 = 3.464_101_615_137_754_6;
/// Samples stamped this much after `now` are still taken (clock reading
/// order), seconds.
const FUTURE_TOLERANCE: f64 = 1e-3;

/// Settings of one reference clock (chrony's `refclock` options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefclockConfig {
    /// Reference id served when it is the system peer.
    pub reference_id: ReferenceId,
    /// log2 s between samples handed to the engine.
    pub poll: i8,
    /// Most raw samples kept per poll.
    pub filter: usize,
    /// Added to every raw offset (receiver latency, cable delay), s.
    pub offset: f64,
    /// Assumed round-trip delay (root delay), s.
    pub delay: f64,
    /// Precision of the raw samples, s (at least the local clock's).
    pub precision: f64,
    /// Stratum of the clock itself (served stratum − 1).
    pub stratum: u8,
    /// Drop a poll whose samples are noisier than this, s (0: no limit).
    pub max_dispersion: f64,
    /// A pulse-per-second clock.
    pub pulse: Option<PulseConfig>,
}

impl Default for RefclockConfig {
    fn default() -> Self {
        RefclockConfig {
            reference_id: ReferenceId(*b"REF\0"),
            poll: 4,
            filter: 64,
            offset: 0.0,
            delay: 1e-9,
            precision: 1e-6,
            stratum: 0,
            max_dispersion: 0.0,
            pulse: None,
        }
    }
}

/// Settings of a pulse-per-second clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PulseConfig {
    /// Pulses per second.
    pub rate: u32,
    /// The lock clock's sample may be at most this many pulses from the edge.
    pub max_lock_age: u32,
}

/// Who says which second a pulse belongs to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PulseContext {
    /// The locked reference clock: its latest sample and leap indicator.
    Lock(Option<LockReference>, LeapIndicator),
    /// The local clock's own synchronisation state.
    Local {
        /// The engine is synchronised.
        synchronised: bool,
        /// Its root distance, s.
        root_distance: f64,
        /// Its leap indicator.
        leap: LeapIndicator,
    },
}

/// Why a raw sample was not taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refused {
    /// Its time is in the future or older than two polls (`age`, s).
    Age(f64),
    /// Not later than the previous sample.
    NotIncreasing,
    /// Not a finite offset.
    Insane,
    /// A pulse could not be given its second.
    Pulse(PulseError),
    /// A pulse for a clock that is not configured as a pulse clock.
    NotAPulseClock,
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refused::Age(age) => write!(f, "sample time is {age:.3} s old (future, or older than two polls)"),
            Refused::NotIncreasing => f.write_str("sample is not later than the previous one"),
            Refused::Insane => f.write_str("offset is not a finite number"),
            Refused::Pulse(e) => write!(f, "pulse not used: {e}"),
            Refused::NotAPulseClock => f.write_str("a pulse sample for a clock that is not a PPS clock"),
        }
    }
}

/// Counters for the status display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefclockCounters {
    /// Raw samples and pulses taken.
    pub accepted: u64,
    /// Raw samples and pulses refused.
    pub refused: u64,
    /// Polls that produced a sample for the engine.
    pub filtered: u64,
}

/// One reference clock.
#[derive(Clone, Debug)]
pub struct Refclock {
    config: RefclockConfig,
    filter: MedianFilter,
    reach: Reach,
    reached: bool,
    next_poll: NtpTimestamp,
    leap: LeapIndicator,
    counters: RefclockCounters,
    last_filtered: Option<Filtered>,
}

impl Refclock {
    /// A clock whose first poll is one poll interval after `now`.
    pub fn new(config: RefclockConfig, now: NtpTimestamp) -> Self {
        let precision = config.precision.max(1e-9);
        Refclock {
            filter: MedianFilter::new(config.filter, precision, config.max_dispersion),
            config,
            reach: Reach::new(),
            reached: false,
            next_poll: now + NtpDuration::from_seconds(Self::interval(config.poll)),
            leap: LeapIndicator::NoWarning,
            counters: RefclockCounters::default(),
            last_filtered: None,
        }
    }

    fn interval(poll: i8) -> f64 {
        2f64.powi(i32::from(poll.clamp(-6, 17)))
    }

    /// The settings.
    pub fn config(&self) -> &RefclockConfig {
        &self.config
    }

    /// The reachability register: one bit per poll, set when samples came.
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// Counters.
    pub fn counters(&self) -> RefclockCounters {
        self.counters
    }

    /// The last poll's combined sample.
    pub fn last_filtered(&self) -> Option<Filtered> {
        self.last_filtered
    }

    /// The leap indicator of the latest sample.
    pub fn leap(&self) -> LeapIndicator {
        self.leap
    }

    fn check_age(&self, time: NtpTimestamp, now: NtpTimestamp) -> Result<(), Refused> {
        let age = now.since(time).to_seconds();
        if age < -FUTURE_TOLERANCE || age > Self::interval(self.config.poll.saturating_add(1)) {
            return Err(Refused::Age(age));
        }
        Ok(())
    }

    fn accumulate(&mut self, time: NtpTimestamp, offset: f64, leap: LeapIndicator) -> Result<(), Refused> {
        if !self.filter.add(FilterSample { time, offset, dispersion: self.config.precision }) {
            return Err(Refused::NotIncreasing);
        }
        self.leap = leap;
        self.reached = true;
        Ok(())
    }

    fn count(&mut self, r: Result<(), Refused>) -> Result<(), Refused> {
        match r {
            Ok(()) => self.counters.accepted += 1,
            Err(_) => self.counters.refused += 1,
        }
        r
    }

    /// A raw sample: at local time `time` the reference read `offset`
    /// seconds ahead of the local clock (before the configured `offset`).
    pub fn add_sample(
        &mut self,
        time: NtpTimestamp,
        offset: f64,
        leap: LeapIndicator,
        now: NtpTimestamp,
    ) -> Result<(), Refused> {
        let r = (|| {
            if !offset.is_finite() {
                return Err(Refused::Insane);
            }
            self.check_age(time, now)?;
            self.accumulate(time, offset + self.config.offset, leap)
        })();
        self.count(r)
    }

    /// A pulse edge at local time `edge` (a PPS device's timestamp).
    pub fn add_pulse(&mut self, edge: NtpTimestamp, context: PulseContext, now: NtpTimestamp) -> Result<(), Refused> {
        let rate = self.config.pulse.map_or(1, |p| p.rate);
        let offset = pulse::edge_offset(edge, self.config.offset, rate);
        self.add_pulse_offset(edge, offset, context, now)
    }

    /// A pulse whose offset is known only modulo the pulse interval (a SOCK
    /// sample with `pulse` set): `offset` = reference − local at `edge`.
    pub fn add_pulse_with_offset(
        &mut self,
        edge: NtpTimestamp,
        offset: f64,
        context: PulseContext,
        now: NtpTimestamp,
    ) -> Result<(), Refused> {
        let rate = self.config.pulse.map_or(1, |p| p.rate);
        let folded = pulse::fold(offset + self.config.offset, f64::from(rate.max(1)));
        self.add_pulse_offset(edge, folded, context, now)
    }

    fn add_pulse_offset(
        &mut self,
        edge: NtpTimestamp,
        offset: f64,
        context: PulseContext,
        now: NtpTimestamp,
    ) -> Result<(), Refused> {
        let r = (|| {
            let Some(p) = self.config.pulse else { return Err(Refused::NotAPulseClock) };
            if !offset.is_finite() {
                return Err(Refused::Insane);
            }
            self.check_age(edge, now)?;
            let (offset, leap) = match context {
                PulseContext::Lock(reference, leap) => {
                    let aligned =
                        pulse::align_to_lock(offset, edge, self.config.precision, reference, p.rate, p.max_lock_age)
                            .map_err(Refused::Pulse)?;
                    (aligned, leap)
                }
                PulseContext::Local { synchronised, root_distance, leap } => {
                    if let Err(e) = pulse::check_unlocked(synchronised, root_distance, p.rate) {
                        // Its stored samples may be on the wrong second too.
                        self.filter.reset();
                        return Err(Refused::Pulse(e));
                    }
                    (offset, leap)
                }
            };
            self.accumulate(edge, offset, leap)
        })();
        self.count(r)
    }

    /// What a pulse clock locked to this one needs: the latest raw sample
    /// and this clock's usual noise.
    pub fn lock_reference(&self) -> Option<LockReference> {
        self.filter.last().map(|s| LockReference {
            time: s.time,
            offset: s.offset,
            dispersion: s.dispersion + self.filter.average_dispersion(),
        })
    }

    /// When [`Self::handle_timeout`] must run next.
    pub fn next_poll_at(&self) -> NtpTimestamp {
        self.next_poll
    }

    /// Runs the poll if it is due: shifts the reachability register and
    /// returns the combined sample for the engine, if the poll had samples.
    pub fn handle_timeout(&mut self, now: NtpTimestamp) -> Option<Sample> {
        if now.since(self.next_poll).to_bits() < 0 {
            return None;
        }
        let interval = Self::interval(self.config.poll);
        self.next_poll = self.next_poll + NtpDuration::from_seconds(interval);
        if now.since(self.next_poll).to_bits() >= 0 {
            // Far behind (a suspended process, a clock step): restart the schedule.
            self.next_poll = now + NtpDuration::from_seconds(interval);
        }
        self.reach.on_transmit();
        if std::mem::take(&mut self.reached) {
            self.reach.on_reply();
        }
        let f = self.filter.take()?;
        self.counters.filtered += 1;
        self.last_filtered = Some(f);
        Some(self.sample(&f))
    }

    fn sample(&self, f: &Filtered) -> Sample {
        let c = &self.config;
        let dispersion = (f.error * SQRT_12).max(f.dispersion);
        Sample {
            offset: f.offset,
            delay: c.delay,
            dispersion,
            time: f.time,
            leap: self.leap,
            stratum: c.stratum,
            reference_id: c.reference_id,
            reference_time: f.time,
            root_delay: 0.0,
            root_dispersion: 0.0,
            precision: c.precision.max(1e-9).log2().floor().clamp(-32.0, 0.0) as i8,
            poll: c.poll,
            filter: FilterStats {
                offset: f.offset,
                delay: c.delay,
                dispersion,
                jitter: f.jitter,
                samples: f.used.min(8),
                time: f.time,
            },
            interleaved: false,
        }
    }

    /// The local clock changed at `when`: rate by `dfreq` (s/s), reading by
    /// `step` s. Waiting samples move with it.
    pub fn clock_changed(&mut self, when: NtpTimestamp, dfreq: f64, step: f64) {
        self.filter.clock_changed(when, dfreq, step);
        if step != 0.0 {
            self.next_poll = self.next_poll + NtpDuration::from_seconds(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_767_225_600, 0) + NtpDuration::from_seconds(s)
    }

    fn gps() -> RefclockConfig {
        RefclockConfig { reference_id: ReferenceId::from_ascii("GPS"), ..RefclockConfig::default() }
    }

    #[test]
    fn a_poll_of_samples_becomes_one_stratum_0_sample() {
        let mut c = Refclock::new(RefclockConfig { offset: 0.1, delay: 0.2, ..gps() }, at(0.0));
        assert_eq!(c.next_poll_at(), at(16.0));
        for i in 0..16 {
            let t = at(f64::from(i) + 0.5);
            c.add_sample(t, -0.1 + 0.002 + if i % 2 == 0 { 1e-4 } else { -1e-4 }, LeapIndicator::NoWarning, t).unwrap();
        }
        assert_eq!(c.handle_timeout(at(15.9)), None, "not due yet");
        let s = c.handle_timeout(at(16.0)).unwrap();
        assert!((s.offset - 0.002).abs() < 2e-5, "offset option applied: {}", s.offset);
        assert_eq!((s.stratum, s.reference_id, s.delay, s.root_delay), (0, ReferenceId::from_ascii("GPS"), 0.2, 0.0));
        assert!(s.dispersion > 0.0 && s.dispersion < 1e-3, "{}", s.dispersion);
        assert_eq!(s.precision, -20);
        assert!(c.reach().is_reachable());
        assert_eq!(c.counters(), RefclockCounters { accepted: 16, refused: 0, filtered: 1 });
        // No samples for four polls: unreachable, and no sample.
        for k in 2..6 {
            assert_eq!(c.handle_timeout(at(16.0 * f64::from(k))), None);
        }
        assert!(c.reach().is_unreachable());
    }

    #[test]
    fn stale_future_and_insane_samples_are_refused() {
        let mut c = Refclock::new(gps(), at(0.0));
        let now = at(100.0);
        assert_eq!(c.add_sample(at(60.0), 0.0, LeapIndicator::NoWarning, now), Err(Refused::Age(40.0)));
        assert!(matches!(c.add_sample(at(101.0), 0.0, LeapIndicator::NoWarning, now), Err(Refused::Age(_))));
        assert_eq!(c.add_sample(at(99.0), f64::NAN, LeapIndicator::NoWarning, now), Err(Refused::Insane));
        c.add_sample(at(99.0), 0.0, LeapIndicator::NoWarning, now).unwrap();
        assert_eq!(c.add_sample(at(99.0), 0.0, LeapIndicator::NoWarning, now), Err(Refused::NotIncreasing));
        assert_eq!(c.counters().refused, 4);
        assert!(matches!(
            c.add_pulse(at(99.5), PulseContext::Lock(None, LeapIndicator::NoWarning), now),
            Err(Refused::NotAPulseClock)
        ));
    }

    #[test]
    fn pulses_take_their_seconds_from_the_locked_clock() {
        let pps = RefclockConfig {
            reference_id: ReferenceId::from_ascii("PPS"),
            pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }),
            ..RefclockConfig::default()
        };
        let mut nmea =
            Refclock::new(RefclockConfig { reference_id: ReferenceId::from_ascii("NMEA"), ..gps() }, at(0.0));
        let mut p = Refclock::new(pps, at(0.0));
        // The local clock is 3.000 200 s slow. NMEA (after its offset) says
        // 3.01 s; each pulse arrives when the local clock reads x.999 800.
        for i in 1..=16 {
            let edge = at(f64::from(i) - 0.0002);
            let nmea_t = at(f64::from(i) + 0.13);
            let lock = nmea.lock_reference();
            let r = p.add_pulse(edge, PulseContext::Lock(lock, nmea.leap()), nmea_t);
            assert_eq!(r.is_ok(), i > 1, "the first pulse has no NMEA sample yet: {r:?}");
            nmea.add_sample(nmea_t, 3.01, LeapIndicator::Insert, nmea_t).unwrap();
        }
        let s = p.handle_timeout(at(16.5)).unwrap();
        assert!((s.offset - 3.0002).abs() < 1e-9, "{}", s.offset);
        assert_eq!(s.leap, LeapIndicator::Insert, "the leap warning comes from the lock");
        assert!(s.dispersion < 1e-5, "{}", s.dispersion);
    }

    #[test]
    fn unlocked_pulses_need_a_synchronised_clock_and_drop_samples_otherwise() {
        let cfg = RefclockConfig { pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }), ..gps() };
        let mut p = Refclock::new(cfg, at(0.0));
        let good = PulseContext::Local { synchronised: true, root_distance: 0.01, leap: LeapIndicator::NoWarning };
        p.add_pulse(at(1.000_05), good, at(1.1)).unwrap();
        p.add_pulse(at(2.000_05), good, at(2.1)).unwrap();
        let bad = PulseContext::Local { synchronised: false, root_distance: 0.01, leap: LeapIndicator::NoWarning };
        assert!(matches!(p.add_pulse(at(3.000_05), bad, at(3.1)), Err(Refused::Pulse(PulseError::NotSynchronised))));
        assert_eq!(p.handle_timeout(at(16.0)), None, "stored pulses were dropped with the synchronisation");
        p.add_pulse(at(17.000_05), good, at(17.1)).unwrap();
        let s = p.handle_timeout(at(32.0)).unwrap();
        assert!((s.offset + 0.000_05).abs() < 1e-9);
    }

    #[test]
    fn sock_pulses_fold_their_offset() {
        let cfg = RefclockConfig { pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }), ..gps() };
        let mut p = Refclock::new(cfg, at(0.0));
        let good = PulseContext::Local { synchronised: true, root_distance: 0.01, leap: LeapIndicator::NoWarning };
        p.add_pulse_with_offset(at(1.0), 5.000_3, good, at(1.1)).unwrap();
        assert!((p.handle_timeout(at(16.0)).unwrap().offset - 0.000_3).abs() < 1e-9);
    }

    #[test]
    fn a_step_moves_samples_and_the_schedule() {
        let mut c = Refclock::new(gps(), at(0.0));
        c.add_sample(at(1.0), 0.5, LeapIndicator::NoWarning, at(1.0)).unwrap();
        c.clock_changed(at(2.0), 0.0, 0.5);
        assert_eq!(c.next_poll_at(), at(16.5));
        let s = c.handle_timeout(at(16.5)).unwrap();
        assert!(s.offset.abs() < 1e-9 && s.time == at(1.5), "{s:?}");
    }
}
