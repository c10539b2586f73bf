//! What the sync loop tells the status hub: the engine's estimates and one
//! entry per source — running ones from their association and the
//! engine's view, configured ones still waiting for a lookup or a key
//! exchange as unreachable, then the reference clocks.

use ntp_proto::NtpTimestamp;
use ntp_sync::{Engine, SelectionState, SourceReport, SyncStatus};

use super::source::RunningSource;
use crate::api::model::{Source, SourceState};
use crate::status::SyncReport;

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
        refclock: None,
    }));
    sources.extend(refclocks);
    SyncReport {
        offset: if synced { st.offset } else { 0.0 },
        jitter: st.jitter.max(0.0),
        frequency_ppm,
        discipline: discipline.to_owned(),
        sources,
        local_fallback: local_fallback_configured && !synced,
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
