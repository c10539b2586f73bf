//! What the sync loop tells the status hub: the engine's estimates and one
//! entry per source — running ones from their association and the
//! engine's view, configured ones still waiting for a lookup or a key
//! exchange as unreachable, then the reference clocks — and, for the log,
//! each change of status, leap indicator and selected source, once.

use std::net::SocketAddr;

use ntp_proto::packet::LeapIndicator;
use ntp_proto::NtpTimestamp;
use ntp_sync::{Engine, SelectionState, SourceId, SourceReport, SyncStatus, SystemState};
use tracing::{info, warn};

use super::source::RunningSource;
use crate::api::model::{Source, SourceState};
use crate::status::{AssociationInfo, SyncReport};

/// The report for the API, as of `now`, from the engine's per-source
/// `reports`; `waiting` names the configured sources with nothing running
/// yet, `refclocks` are the reference clocks' entries.
#[allow(clippy::too_many_arguments)]
pub fn sync_report<'a>(
    engine: &Engine,
    reports: &[SourceReport],
    running: &[RunningSource],
    waiting: impl Iterator<Item = &'a str>,
    refclocks: Vec<Source>,
    now: NtpTimestamp,
    frequency_ppm: f64,
    discipline: &str,
    local_fallback_configured: bool,
) -> SyncReport {
    let st = engine.system_state();
    let synced = matches!(st.status, SyncStatus::Synchronised);
    let mut sources: Vec<Source> = running
        .iter()
        .map(|u| {
            let r = reports.iter().find(|r| r.id == u.id);
            let status = u.assoc.status();
            Source {
                name: u.name.clone(),
                address: Some(u.addr.to_string()),
                stratum: r.map(|r| r.stratum).unwrap_or(0),
                reachability: u.assoc.reach().bits(),
                poll_seconds: 2f64.powi(i32::from(u.assoc.poll())),
                offset_seconds: r.map(|r| r.offset).unwrap_or(0.0),
                delay_seconds: r.map(|r| r.delay).unwrap_or(0.0).max(0.0),
                jitter_seconds: r.map(|r| r.jitter).unwrap_or(0.0).max(0.0),
                state: r.map(|r| map_state(r.state)).unwrap_or(SourceState::Pending),
                last_response_seconds_ago: status.last_sample.map(|t| now.since(t).to_seconds().max(0.0)),
                interleaved: status.last_interleaved,
                refclock: None,
            }
        })
        .collect();
    sources.extend(waiting.map(|name| Source {
        name: name.to_owned(),
        address: None,
        stratum: 0,
        reachability: 0,
        poll_seconds: 0.0,
        offset_seconds: 0.0,
        delay_seconds: 0.0,
        jitter_seconds: 0.0,
        state: SourceState::Unreachable,
        last_response_seconds_ago: None,
        interleaved: false,
        refclock: None,
    }));
    let mut associations: Vec<Option<AssociationInfo>> = running
        .iter()
        .map(|u| {
            let status = u.assoc.status();
            let stratum = reports.iter().find(|r| r.id == u.id).map_or(16, |r| r.stratum);
            Some(AssociationInfo {
                id: association_id(u.key),
                authenticated: u.assoc.is_authenticated(),
                reference_id: status.last_reference_id.map(|r| refid_text(r, stratum)),
                poll: u.assoc.poll(),
                refclock_driver: None,
                address: Some(u.addr),
            })
        })
        .collect();
    associations.resize(sources.len(), None);
    associations.extend(refclocks.iter().enumerate().map(|(i, r)| {
        Some(AssociationInfo {
            id: REFCLOCK_IDS + i as u16,
            authenticated: false,
            reference_id: Some(r.name.clone()),
            poll: r.poll_seconds.log2().round() as i8,
            refclock_driver: r.refclock.as_ref().map(|c| c.driver.clone()),
            address: None,
        })
    }));
    sources.extend(refclocks);
    SyncReport {
        offset: if synced { st.offset } else { 0.0 },
        jitter: st.jitter.max(0.0),
        frequency_ppm,
        discipline: discipline.to_owned(),
        sources,
        local_fallback: local_fallback_configured && !synced,
        associations,
    }
}

/// Reference clocks' association ids start here; servers' are their
/// source key + 1 below it.
const REFCLOCK_IDS: u16 = 65_000;

/// The association id of the running source with `key`.
fn association_id(key: u64) -> u16 {
    (key % u64::from(REFCLOCK_IDS - 1)) as u16 + 1
}

/// A reference id as the status API and ntpq show it: text at stratum 0
/// and 1 (a clock's name, a kiss code), else a dotted quad.
pub fn refid_text(r: ntp_proto::ReferenceId, stratum: u8) -> String {
    match r.as_ascii() {
        Some(text) if stratum <= 1 => text.to_owned(),
        _ => {
            let b = r.0;
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
        }
    }
}

/// The API's name for an engine selection state.
pub(crate) fn map_state(s: SelectionState) -> SourceState {
    match s {
        SelectionState::Selected => SourceState::Selected,
        SelectionState::Combined => SourceState::Combined,
        SelectionState::Candidate => SourceState::Candidate,
        SelectionState::Falseticker => SourceState::Falseticker,
        SelectionState::TooFar => SourceState::Outlier,
        SelectionState::Unreachable => SourceState::Unreachable,
        SelectionState::Pending => SourceState::Pending,
        SelectionState::NoSelect => SourceState::Outlier,
    }
}

/// The selected source, as the log names it.
pub enum Peer {
    /// An upstream server.
    Source {
        /// The host as configured.
        name: String,
        /// The address polled.
        address: SocketAddr,
    },
    /// A reference clock.
    Refclock(String),
}

/// What was last logged about the system state, so that each change is
/// logged once.
pub struct ChangeLog {
    status: Option<SyncStatus>,
    /// The leap indicator last logged while synchronised.
    leap: LeapIndicator,
    peer: Option<SourceId>,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog { status: None, leap: LeapIndicator::NoWarning, peer: None }
    }
}

impl ChangeLog {
    /// Logs what changed in `st`; `peer` names a selected source.
    pub fn log(&mut self, st: &SystemState, local_fallback: Option<u8>, peer: impl Fn(SourceId) -> Option<Peer>) {
        if self.status != Some(st.status) {
            match st.status {
                SyncStatus::Synchronised => info!(stratum = st.stratum, offset_s = st.offset, "synchronised"),
                SyncStatus::Starting => {}
                other => warn!(status = ?other, local_fallback = ?local_fallback, "not synchronised to any source"),
            }
            self.status = Some(st.status);
        }
        if matches!(st.status, SyncStatus::Synchronised) && st.leap != self.leap {
            match st.leap {
                LeapIndicator::Insert => {
                    warn!("the sources announce a leap second: the last minute of the UTC day has 61 seconds")
                }
                LeapIndicator::Delete => {
                    warn!("the sources announce a leap second: the last minute of the UTC day has 59 seconds")
                }
                _ => info!("no leap second is announced any more"),
            }
            self.leap = st.leap;
        }
        if self.peer != st.system_peer {
            match st.system_peer.and_then(peer) {
                Some(Peer::Source { name, address }) => {
                    info!(source = %name, address = %address, "selected source changed")
                }
                Some(Peer::Refclock(name)) => info!(refclock = %name, "selected source changed"),
                None => {}
            }
            self.peer = st.system_peer;
        }
    }
}
