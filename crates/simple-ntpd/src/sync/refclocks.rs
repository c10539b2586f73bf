//! Reference clocks in the synchronisation loop: the adaptor between the
//! driver threads (`crate::refclock`) and the engine. Each clock is an
//! `ntp_proto::refclock::Refclock` registered as an engine source
//! (`refclock: true`, so its stratum-0 samples make the daemon stratum 1);
//! readings are moved onto the steered clock's timeline as they arrive, and
//! at each of its polls the clock's filtered sample goes through
//! `Engine::on_sample` like a server's — same estimation, selection,
//! falseticker checks and discipline.
//!
//! The loop (`sync::task`) touches this in five places: it receives the
//! events ([`RefclockSources::on_event`]), runs the polls
//! ([`RefclockSources::poll_due`]) and their deadline
//! ([`RefclockSources::next_poll_at`]), reports every clock change
//! ([`RefclockSources::clock_changed`], from `on_action`), and lists the
//! clocks in the status ([`RefclockSources::report`]).

use std::sync::Arc;

use ntp_proto::refclock::{PulseContext, Refclock};
use ntp_proto::{LeapIndicator, NtpTimestamp};
use ntp_sync::{ClockAction, Engine, SourceId, SourceParams, SourceReport};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::drivers::DriverClock;
use crate::api::model::{RefclockStatus, Source, SourceState};
use crate::refclock::devices::Devices;
use crate::refclock::spec::RefclockSpec;
use crate::refclock::{Reading, RefclockEvent};

/// Readings that may wait for the loop.
const QUEUE: usize = 256;

struct Entry {
    spec: RefclockSpec,
    clock: Refclock,
    id: SourceId,
    reachable: bool,
    last_refusal: Option<String>,
}

/// Every reference clock of one synchronisation loop.
pub struct RefclockSources {
    entries: Vec<Entry>,
    devices: Option<Arc<Devices>>,
    /// Only unlocked PPS clocks and no other source: the host clock names
    /// the seconds (see `Config::pps_on_local_clock`).
    on_local_clock: bool,
    /// The steered clock's frequency when last seen, ppm.
    frequency_ppm: f64,
    /// Kept so the loop's receiver never reports a closed channel.
    _tx: mpsc::Sender<RefclockEvent>,
}

impl RefclockSources {
    /// Registers the clocks of `devices` with `engine` and attaches the
    /// drivers to the returned channel.
    pub fn new(
        devices: Option<Arc<Devices>>,
        on_local_clock: bool,
        engine: &mut Engine,
        clock: &dyn DriverClock,
    ) -> (RefclockSources, mpsc::Receiver<RefclockEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let now = clock.now();
        let specs = devices.as_ref().map(|d| d.specs().to_vec()).unwrap_or_default();
        let entries = specs
            .into_iter()
            .map(|spec| {
                let id = engine.add_source(SourceParams {
                    reference_id: Some(spec.clock.reference_id),
                    prefer: spec.prefer,
                    noselect: spec.noselect,
                    trust: spec.trust,
                    refclock: true,
                    ..SourceParams::default()
                });
                info!(refclock = %spec.name, driver = spec.driver.driver_name(), device = %spec.driver.device(), "reference clock added");
                Entry { clock: Refclock::new(spec.clock, now), spec, id, reachable: false, last_refusal: None }
            })
            .collect();
        if let Some(d) = &devices {
            d.attach(tx.clone());
        }
        let frequency_ppm = clock.frequency_ppm();
        (RefclockSources { entries, devices, on_local_clock, frequency_ppm, _tx: tx }, rx)
    }

    /// True when there are no reference clocks.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes a driver's reading: converts its system time to the steered
    /// clock and adds it to the clock's filter.
    pub fn on_event(&mut self, ev: RefclockEvent, clock: &dyn DriverClock, engine: &Engine) {
        let Some(entry) = self.entries.get(ev.index) else { return };
        let lock =
            entry.spec.lock.and_then(|j| self.entries.get(j)).map(|l| (l.clock.lock_reference(), l.clock.leap()));
        let correction = clock.correction();
        let now = clock.now();
        let system_state = engine.system_state();
        let context = match lock {
            Some((reference, leap)) => PulseContext::Lock(reference, leap),
            None if self.on_local_clock => {
                PulseContext::Local { synchronised: true, root_distance: 0.0, leap: LeapIndicator::NoWarning }
            }
            None => PulseContext::Local {
                synchronised: system_state.is_synchronised(),
                root_distance: system_state.root_distance_at(now),
                leap: system_state.leap,
            },
        };
        let entry = &mut self.entries[ev.index];
        let result = match ev.reading {
            Reading::Sample { system, offset, leap } => {
                let cooked = correction.apply(system);
                entry.clock.add_sample(cooked, offset - cooked.since(system).to_seconds(), leap, now)
            }
            Reading::Pulse { system, offset: None } => entry.clock.add_pulse(correction.apply(system), context, now),
            Reading::Pulse { system, offset: Some(offset) } => {
                let cooked = correction.apply(system);
                entry.clock.add_pulse_with_offset(cooked, offset - cooked.since(system).to_seconds(), context, now)
            }
        };
        match result {
            Ok(()) => entry.last_refusal = None,
            Err(why) => {
                let text = why.to_string();
                // Log when the reason changes, not for every pulse.
                let kind = text.split(':').next().map(str::to_owned);
                if entry.last_refusal.as_ref().and_then(|t| t.split(':').next().map(str::to_owned)) != kind {
                    info!(refclock = %entry.spec.name, "reading not used: {text}");
                } else {
                    debug!(refclock = %entry.spec.name, "reading not used: {text}");
                }
                entry.last_refusal = Some(text);
            }
        }
    }

    /// Runs the clocks' due polls; each filtered sample goes to the engine.
    /// Returns the engine's clock actions for the loop's `on_action`.
    pub fn poll_due(&mut self, engine: &mut Engine, clock: &mut dyn DriverClock) -> Vec<ClockAction> {
        let mut actions = Vec::new();
        for i in 0..self.entries.len() {
            let now = clock.now();
            let e = &mut self.entries[i];
            if now.since(e.clock.next_poll_at()).to_bits() < 0 {
                continue;
            }
            let sample = e.clock.handle_timeout(now);
            engine.update_reach(e.id, e.clock.reach());
            let reachable = e.clock.reach().is_reachable();
            if reachable != e.reachable {
                e.reachable = reachable;
                if reachable {
                    info!(refclock = %e.spec.name, "reference clock reachable");
                } else {
                    warn!(refclock = %e.spec.name, "reference clock unreachable (no usable samples)");
                }
            }
            if let Some(s) = sample {
                let id = e.id;
                let update = engine.on_sample(id, &s, clock);
                // Frequency changes are applied to the other clocks' samples
                // right away, before any later reading arrives.
                self.clock_changed(clock, 0.0);
                actions.extend(update.action);
            }
        }
        actions
    }

    /// The earliest due poll.
    pub fn next_poll_at(&self) -> Option<NtpTimestamp> {
        self.entries.iter().map(|e| e.clock.next_poll_at()).min_by_key(|t| t.to_bits())
    }

    /// The steered clock stepped by `step` s and/or changed frequency: the
    /// samples waiting in the filters move with it. Call after every
    /// engine update (the loop's `on_action`).
    pub fn clock_changed(&mut self, clock: &dyn DriverClock, step: f64) {
        let f = clock.frequency_ppm();
        let dfreq = (f - self.frequency_ppm) * 1e-6;
        self.frequency_ppm = f;
        if dfreq == 0.0 && step == 0.0 {
            return;
        }
        let now = clock.now();
        for e in &mut self.entries {
            e.clock.clock_changed(now, dfreq, step);
        }
    }

    /// The name of the clock registered as `id`.
    pub fn name_of(&self, id: SourceId) -> Option<&str> {
        self.entries.iter().find(|e| e.id == id).map(|e| e.spec.name.as_str())
    }

    /// One status row per clock.
    pub fn report(&self, reports: &[SourceReport], now: NtpTimestamp) -> Vec<Source> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let r = reports.iter().find(|r| r.id == e.id);
                let health = self.devices.as_ref().and_then(|d| d.health(i)).map(|h| h.report());
                let counters = e.clock.counters();
                let last = e.clock.last_filtered();
                Source {
                    name: e.spec.name.clone(),
                    address: Some(e.spec.driver.device()),
                    stratum: e.spec.clock.stratum,
                    reachability: e.clock.reach().bits(),
                    poll_seconds: 2f64.powi(i32::from(e.spec.clock.poll)),
                    offset_seconds: r.filter(|r| r.samples > 0).map_or(0.0, |r| r.offset),
                    delay_seconds: e.spec.clock.delay,
                    jitter_seconds: last.map_or(0.0, |f| f.jitter),
                    state: r.map_or(SourceState::Pending, |r| super::task::map_state(r.state)),
                    last_response_seconds_ago: last.map(|f| now.since(f.time).to_seconds().max(0.0)),
                    refclock: Some(RefclockStatus {
                        driver: e.spec.driver.driver_name().to_owned(),
                        status: health.as_ref().map_or("starting", |h| h.state.name()).to_owned(),
                        message: health.as_ref().and_then(|h| h.message.clone()),
                        readings: health.as_ref().map_or(0, |h| h.readings),
                        bad_input: health.as_ref().map_or(0, |h| h.bad_input),
                        refused: counters.refused,
                        last_refusal: e.last_refusal.clone(),
                    }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
