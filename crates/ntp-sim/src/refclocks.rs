//! The receiver's reference clocks inside a run: the real
//! `ntp_proto::refclock::RefclockGroup` with its clocks registered in the
//! real engine, fed with the modelled pulses and sentences, polled at their
//! poll interval, and moved with the clock when the engine changes its
//! frequency or steps it — what the daemon's `sync::refclocks` adaptor does
//! with its drivers.

use crate::clock::{timestamp, SimClock};
use crate::receiver::Receiver;
use ntp_proto::refclock::{LocalSync, PulseConfig, RefclockConfig, RefclockGroup};
use ntp_proto::{LeapIndicator, NtpTimestamp, ReferenceId};
use ntp_sync::{Clock, ClockAction, Engine, SourceId, SourceParams};

/// Position of the NMEA clock in the group; the PPS clock is next.
const NMEA: usize = 0;
const PPS: usize = 1;

/// The NMEA clock and, with PPS, the pulse clock locked to it.
pub struct SimRefclocks {
    group: RefclockGroup,
    ids: Vec<SourceId>,
    /// Pulses the PPS clock could not use (no lock sample, disagreement).
    pub refused_pulses: u64,
    /// Samples the engine accepted.
    pub samples: u64,
}

impl SimRefclocks {
    /// Registers the receiver's clocks with `engine`; `precision` is the
    /// local clock's (log2 s).
    pub fn new(model: &Receiver, engine: &mut Engine, clock: &SimClock, precision: i8) -> SimRefclocks {
        let precision = 2f64.powi(i32::from(precision));
        let nmea = RefclockConfig {
            reference_id: ReferenceId::from_ascii("NMEA"),
            offset: model.nmea_offset,
            // chrony's FAQ for message-based time: `delay 0.1`.
            delay: 0.1,
            precision,
            ..RefclockConfig::default()
        };
        let mut clocks = vec![(nmea, None)];
        if model.pps {
            let pps = RefclockConfig {
                reference_id: ReferenceId::from_ascii("PPS"),
                precision,
                pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }),
                ..RefclockConfig::default()
            };
            clocks.push((pps, Some(NMEA)));
        }
        let ids = clocks
            .iter()
            .map(|(c, _)| {
                engine.add_source(SourceParams {
                    reference_id: Some(c.reference_id),
                    // With pulses, NMEA only names the seconds.
                    noselect: model.pps && c.pulse.is_none(),
                    refclock: true,
                    ..SourceParams::default()
                })
            })
            .collect();
        SimRefclocks {
            group: RefclockGroup::new(&clocks, clock.now(), clock.frequency_ppm()),
            ids,
            refused_pulses: 0,
            samples: 0,
        }
    }

    /// A pulse timestamped now.
    pub fn on_pulse(&mut self, clock: &SimClock) {
        let now = clock.now();
        let unused = LocalSync { synchronised: false, root_distance: f64::INFINITY, leap: LeapIndicator::NoWarning };
        if self.group.len() > PPS && self.group.add_pulse(PPS, now, None, unused, now).is_err() {
            self.refused_pulses += 1;
        }
    }

    /// The first sentence naming true second `second` arrives now.
    pub fn on_sentence(&mut self, second: f64, clock: &SimClock) {
        let now = clock.now();
        let offset = timestamp(second).since(now).to_seconds();
        let _ = self.group.add_sample(NMEA, now, offset, LeapIndicator::NoWarning, now);
    }

    /// The earliest poll (local time).
    pub fn next_poll_at(&self) -> Option<NtpTimestamp> {
        self.group.next_poll_at()
    }

    /// Runs the due polls; the engine's clock actions.
    pub fn poll(&mut self, engine: &mut Engine, clock: &mut SimClock) -> Vec<ClockAction> {
        let mut actions = Vec::new();
        while let Some((i, reach, sample)) = self.group.poll_next(clock.now()) {
            engine.update_reach(self.ids[i], reach);
            if let Some(s) = sample {
                let update = engine.on_sample(self.ids[i], &s, clock);
                self.samples += u64::from(update.accepted);
                let step = update.action.as_ref().map_or(0.0, ClockAction::clock_jump);
                self.clock_changed(clock, step);
                actions.extend(update.action);
            }
        }
        actions
    }

    /// The engine changed the clock's frequency and/or stepped it by `step`.
    pub fn clock_changed(&mut self, clock: &SimClock, step: f64) {
        self.group.clock_changed(clock.now(), clock.frequency_ppm(), step);
    }
}
