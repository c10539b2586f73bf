//! The reference clocks of one synchronisation engine, together: a PPS
//! clock's `lock` is resolved to its sibling's latest sample, polls come
//! due one clock at a time (so each engine update can move the others'
//! waiting samples before their turn), and every change the engine makes
//! to the clock — frequency or step — reaches every clock's filter. The
//! daemon's sync loop and the simulator both drive this.

use super::instance::{PulseContext, Refclock, RefclockConfig, Refused};
use crate::packet::LeapIndicator;
use crate::source::{Reach, Sample};
use crate::timestamp::NtpTimestamp;

/// The local clock's synchronisation, for pulses without a lock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalSync {
    /// The engine is synchronised (or the host clock is trusted for the
    /// seconds, when a PPS is the only source).
    pub synchronised: bool,
    /// Its root distance, s.
    pub root_distance: f64,
    /// Its leap indicator.
    pub leap: LeapIndicator,
}

/// Clocks and their locks.
#[derive(Clone, Debug)]
pub struct RefclockGroup {
    clocks: Vec<Refclock>,
    locks: Vec<Option<usize>>,
    frequency_ppm: f64,
}

impl RefclockGroup {
    /// Clocks with their locks (positions in the same list); their first
    /// polls one interval after `now`; `frequency_ppm` is the steered
    /// clock's frequency correction now.
    pub fn new(clocks: &[(RefclockConfig, Option<usize>)], now: NtpTimestamp, frequency_ppm: f64) -> Self {
        RefclockGroup {
            locks: clocks.iter().enumerate().map(|(i, (_, l))| l.filter(|&l| l != i && l < clocks.len())).collect(),
            clocks: clocks.iter().map(|(c, _)| Refclock::new(*c, now)).collect(),
            frequency_ppm,
        }
    }

    /// Number of clocks.
    pub fn len(&self) -> usize {
        self.clocks.len()
    }

    /// True without clocks.
    pub fn is_empty(&self) -> bool {
        self.clocks.is_empty()
    }

    /// Clock `i`.
    pub fn get(&self, i: usize) -> Option<&Refclock> {
        self.clocks.get(i)
    }

    /// A raw sample of clock `i` (see [`Refclock::add_sample`]).
    pub fn add_sample(
        &mut self,
        i: usize,
        time: NtpTimestamp,
        offset: f64,
        leap: LeapIndicator,
        now: NtpTimestamp,
    ) -> Result<(), Refused> {
        match self.clocks.get_mut(i) {
            Some(c) => c.add_sample(time, offset, leap, now),
            None => Err(Refused::Insane),
        }
    }

    /// A pulse edge of clock `i` at `edge`; `offset` when the sender gave
    /// the offset modulo the pulse interval. The second comes from the
    /// clock's lock, else from `local`.
    pub fn add_pulse(
        &mut self,
        i: usize,
        edge: NtpTimestamp,
        offset: Option<f64>,
        local: LocalSync,
        now: NtpTimestamp,
    ) -> Result<(), Refused> {
        let context = match self.locks.get(i).copied().flatten().and_then(|l| self.clocks.get(l)) {
            Some(lock) => PulseContext::Lock(lock.lock_reference(), lock.leap()),
            None => PulseContext::Local {
                synchronised: local.synchronised,
                root_distance: local.root_distance,
                leap: local.leap,
            },
        };
        let Some(c) = self.clocks.get_mut(i) else { return Err(Refused::Insane) };
        match offset {
            None => c.add_pulse(edge, context, now),
            Some(o) => c.add_pulse_with_offset(edge, o, context, now),
        }
    }

    /// The next clock whose poll is due at `now`: its position, its new
    /// reachability, and its combined sample if the poll had samples. Call
    /// until `None`, handing each sample to the engine before the next.
    pub fn poll_next(&mut self, now: NtpTimestamp) -> Option<(usize, Reach, Option<Sample>)> {
        let i = self.clocks.iter().position(|c| now.since(c.next_poll_at()).to_bits() >= 0)?;
        let sample = self.clocks[i].handle_timeout(now);
        Some((i, self.clocks[i].reach(), sample))
    }

    /// The earliest poll.
    pub fn next_poll_at(&self) -> Option<NtpTimestamp> {
        self.clocks.iter().map(Refclock::next_poll_at).min_by_key(|t| t.to_bits())
    }

    /// The steered clock now has frequency correction `frequency_ppm` and
    /// was stepped by `step` s (at `now`): the waiting samples follow. Call
    /// after every engine update.
    pub fn clock_changed(&mut self, now: NtpTimestamp, frequency_ppm: f64, step: f64) {
        let dfreq = (frequency_ppm - self.frequency_ppm) * 1e-6;
        self.frequency_ppm = frequency_ppm;
        if dfreq == 0.0 && step == 0.0 {
            return;
        }
        for c in &mut self.clocks {
            c.clock_changed(now, dfreq, step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refclock::PulseConfig;
    use crate::timestamp::NtpDuration;
    use crate::ReferenceId;

    fn at(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_767_225_600, 0) + NtpDuration::from_seconds(s)
    }

    #[test]
    fn locks_resolve_polls_come_one_at_a_time_and_changes_reach_all() {
        let nmea = RefclockConfig { reference_id: ReferenceId::from_ascii("NMEA"), ..RefclockConfig::default() };
        let pps = RefclockConfig {
            reference_id: ReferenceId::from_ascii("PPS"),
            pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }),
            ..RefclockConfig::default()
        };
        let mut g = RefclockGroup::new(&[(nmea, None), (pps, Some(0)), (nmea, Some(2))], at(0.0), 0.0);
        let unsynced = LocalSync { synchronised: false, root_distance: 9.0, leap: LeapIndicator::NoWarning };
        assert!(g.add_pulse(1, at(1.0), None, unsynced, at(1.1)).is_err(), "no NMEA sample to lock to yet");
        g.add_sample(0, at(1.2), 2.01, LeapIndicator::NoWarning, at(1.2)).unwrap();
        g.add_pulse(1, at(2.0), None, unsynced, at(2.1)).unwrap();
        g.add_sample(0, at(2.2), 2.01, LeapIndicator::NoWarning, at(2.2)).unwrap();
        assert_eq!(g.next_poll_at(), Some(at(16.0)));
        g.clock_changed(at(3.0), 0.0, 2.0);
        let (i, reach, s) = g.poll_next(at(18.0)).unwrap();
        assert!(i == 0 && reach.is_reachable());
        assert!(s.unwrap().offset.abs() < 0.02, "the step moved the waiting samples");
        let (i, _, s) = g.poll_next(at(18.0)).unwrap();
        assert_eq!(i, 1);
        assert!(s.unwrap().offset.abs() < 1e-9, "the pulse took its second from NMEA, then moved with the step");
        assert_eq!(g.poll_next(at(18.0)).map(|p| p.0), Some(2), "a self-lock is ignored");
        assert_eq!(g.poll_next(at(18.0)), None);
        assert_eq!(g.add_sample(7, at(1.0), 0.0, LeapIndicator::NoWarning, at(1.0)), Err(Refused::Insane));
    }
}
