//! The receiver's reference clocks inside a run: the real
//! `ntp_proto::refclock::Refclock`s registered with the real engine, fed
//! with the modelled pulses and sentences, polled at their poll interval,
//! and moved with the clock when the engine changes its frequency or steps
//! it — what the daemon's `sync::refclocks` adaptor does with its drivers.

use crate::clock::{timestamp, SimClock};
use crate::receiver::Receiver;
use ntp_proto::refclock::{PulseConfig, PulseContext, Refclock, RefclockConfig};
use ntp_proto::{LeapIndicator, NtpTimestamp, ReferenceId};
use ntp_sync::{Clock, ClockAction, Engine, SourceId, SourceParams};

/// The NMEA clock and, with PPS, the pulse clock locked to it.
pub struct SimRefclocks {
    nmea: (Refclock, SourceId),
    pps: Option<(Refclock, SourceId)>,
    frequency_ppm: f64,
    /// Pulses the PPS clock could not use (no lock sample, disagreement).
    pub refused_pulses: u64,
    /// Samples handed to the engine.
    pub samples: u64,
}

impl SimRefclocks {
    /// Registers the receiver's clocks with `engine`; `precision` is the
    /// local clock's (log2 s).
    pub fn new(model: &Receiver, engine: &mut Engine, clock: &SimClock, precision: i8) -> SimRefclocks {
        let precision = 2f64.powi(i32::from(precision));
        let now = clock.now();
        let nmea_config = RefclockConfig {
            reference_id: ReferenceId::from_ascii("NMEA"),
            offset: model.nmea_offset,
            // chrony's FAQ for message-based time: `delay 0.1`.
            delay: 0.1,
            precision,
            ..RefclockConfig::default()
        };
        let nmea_id = engine.add_source(SourceParams {
            reference_id: Some(nmea_config.reference_id),
            noselect: model.pps,
            refclock: true,
            ..SourceParams::default()
        });
        let pps = model.pps.then(|| {
            let config = RefclockConfig {
                reference_id: ReferenceId::from_ascii("PPS"),
                precision,
                pulse: Some(PulseConfig { rate: 1, max_lock_age: 2 }),
                ..RefclockConfig::default()
            };
            let id = engine.add_source(SourceParams {
                reference_id: Some(config.reference_id),
                refclock: true,
                ..SourceParams::default()
            });
            (Refclock::new(config, now), id)
        });
        SimRefclocks {
            nmea: (Refclock::new(nmea_config, now), nmea_id),
            pps,
            frequency_ppm: clock.frequency_ppm(),
            refused_pulses: 0,
            samples: 0,
        }
    }

    /// A pulse timestamped now.
    pub fn on_pulse(&mut self, clock: &SimClock) {
        let Some((pps, _)) = self.pps.as_mut() else { return };
        let now = clock.now();
        let context = PulseContext::Lock(self.nmea.0.lock_reference(), self.nmea.0.leap());
        if pps.add_pulse(now, context, now).is_err() {
            self.refused_pulses += 1;
        }
    }

    /// The first sentence naming true second `second` arrives now.
    pub fn on_sentence(&mut self, second: f64, clock: &SimClock) {
        let now = clock.now();
        let offset = timestamp(second).since(now).to_seconds();
        let _ = self.nmea.0.add_sample(now, offset, LeapIndicator::NoWarning, now);
    }

    /// The earliest poll (local time).
    pub fn next_poll_at(&self) -> NtpTimestamp {
        let n = self.nmea.0.next_poll_at();
        self.pps.as_ref().map_or(n, |(p, _)| n.min(p.next_poll_at()))
    }

    /// Runs the due polls; the engine's clock actions.
    pub fn poll(&mut self, engine: &mut Engine, clock: &mut SimClock) -> Vec<ClockAction> {
        let mut actions = Vec::new();
        for which in 0..2 {
            let now = clock.now();
            let (rc, id) = match which {
                0 => (&mut self.nmea.0, self.nmea.1),
                _ => match self.pps.as_mut() {
                    Some((p, id)) => (p, *id),
                    None => continue,
                },
            };
            if now.since(rc.next_poll_at()).to_bits() < 0 {
                continue;
            }
            let sample = rc.handle_timeout(now);
            engine.update_reach(id, rc.reach());
            if let Some(s) = sample {
                let update = engine.on_sample(id, &s, clock);
                self.samples += u64::from(update.accepted);
                let step = match update.action {
                    Some(ClockAction::Stepped { offset }) => offset,
                    _ => 0.0,
                };
                self.clock_changed(clock, step);
                actions.extend(update.action);
            }
        }
        actions
    }

    /// The engine changed the clock's frequency and/or stepped it by `step`.
    pub fn clock_changed(&mut self, clock: &SimClock, step: f64) {
        let f = clock.frequency_ppm();
        let dfreq = (f - self.frequency_ppm) * 1e-6;
        self.frequency_ppm = f;
        if dfreq == 0.0 && step == 0.0 {
            return;
        }
        let now = clock.now();
        self.nmea.0.clock_changed(now, dfreq, step);
        if let Some((p, _)) = self.pps.as_mut() {
            p.clock_changed(now, dfreq, step);
        }
    }
}
