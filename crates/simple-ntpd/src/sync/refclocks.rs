//! Reference clocks in the synchronisation loop: the adaptor between the
//! driver threads (`crate::refclock`) and the engine. The clocks are an
//! `ntp_proto::refclock::RefclockGroup`, each registered as an engine
//! source (`refclock: true`, so its stratum-0 samples make the daemon
//! stratum 1); readings are moved onto the steered clock's timeline as they
//! arrive, and at each of its polls a clock's filtered sample goes through
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

use ntp_proto::refclock::{LocalSync, RefclockGroup};
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
    id: SourceId,
    reachable: bool,
    last_refusal: Option<String>,
}

/// Every reference clock of one synchronisation loop.
pub struct RefclockSources {
    group: RefclockGroup,
    entries: Vec<Entry>,
    devices: Option<Arc<Devices>>,
    /// Only unlocked PPS clocks and no other source: the host clock names
    /// the seconds (see `Config::pps_on_local_clock`).
    on_local_clock: bool,
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
        let specs = devices.as_ref().map(|d| d.specs().to_vec()).unwrap_or_default();
        let configs: Vec<_> = specs.iter().map(|s| (s.clock, s.lock)).collect();
        let group = RefclockGroup::new(&configs, clock.now(), clock.frequency_ppm());
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
                Entry { spec, id, reachable: false, last_refusal: None }
            })
            .collect();
        if let Some(d) = &devices {
            d.attach(tx.clone());
        }
        (RefclockSources { group, entries, devices, on_local_clock, _tx: tx }, rx)
    }

    /// Takes a driver's reading: converts its system time to the steered
    /// clock and adds it to the clock's filter.
    pub fn on_event(&mut self, ev: RefclockEvent, clock: &dyn DriverClock, engine: &Engine) {
        if ev.index >= self.entries.len() {
            return;
        }
        let correction = clock.correction();
        let now = clock.now();
        let st = engine.system_state();
        let local = if self.on_local_clock {
            LocalSync { synchronised: true, root_distance: 0.0, leap: LeapIndicator::NoWarning }
        } else {
            LocalSync { synchronised: st.is_synchronised(), root_distance: st.root_distance_at(now), leap: st.leap }
        };
        // Offsets were measured against the system clock: re-express them
        // against the steered clock at the same instant.
        let (cooked, result) = match ev.reading {
            Reading::Sample { system, offset, leap } => {
                let cooked = correction.apply(system);
                let offset = offset - cooked.since(system).to_seconds();
                (cooked, self.group.add_sample(ev.index, cooked, offset, leap, now))
            }
            Reading::Pulse { system, offset } => {
                let cooked = correction.apply(system);
                let offset = offset.map(|o| o - cooked.since(system).to_seconds());
                (cooked, self.group.add_pulse(ev.index, cooked, offset, local, now))
            }
        };
        let entry = &mut self.entries[ev.index];
        match result {
            Ok(()) => entry.last_refusal = None,
            Err(why) => {
                let text = why.to_string();
                // Log when the kind of reason changes, not for every pulse.
                let kind = |t: &str| t.split(':').next().map(str::to_owned);
                if entry.last_refusal.as_deref().and_then(kind) != kind(&text) {
                    info!(refclock = %entry.spec.name, "reading not used: {text}");
                } else {
                    debug!(refclock = %entry.spec.name, at = ?cooked, "reading not used: {text}");
                }
                entry.last_refusal = Some(text);
            }
        }
    }

    /// Runs the clocks' due polls; each filtered sample goes to the engine.
    /// Returns the engine's clock actions for the loop's `on_action`.
    pub fn poll_due(&mut self, engine: &mut Engine, clock: &mut dyn DriverClock) -> Vec<ClockAction> {
        let mut actions = Vec::new();
        while let Some((i, reach, sample)) = self.group.poll_next(clock.now()) {
            let e = &mut self.entries[i];
            engine.update_reach(e.id, reach);
            if reach.is_reachable() != e.reachable {
                e.reachable = reach.is_reachable();
                if e.reachable {
                    info!(refclock = %e.spec.name, "reference clock reachable");
                } else {
                    warn!(refclock = %e.spec.name, "reference clock unreachable (no usable samples)");
                }
            }
            if let Some(s) = sample {
                let update = engine.on_sample(e.id, &s, clock);
                let step = update.action.as_ref().map_or(0.0, ClockAction::clock_jump);
                // Before the next clock's poll: its samples follow the change.
                self.clock_changed(clock, step);
                actions.extend(update.action);
            }
        }
        actions
    }

    /// The earliest due poll.
    pub fn next_poll_at(&self) -> Option<NtpTimestamp> {
        self.group.next_poll_at()
    }

    /// The steered clock stepped by `step` s and/or changed frequency: the
    /// samples waiting in the filters move with it. Call after every
    /// engine update (the loop's `on_action`).
    pub fn clock_changed(&mut self, clock: &dyn DriverClock, step: f64) {
        self.group.clock_changed(clock.now(), clock.frequency_ppm(), step);
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
            .filter_map(|(i, e)| Some((e, self.group.get(i)?, i)))
            .map(|(e, clock, i)| {
                let r = reports.iter().find(|r| r.id == e.id);
                let health = self.devices.as_ref().and_then(|d| d.health(i)).map(|h| h.report());
                let last = clock.last_filtered();
                Source {
                    name: e.spec.name.clone(),
                    address: Some(e.spec.driver.device()),
                    stratum: e.spec.clock.stratum,
                    reachability: clock.reach().bits(),
                    poll_seconds: 2f64.powi(i32::from(e.spec.clock.poll)),
                    offset_seconds: r.filter(|r| r.samples > 0).map_or(0.0, |r| r.offset),
                    delay_seconds: e.spec.clock.delay,
                    jitter_seconds: last.map_or(0.0, |f| f.jitter),
                    state: r.map_or(SourceState::Pending, |r| super::report::map_state(r.state)),
                    last_response_seconds_ago: last.map(|f| now.since(f.time).to_seconds().max(0.0)),
                    interleaved: false,
                    refclock: Some(RefclockStatus {
                        driver: e.spec.driver.driver_name().to_owned(),
                        status: health.as_ref().map_or("starting", |h| h.state.name()).to_owned(),
                        message: health.as_ref().and_then(|h| h.message.clone()),
                        readings: health.as_ref().map_or(0, |h| h.readings),
                        bad_input: health.as_ref().map_or(0, |h| h.bad_input),
                        refused: clock.counters().refused,
                        last_refusal: e.last_refusal.clone(),
                    }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
