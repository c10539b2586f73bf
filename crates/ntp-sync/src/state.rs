//! What the engine reports: the system state (served in every reply,
//! shown by the status API, fed to the kernel's error estimates) and one
//! report per source.

use crate::discipline::ClockAction;
use ntp_proto::server::ServerState;
use ntp_proto::source::PHI;
use ntp_proto::{LeapIndicator, NtpDuration, NtpShort, NtpTimestamp, ReferenceId};

/// A source's handle in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// Whether the engine has time to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    /// Never synchronised since start.
    Starting,
    /// Synchronised to the selected sources.
    Synchronised,
    /// No source is selectable now; serving the last estimate while the
    /// root distance stays within `max_root_distance`.
    Holdover(NoSourceReason),
    /// Root distance beyond `max_root_distance`: unsynchronised.
    Unsynchronised,
    /// The last estimate was beyond the panic threshold and refused: serving
    /// unsynchronised until the sources and the clock agree again.
    Panic,
}

/// Why no source is selectable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSourceReason {
    /// No source has a usable estimate (none reachable, none answered).
    NoSelectableSource,
    /// Sources disagree: fewer than `needed` agree.
    NoMajority {
        /// Largest agreeing group.
        agreeing: usize,
        /// Needed.
        needed: usize,
    },
}

/// The selection state of a source, for the status API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectionState {
    /// The system peer: combined, and its stratum and refid are served.
    Selected,
    /// Combined into the estimate.
    Combined,
    /// Agrees with the majority but not combined (clustered out, or a
    /// `prefer` source won).
    Candidate,
    /// Outside the majority's intersection.
    Falseticker,
    /// Root distance above `max_distance`.
    TooFar,
    /// No answer to its recent polls.
    Unreachable,
    /// No sample yet.
    Pending,
    /// Configured `noselect`.
    NoSelect,
}

impl SelectionState {
    /// A stable lowercase name for the status API and metrics.
    pub fn name(self) -> &'static str {
        match self {
            SelectionState::Selected => "selected",
            SelectionState::Combined => "combined",
            SelectionState::Candidate => "candidate",
            SelectionState::Falseticker => "falseticker",
            SelectionState::TooFar => "too_far",
            SelectionState::Unreachable => "unreachable",
            SelectionState::Pending => "pending",
            SelectionState::NoSelect => "noselect",
        }
    }
}

/// One source as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceReport {
    /// Handle.
    pub id: SourceId,
    /// Selection state.
    pub state: SelectionState,
    /// Offset estimate now (source minus local), s.
    pub offset: f64,
    /// Its standard deviation, s.
    pub offset_sd: f64,
    /// Frequency of the local clock relative to the source, beyond the
    /// correction in force, ppm.
    pub frequency_ppm: f64,
    /// Standard deviation of that frequency, ppm.
    pub frequency_sd_ppm: f64,
    /// Minimum recent delay, s.
    pub delay: f64,
    /// RMS of recent residuals, s.
    pub jitter: f64,
    /// Root distance, s.
    pub distance: f64,
    /// Estimated oscillator wander, ppb/s.
    pub wander_ppb_per_s: f64,
    /// Samples used.
    pub samples: u64,
    /// Samples skipped as spikes.
    pub outliers: u64,
    /// The poll exponent the engine advises.
    pub poll_advice: i8,
    /// The server's stratum.
    pub stratum: u8,
}

/// The system state.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemState {
    /// Synchronisation status.
    pub status: SyncStatus,
    /// Leap warning (majority of the combined sources).
    pub leap: LeapIndicator,
    /// Served stratum: the system peer's + 1.
    pub stratum: u8,
    /// The system peer's reference id.
    pub reference_id: ReferenceId,
    /// Local time of the last clock update.
    pub reference_time: NtpTimestamp,
    /// Root delay at the last update, s.
    pub root_delay: f64,
    /// Root dispersion at the last update, s (grows at PHI after it).
    pub root_dispersion: f64,
    /// The offset corrected at the last update, s.
    pub offset: f64,
    /// Its standard deviation, s (the kernel's `esterror`).
    pub offset_sd: f64,
    /// Frequency correction in force (without slew), ppm.
    pub frequency_ppm: f64,
    /// Standard deviation of the frequency estimate, ppm.
    pub frequency_sd_ppm: f64,
    /// Spread of the combined sources' offsets, s.
    pub jitter: f64,
    /// The system peer.
    pub system_peer: Option<SourceId>,
    /// Clock updates so far.
    pub updates: u64,
    /// The last thing done to the clock.
    pub last_action: Option<ClockAction>,
}

impl SystemState {
    /// The state before any update.
    pub fn starting() -> Self {
        SystemState {
            status: SyncStatus::Starting,
            leap: LeapIndicator::Unknown,
            stratum: 16,
            reference_id: ntp_proto::server::UNSYNCHRONISED_REFID,
            reference_time: NtpTimestamp::ZERO,
            root_delay: 0.0,
            root_dispersion: 0.0,
            offset: 0.0,
            offset_sd: 0.0,
            frequency_ppm: 0.0,
            frequency_sd_ppm: 0.0,
            jitter: 0.0,
            system_peer: None,
            updates: 0,
            last_action: None,
        }
    }

    /// True when replies should carry time.
    pub fn is_synchronised(&self) -> bool {
        matches!(self.status, SyncStatus::Synchronised | SyncStatus::Holdover(_)) && (1..=15).contains(&self.stratum)
    }

    /// Root dispersion at local time `now`: grown at PHI since the update.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> f64 {
        if self.reference_time.is_zero() {
            return self.root_dispersion;
        }
        self.root_dispersion + PHI * now.since(self.reference_time).to_seconds().max(0.0)
    }

    /// Root distance at `now`: root delay / 2 + root dispersion.
    pub fn root_distance_at(&self, now: NtpTimestamp) -> f64 {
        self.root_delay / 2.0 + self.root_dispersion_at(now)
    }

    /// The fields every reply carries (`ntp_proto::server::ServerState`),
    /// with the local clock's `precision`.
    pub fn server_state(&self, precision: i8) -> ServerState {
        if !self.is_synchronised() {
            return ServerState::unsynchronised(precision);
        }
        ServerState {
            leap: self.leap,
            stratum: self.stratum,
            precision,
            reference_id: self.reference_id,
            reference_time: self.reference_time,
            root_delay: NtpShort::from_seconds(self.root_delay),
            root_dispersion: NtpShort::from_seconds(self.root_dispersion),
            dispersion_rate: PHI,
        }
    }

    pub(crate) fn shift_reference_time(&mut self, step: f64) {
        if !self.reference_time.is_zero() {
            self.reference_time = self.reference_time + NtpDuration::from_seconds(step);
        }
    }
}

/// What [`crate::Engine::on_sample`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// False when the sample was skipped (spike, unknown source, bad data).
    pub accepted: bool,
    /// The poll exponent the engine advises for this source
    /// (`Association::advise_poll`).
    pub poll_advice: i8,
    /// What was done to the clock, if anything.
    pub action: Option<ClockAction>,
}
