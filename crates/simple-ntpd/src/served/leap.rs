//! Leap seconds as the daemon serves them: the table named by
//! `server.leapfile` or `server.leapsectz` (loaded and re-checked here,
//! reported, and shared with the sync loop through the [`super::StateCell`]),
//! the leap indicator of the plans without an engine (local reference, host
//! clock), and the smear composed into the published correction.
//!
//! A table that cannot be read, does not verify or has expired is reported
//! (log, `/api/v1/status`) and not used: leap seconds then come from the
//! sources, as without one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ntp_config::{Config, SmearShape};
use ntp_proto::server::ServerState;
use ntp_proto::{LeapIndicator, NtpDuration, NtpTimestamp};
use ntp_sync::leap::smear::{Smear, SmearShape as Shape};
use ntp_sync::leap::{self, LeapError, LeapEvent, LeapTable};

use super::{Correction, Snapshot};

/// Where the time zone database's `right/` zones are looked up.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// What the configuration asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeapSettings {
    /// `server.leapfile`.
    pub file: Option<PathBuf>,
    /// `server.leapsectz`.
    pub tz: Option<String>,
    /// `server.leap_smear`, when enabled.
    pub smear: Option<Smear>,
}

impl LeapSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> LeapSettings {
        let s = &config.server.leap_smear;
        LeapSettings {
            file: config.server.leapfile.clone(),
            tz: config.server.leapsectz.clone(),
            smear: s.enabled.then_some(Smear {
                duration: f64::from(s.duration),
                shape: match s.shape {
                    SmearShape::Linear => Shape::Linear,
                    SmearShape::Cosine => Shape::Cosine,
                },
            }),
        }
    }

    /// The table's path and a name for it, if one is configured.
    fn table_path(&self) -> Option<(PathBuf, String)> {
        if let Some(f) = &self.file {
            return Some((f.clone(), format!("file {}", f.display())));
        }
        let tz = self.tz.as_ref()?;
        let path = if Path::new(tz).is_absolute() { PathBuf::from(tz) } else { Path::new(ZONEINFO).join(tz) };
        Some((path, format!("tz {tz}")))
    }
}

/// How the table stands, for the log and the status API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableState {
    /// No table configured: the sources' leap indicators are followed.
    None,
    /// Loaded and in use.
    Ok,
    /// Past its expiry: not used.
    Expired,
    /// Unreadable, malformed or failing its hash: not used.
    Invalid,
}

impl TableState {
    /// The name the API uses.
    pub fn name(self) -> &'static str {
        match self {
            TableState::None => "none",
            TableState::Ok => "ok",
            TableState::Expired => "expired",
            TableState::Invalid => "invalid",
        }
    }
}

/// What the daemon knows about leap seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct LeapState {
    /// The table in use (valid, not expired).
    pub table: Option<Arc<LeapTable>>,
    /// The smear, when enabled.
    pub smear: Option<Smear>,
    /// `sources`, `file PATH` or `tz ZONE`.
    pub source: String,
    /// How the configured table stands.
    pub state: TableState,
    /// Why it is not used, when it is not.
    pub problem: Option<String>,
    /// The table's expiry (NTP seconds), when it has one.
    pub expires: Option<u64>,
}

impl Default for LeapState {
    fn default() -> Self {
        LeapState {
            table: None,
            smear: None,
            source: "sources".into(),
            state: TableState::None,
            problem: None,
            expires: None,
        }
    }
}

impl LeapState {
    /// The next leap second the table knows after `now`.
    pub fn next_leap(&self, now: NtpTimestamp) -> Option<LeapEvent> {
        self.table.as_ref()?.next_after(now)
    }

    /// TAI − UTC at `now`, when a table is in use.
    pub fn tai_offset(&self, now: NtpTimestamp) -> Option<i32> {
        self.table.as_ref().map(|t| t.tai_offset(now))
    }
}

/// Loads the configured table and judges it at `now`.
pub fn load(settings: &LeapSettings, now: NtpTimestamp) -> LeapState {
    let mut state = LeapState { smear: settings.smear, ..LeapState::default() };
    let Some((path, source)) = settings.table_path() else { return state };
    state.source = source;
    let parsed = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display())).and_then(|bytes| {
        let table = if settings.file.is_some() {
            String::from_utf8(bytes)
                .map_err(|_| LeapError::Malformed("not text".into()))
                .and_then(|text| leap::list::parse(&text))
        } else {
            leap::tzif::parse(&bytes)
        };
        table.map_err(|e| format!("{}: {e}", path.display()))
    });
    match parsed {
        Err(problem) => {
            state.state = TableState::Invalid;
            state.problem = Some(problem);
        }
        Ok(table) => {
            state.expires = table.expires();
            if let Some(at) = table.expires().filter(|_| table.is_expired(now)) {
                state.state = TableState::Expired;
                state.problem = Some(format!("{}: {}", path.display(), LeapError::Expired(at)));
            } else {
                state.state = TableState::Ok;
                state.table = Some(Arc::new(table));
            }
        }
    }
    state
}

/// The snapshot with the table's leap indicator, for the plans without an
/// engine (a local reference, the host clock): announced during the day
/// that ends with a leap second, while synchronised.
pub fn announce(mut snapshot: Snapshot, leap: &LeapState, now: NtpTimestamp) -> Snapshot {
    if let Some(t) = &leap.table {
        if snapshot.server.is_synchronised() {
            snapshot.server.leap = t.announced(now).map_or(LeapIndicator::NoWarning, LeapEvent::indicator);
        }
    }
    snapshot
}

/// What the sync loop publishes with a smear configured: no leap
/// indicator, and the correction with the smear composed in, at system time
/// `system_now`; `events` are the engine's announced and last applied leap
/// seconds. Without a smear both pass unchanged.
pub fn serve(
    leap: &LeapState,
    mut server: ServerState,
    correction: Correction,
    system_now: NtpTimestamp,
    events: (Option<LeapEvent>, Option<LeapEvent>),
) -> (ServerState, Correction) {
    let Some(smear) = &leap.smear else { return (server, correction) };
    if server.is_synchronised() {
        server.leap = LeapIndicator::NoWarning;
    }
    match smear_at(smear, events.0, events.1, correction.apply(system_now)) {
        Some((offset, rate)) => (server, smeared(correction, system_now, offset, rate)),
        None => (server, correction),
    }
}

/// The instants (clock readings) after `now` at which the smear's piece
/// must be renewed besides every second: the edges of its window.
pub fn smear_edges(
    leap: &LeapState,
    events: (Option<LeapEvent>, Option<LeapEvent>),
    now: NtpTimestamp,
) -> Vec<NtpTimestamp> {
    let Some(smear) = &leap.smear else { return Vec::new() };
    let (announced, applied) = events;
    let mut out = Vec::new();
    if let Some(e) = announced {
        out.extend(smear.edges().map(|d| e.timestamp() + NtpDuration::from_seconds(d)));
    }
    if let Some(e) = applied {
        // After the leap the reading lags true elapsed time by it.
        let end = smear.edges()[1] + e.step();
        out.push(e.timestamp() + NtpDuration::from_seconds(end));
    }
    out.retain(|t| t.since(now).to_bits() > 0);
    out
}

/// The correction with a smear `offset` (s) growing at `rate` (s/s) from
/// system time `at` on, as one linear piece. The publisher renews it at
/// least every second and at the window's edges: a linear smear is then
/// exact, a cosine one within `Smear::curvature() / 2` of its curve (0.2 µs
/// for an hour's window, 0.3 ns for a day's).
pub fn smeared(c: Correction, at: NtpTimestamp, offset: f64, rate: f64) -> Correction {
    let drift = if c.freq == 0.0 { 0.0 } else { at.since(c.base).to_seconds() * c.freq };
    Correction { offset: c.offset + NtpDuration::from_seconds(drift + offset), base: at, freq: c.freq + rate }
}

/// The smear's offset and rate at clock reading `now`, for the event
/// announced or the one last applied; `None` outside the window.
pub fn smear_at(
    smear: &Smear,
    announced: Option<LeapEvent>,
    applied: Option<LeapEvent>,
    now: NtpTimestamp,
) -> Option<(f64, f64)> {
    let pending = announced.map(|e| (e, false));
    let done = applied.map(|e| (e, true));
    pending.into_iter().chain(done).find_map(|(e, applied)| {
        let until = e.seconds_from(now);
        smear.active(e, until, applied).then(|| smear.offset(e, until, applied))
    })
}

#[cfg(test)]
mod tests;
