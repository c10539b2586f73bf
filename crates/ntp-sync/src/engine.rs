//! [`Engine`]: sources in, clock corrections and system state out.
//!
//! The engine keeps its own continuous timeline (seconds since its first
//! clock reading, with its own steps taken out) so that steps and era
//! wraps never disturb its filters. All input times are readings of the
//! [`Clock`] it steers.

use crate::clock::{Clock, ClockStatus};
use crate::config::{EngineConfig, SourceParams};
use crate::discipline::{ClockAction, Controls, Discipline};
use crate::estimate::{SourceEstimator, Verdict as SampleVerdict};
use crate::leap::schedule::LeapSchedule;
use crate::leap::{LeapEvent, LeapTable};
use crate::refid;
use crate::select::{self, NoSelection, Verdict};
use crate::source::SourceEntry;
use crate::state::{NoSourceReason, SelectionState, SourceId, SourceReport, SyncStatus, SystemState, Update};
use ntp_proto::server::ServerState;
use ntp_proto::source::{Reach, Sample, PHI};
use ntp_proto::{LeapIndicator, NtpDuration, NtpTimestamp};
use std::sync::Arc;

/// A late slew end beyond this (s) is followed by a corrective slew.
const LATE_SLEW_END: f64 = 1e-3;

/// Samples taken this close (s) to a leap second are not used: the server
/// and this clock may not have leapt at the same moment.
const LEAP_QUIET: f64 = 2.0;

/// The synchronisation engine.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    sources: Vec<SourceEntry>,
    next_id: u32,
    epoch: Option<NtpTimestamp>,
    steps: f64,
    discipline: Discipline,
    system: SystemState,
    /// Leap seconds: announced, due, applied.
    leap: LeapSchedule,
    /// The combined sources' leap indicator at the last clock update.
    source_leap: LeapIndicator,
}

impl Engine {
    /// A new engine with no sources.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            sources: Vec::new(),
            next_id: 0,
            epoch: None,
            steps: 0.0,
            discipline: Discipline::new(),
            system: SystemState::starting(),
            leap: LeapSchedule::new(),
            source_leap: LeapIndicator::NoWarning,
        }
    }

    /// Takes leap seconds from `table` (a leap-seconds.list or the tz
    /// database) instead of the sources' indicators; `None` goes back to
    /// the sources. An expired table is ignored.
    pub fn set_leap_table(&mut self, table: Option<Arc<LeapTable>>) {
        self.leap.set_table(table);
    }

    /// The leap second announced now (applied at its instant by
    /// [`Self::tick`]), and the last one applied (for a day after it).
    pub fn leap_events(&self) -> (Option<LeapEvent>, Option<LeapEvent>) {
        (self.leap.announced(), self.leap.last_applied())
    }

    /// The settings in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Adds a source; returns its handle.
    pub fn add_source(&mut self, params: SourceParams) -> SourceId {
        let id = SourceId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let precision = 2f64.powi(i32::from(self.config.precision.clamp(-32, 0)));
        let rate_sd = self.config.initial_frequency_sd_ppm.abs().max(0.01) * 1e-6;
        let mut estimator = SourceEstimator::new(precision * precision / 12.0, rate_sd * rate_sd);
        if params.refclock {
            // Its "delay" is a configured figure, not a measured round trip.
            estimator.disable_channel_fit();
        }
        self.sources.push(SourceEntry::new(id, params, estimator, self.config.settling_poll));
        id
    }

    /// Removes a source (e.g. after a DENY kiss); false if unknown.
    pub fn remove_source(&mut self, id: SourceId) -> bool {
        let before = self.sources.len();
        self.sources.retain(|s| s.id != id);
        if self.system.system_peer == Some(id) {
            self.system.system_peer = None;
        }
        self.sources.len() != before
    }

    /// Hands the engine the source's reachability register (after every
    /// request and reply: `Association::reach`).
    pub fn update_reach(&mut self, id: SourceId, reach: Reach) {
        if let Some(s) = self.sources.iter_mut().find(|s| s.id == id) {
            s.reach = reach;
        }
    }

    /// A valid sample from source `id`: estimates, selects, and corrects
    /// the clock when the source is one of those combined.
    pub fn on_sample(&mut self, id: SourceId, sample: &Sample, clock: &mut dyn Clock) -> Update {
        let init_failure = self.discipline.init(&self.config, clock).err();
        let now = clock.now();
        let t = self.t_of(now);
        let ts = self.t_of(sample.time);
        let settling = self.config.settling_poll;
        let Some(idx) = self.sources.iter().position(|s| s.id == id) else {
            return Update { accepted: false, poll_advice: settling, action: None };
        };
        if self.leap.near(now, LEAP_QUIET) {
            let advice = self.sources[idx].poll_advice;
            return Update { accepted: false, poll_advice: advice, action: init_failure.map(ClockAction::Failed) };
        }
        let entry = &mut self.sources[idx];
        let lowest_stratum = if entry.params.refclock { 0 } else { 1 };
        let usable = sample.offset.is_finite()
            && sample.delay.is_finite()
            && sample.dispersion.is_finite()
            && sample.leap != LeapIndicator::Unknown
            && (lowest_stratum..=15).contains(&sample.stratum);
        let floor = if sample.dispersion.is_finite() { sample.dispersion.powi(2) / 12.0 } else { 0.0 };
        if !usable || entry.estimator.on_sample(ts, sample.offset, sample.delay, floor) == SampleVerdict::Outlier {
            entry.outliers += u64::from(usable);
            return Update { accepted: false, poll_advice: entry.poll_advice, action: None };
        }
        if entry.estimator.samples() == 1 {
            // A new estimate: its rate is what the running slew, if any,
            // does to the offset (the base frequency is the best guess of
            // the right one), as if it had been there when the slew began.
            entry.estimator.control_frequency(self.discipline.slew_rate());
        }
        entry.last = Some(*sample);
        entry.last_t = ts;
        entry.poll_advice = entry.estimator.desired_poll(self.config.poll_target, settling);
        let poll_advice = entry.poll_advice;
        let mut action = self.reselect(t, Some(idx), clock);
        if let Some(e) = init_failure {
            action = Some(ClockAction::Failed(e));
        }
        self.system.leap = self.leap.update(clock.now(), self.source_leap);
        self.push_status(now, clock);
        Update { accepted: true, poll_advice, action }
    }

    /// Housekeeping: ends a slew that is due, refreshes selection states,
    /// declares holdover or loss of synchronisation. Call at
    /// [`Self::next_tick_at`] and at least every few seconds.
    pub fn tick(&mut self, clock: &mut dyn Clock) -> Option<ClockAction> {
        let mut action = self.discipline.init(&self.config, clock).err().map(ClockAction::Failed);
        if let Some(leap) = self.apply_leap(clock) {
            action = Some(leap);
        }
        let now = clock.now();
        let t = self.t_of(now);
        let due = self.discipline.slew_end();
        match self.discipline.end_slew(t, clock) {
            Ok(ctl) if ctl != Controls::default() => {
                self.apply(t, ctl);
                if due.is_some_and(|end| t - end > LATE_SLEW_END) {
                    action = self.reslew(t, clock).or(action);
                }
            }
            Ok(_) => {}
            Err(e) => action = Some(ClockAction::Failed(e)),
        }
        self.reselect(t, None, clock);
        if matches!(self.system.status, SyncStatus::Synchronised | SyncStatus::Holdover(_))
            && self.system.root_distance_at(now) > self.config.max_root_distance
        {
            self.system.status = SyncStatus::Unsynchronised;
        }
        self.system.leap = self.leap.update(now, self.source_leap);
        self.push_status(now, clock);
        action
    }

    /// Applies the announced leap second once its instant has come: the
    /// clock leaps (virtual and simulated clocks step, the kernel leaps by
    /// itself) and the engine's timeline takes the jump out, like a step's,
    /// without touching the offsets (the sources leap too).
    fn apply_leap(&mut self, clock: &mut dyn Clock) -> Option<ClockAction> {
        let event = self.leap.due(clock.now())?;
        self.leap.applied(event);
        if let Err(e) = clock.leap_second(event.insert) {
            return Some(ClockAction::Failed(e));
        }
        let jump = event.step();
        if self.epoch.is_some() {
            self.steps += jump;
        }
        self.system.shift_reference_time(jump);
        let action = ClockAction::LeapSecond { offset: jump };
        self.system.last_action = Some(action.clone());
        Some(action)
    }

    /// When [`Self::tick`] must run next (the end of the running slew, or a
    /// leap second's instant); `None`: no deadline, tick at the daemon's own
    /// pace.
    pub fn next_tick_at(&self) -> Option<NtpTimestamp> {
        let slew_end = self
            .epoch
            .and_then(|epoch| self.discipline.slew_end().map(|t| epoch + NtpDuration::from_seconds(t + self.steps)));
        match (slew_end, self.leap.deadline()) {
            (Some(a), Some(b)) => Some(if a.since(b).to_bits() <= 0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// The system state.
    pub fn system_state(&self) -> &SystemState {
        &self.system
    }

    /// What replies should carry, for `ntp_proto::server::write_reply`.
    pub fn server_state(&self) -> ServerState {
        self.system.server_state(self.config.precision)
    }

    /// The error estimates as of `now` (also pushed to the clock).
    pub fn clock_status(&self, now: NtpTimestamp) -> ClockStatus {
        ClockStatus {
            synchronised: self.system.is_synchronised(),
            leap: self.system.leap,
            est_error: self.system.offset_sd + self.system.jitter,
            max_error: self.system.root_distance_at(now),
        }
    }

    /// One report per source, as of local time `now`.
    pub fn sources(&self, now: NtpTimestamp) -> Vec<SourceReport> {
        let t = self.epoch.map_or(0.0, |e| now.since(e).to_seconds() - self.steps);
        self.sources.iter().map(|s| s.report(t)).collect()
    }

    fn t_of(&mut self, ts: NtpTimestamp) -> f64 {
        let epoch = *self.epoch.get_or_insert(ts);
        ts.since(epoch).to_seconds() - self.steps
    }

    fn apply(&mut self, t: f64, ctl: Controls) {
        for s in &mut self.sources {
            s.estimator.advance(t);
            s.estimator.frequency_changed(t, ctl.frequency);
            s.estimator.control_step(ctl.step);
        }
        if ctl.step != 0.0 {
            self.steps += ctl.step;
            self.system.shift_reference_time(ctl.step);
        }
    }

    fn reslew(&mut self, t: f64, clock: &mut dyn Clock) -> Option<ClockAction> {
        let mut cands = Vec::new();
        let mut current = None;
        for s in &self.sources {
            if let Ok(c) = s.candidate(t, self.config.max_distance) {
                if self.system.system_peer == Some(s.id) {
                    current = Some(cands.len());
                }
                cands.push(c);
            }
        }
        let population = self.sources.iter().filter(|s| s.counts()).count();
        let (comb, _) = select::select(&cands, population, self.config.min_sources, current).result.ok()?;
        let (action, ctl) = self.discipline.update(&self.config, t, comb.offset, 0.0, false, clock);
        self.apply(t, ctl);
        Some(action)
    }

    /// Selection at engine time `t`; corrects the clock when `trigger` (the
    /// source that just delivered a sample) is combined.
    fn reselect(&mut self, t: f64, trigger: Option<usize>, clock: &mut dyn Clock) -> Option<ClockAction> {
        let mut cands = Vec::new();
        let mut index = Vec::new();
        let mut current = None;
        for (i, s) in self.sources.iter_mut().enumerate() {
            match s.candidate(t, self.config.max_distance) {
                Ok(c) => {
                    if self.system.system_peer == Some(s.id) {
                        current = Some(cands.len());
                    }
                    cands.push(c);
                    index.push(i);
                }
                Err(state) => s.state = state,
            }
        }
        // Every source that may answer counts, too-far ones included: a
        // majority must be a majority of all of them.
        let population = self.sources.iter().filter(|s| s.counts()).count();
        let selection = select::select(&cands, population, self.config.min_sources, current);
        for (k, v) in selection.verdicts.iter().enumerate() {
            self.sources[index[k]].state = match v {
                Verdict::Falseticker => SelectionState::Falseticker,
                Verdict::Candidate => SelectionState::Candidate,
                Verdict::Combined => SelectionState::Combined,
                Verdict::SystemPeer => SelectionState::Selected,
            };
        }
        let (comb, peer_k) = match selection.result {
            Ok(r) => r,
            Err(why) => {
                let reason = match why {
                    NoSelection::NoCandidates => NoSourceReason::NoSelectableSource,
                    NoSelection::NoMajority { agreeing, needed } => NoSourceReason::NoMajority { agreeing, needed },
                };
                if matches!(self.system.status, SyncStatus::Synchronised | SyncStatus::Holdover(_)) {
                    self.system.status = SyncStatus::Holdover(reason);
                    self.system.system_peer = None;
                }
                return None;
            }
        };
        let triggered = trigger
            .is_some_and(|i| matches!(self.sources[i].state, SelectionState::Selected | SelectionState::Combined));
        if !triggered {
            return None;
        }
        let peer = index[peer_k];
        let (action, ctl) = self.discipline.update(&self.config, t, comb.offset, comb.rate, true, clock);
        self.apply(t, ctl);
        self.system.last_action = Some(action.clone());
        match action {
            ClockAction::PanicRefused { .. } => {
                self.system.status = SyncStatus::Panic;
                return Some(action);
            }
            ClockAction::Failed(_) => return Some(action),
            _ => {}
        }
        let p = &self.sources[peer];
        let Some(last) = p.last else { return Some(action) };
        let sys = &mut self.system;
        sys.status = SyncStatus::Synchronised;
        self.source_leap = comb.leap;
        sys.stratum = last.stratum.saturating_add(1).min(16);
        sys.reference_id = refid::for_source(&p.params);
        sys.reference_time = clock.now();
        sys.root_delay = last.root_delay + last.filter.delay;
        sys.root_dispersion = last.root_dispersion
            + last.dispersion
            + PHI * (t - p.last_t).max(0.0)
            + comb.jitter
            // Our own measurement uncertainty only: the server's root
            // distance is already in its root delay and dispersion above.
            + comb.measurement_var.sqrt();
        sys.offset = comb.offset;
        sys.offset_sd = comb.offset_var.sqrt();
        sys.frequency_ppm = self.discipline.frequency_ppm();
        sys.frequency_sd_ppm = comb.rate_var.sqrt() * 1e6;
        sys.jitter = comb.jitter;
        sys.system_peer = Some(p.id);
        sys.updates = self.discipline.updates();
        Some(action)
    }

    fn push_status(&self, now: NtpTimestamp, clock: &mut dyn Clock) {
        clock.set_status(&self.clock_status(now));
    }
}

#[cfg(test)]
mod tests;
