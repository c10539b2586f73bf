//! The sync loop's internals for `/debug/state` (`[development]
//! enable_debug_endpoints`): each running source's association counters
//! and clock-filter stages next to the engine's estimate, the engine's
//! system state and the served clock's correction. Built by the loop after
//! each round only while the debug endpoints are on.

use ntp_proto::source::PollerState;
use ntp_proto::NtpTimestamp;
use ntp_sync::{Engine, SourceReport};

use super::source::RunningSource;
use crate::served::Correction;
use crate::status::debug::{
    refid_hex, AssociationDebug, EngineDebug, EstimateDebug, FilterStage, SourceDebug, SyncDebug,
};

fn estimate(r: &SourceReport) -> EstimateDebug {
    EstimateDebug {
        state: r.state.name().to_owned(),
        offset_seconds: r.offset,
        offset_sd_seconds: r.offset_sd,
        frequency_ppm: r.frequency_ppm,
        frequency_sd_ppm: r.frequency_sd_ppm,
        delay_seconds: r.delay,
        jitter_seconds: r.jitter,
        distance_seconds: r.distance,
        wander_ppb_per_s: r.wander_ppb_per_s,
        samples: r.samples,
        outliers: r.outliers,
        poll_advice: r.poll_advice,
    }
}

fn source(u: &RunningSource, reports: &[SourceReport], now: NtpTimestamp) -> SourceDebug {
    let st = u.assoc.status();
    SourceDebug {
        name: u.name.clone(),
        address: u.addr.to_string(),
        association: AssociationDebug {
            state: match st.state {
                PollerState::Active => "active".to_owned(),
                PollerState::Demobilised(code) => format!("demobilised ({code:?})"),
            },
            reach: format!("{:o}", st.reach.bits()),
            poll: st.poll,
            in_burst: st.in_burst,
            requests: st.requests,
            accepted: st.accepted,
            rejected: st.rejected,
            kisses: st.kisses,
            last_reject: st.last_reject.map(|r| r.to_string()),
            filter_offset_seconds: st.filter.offset,
            filter_delay_seconds: st.filter.delay,
            filter_dispersion_seconds: st.filter.dispersion,
            filter_jitter_seconds: st.filter.jitter,
            filter: u
                .assoc
                .filter()
                .entries()
                .map(|e| FilterStage {
                    offset_seconds: e.offset,
                    delay_seconds: e.delay,
                    dispersion_seconds: e.dispersion,
                    age_seconds: now.since(e.time).to_seconds(),
                })
                .collect(),
        },
        estimate: reports.iter().find(|r| r.id == u.id).map(estimate),
    }
}

/// The loop's state as of steered-clock time `now`.
pub fn sync_debug<'a>(
    engine: &Engine,
    running: &[RunningSource],
    waiting: impl Iterator<Item = &'a str>,
    now: NtpTimestamp,
    discipline: &str,
    correction: Correction,
) -> SyncDebug {
    let st = engine.system_state();
    let reports = engine.sources(now);
    SyncDebug {
        engine: EngineDebug {
            status: format!("{:?}", st.status),
            leap: st.leap.to_bits(),
            stratum: st.stratum,
            reference_id: refid_hex(st.reference_id),
            root_delay_seconds: st.root_delay,
            root_dispersion_seconds: st.root_dispersion,
            offset_seconds: st.offset,
            offset_sd_seconds: st.offset_sd,
            frequency_ppm: st.frequency_ppm,
            frequency_sd_ppm: st.frequency_sd_ppm,
            jitter_seconds: st.jitter,
            updates: st.updates,
            last_action: st.last_action.as_ref().map(|a| format!("{a:?}")),
        },
        discipline: discipline.to_owned(),
        correction_offset_seconds: correction.offset.to_seconds(),
        correction_frequency_ppm: correction.freq * 1e6,
        sources: running.iter().map(|u| source(u, &reports, now)).collect(),
        waiting: waiting.map(str::to_owned).collect(),
    }
}
