//! `/debug/state` (`[development] enable_debug_endpoints`): the full
//! internal state as one JSON document — the sync loop's sources with their
//! association counters, clock-filter stages and engine estimates, the
//! engine and clock state, the served snapshot, the worker counters, NTS-KE
//! counters, active test faults and the process's memory. Meant for people
//! debugging; its shape may change between versions (docs/openapi.yaml
//! describes the stable top level).

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{views, StatusHub};
use crate::api::model::ServerStats;
use crate::faults::FaultView;

/// One stage of a source's clock filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterStage {
    /// Offset, s.
    pub offset_seconds: f64,
    /// Round-trip delay, s.
    pub delay_seconds: f64,
    /// Dispersion, s (16: a missed poll).
    pub dispersion_seconds: f64,
    /// Seconds since the sample.
    pub age_seconds: f64,
}

/// The association's side of a source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssociationDebug {
    /// `active` or `demobilised (<kiss code>)`.
    pub state: String,
    /// Reachability register, octal as ntpq and chronyc print it.
    pub reach: String,
    /// Poll exponent, log2 s.
    pub poll: i8,
    /// A burst is being sent.
    pub in_burst: bool,
    /// Requests sent.
    pub requests: u64,
    /// Replies accepted as samples.
    pub accepted: u64,
    /// Datagrams rejected.
    pub rejected: u64,
    /// Kiss-o'-death replies.
    pub kisses: u64,
    /// Why the last datagram was rejected.
    pub last_reject: Option<String>,
    /// The clock filter's summary: offset, delay, dispersion, jitter (s).
    pub filter_offset_seconds: f64,
    /// See `filter_offset_seconds`.
    pub filter_delay_seconds: f64,
    /// See `filter_offset_seconds`.
    pub filter_dispersion_seconds: f64,
    /// See `filter_offset_seconds`.
    pub filter_jitter_seconds: f64,
    /// The filter's stages, oldest first.
    pub filter: Vec<FilterStage>,
}

/// The engine's side of a source (`ntp_sync::SourceReport`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EstimateDebug {
    /// Selection state.
    pub state: String,
    /// Offset estimate (source minus local), s.
    pub offset_seconds: f64,
    /// Its standard deviation, s.
    pub offset_sd_seconds: f64,
    /// Local clock frequency relative to the source beyond the correction, ppm.
    pub frequency_ppm: f64,
    /// Its standard deviation, ppm.
    pub frequency_sd_ppm: f64,
    /// Minimum recent delay, s.
    pub delay_seconds: f64,
    /// RMS of residuals, s.
    pub jitter_seconds: f64,
    /// Root distance, s (null: none yet).
    pub distance_seconds: f64,
    /// Estimated oscillator wander, ppb/s.
    pub wander_ppb_per_s: f64,
    /// Samples used.
    pub samples: u64,
    /// Samples skipped as spikes.
    pub outliers: u64,
    /// Poll exponent the engine advises.
    pub poll_advice: i8,
}

/// One source of the sync loop.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceDebug {
    /// Name as configured.
    pub name: String,
    /// Address polled.
    pub address: String,
    /// Its association.
    pub association: AssociationDebug,
    /// The engine's estimate (null before the engine knows it).
    pub estimate: Option<EstimateDebug>,
}

/// The engine's system state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineDebug {
    /// Synchronisation status (the engine's words).
    pub status: String,
    /// Leap indicator, 0–3.
    pub leap: u8,
    /// Stratum.
    pub stratum: u8,
    /// Reference id, hex.
    pub reference_id: String,
    /// Root delay at the last update, s.
    pub root_delay_seconds: f64,
    /// Root dispersion at the last update, s.
    pub root_dispersion_seconds: f64,
    /// Offset corrected at the last update, s.
    pub offset_seconds: f64,
    /// Its standard deviation, s.
    pub offset_sd_seconds: f64,
    /// Frequency correction, ppm.
    pub frequency_ppm: f64,
    /// Its standard deviation, ppm.
    pub frequency_sd_ppm: f64,
    /// Spread of the combined sources, s.
    pub jitter_seconds: f64,
    /// Clock updates so far.
    pub updates: u64,
    /// The last thing done to the clock.
    pub last_action: Option<String>,
}

/// What the sync loop publishes for debugging.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncDebug {
    /// The engine.
    pub engine: EngineDebug,
    /// `virtual` or `system`.
    pub discipline: String,
    /// The served clock's correction from the system clock: offset, s.
    pub correction_offset_seconds: f64,
    /// And frequency, ppm.
    pub correction_frequency_ppm: f64,
    /// Running sources.
    pub sources: Vec<SourceDebug>,
    /// Configured sources waiting for a lookup or a key exchange.
    pub waiting: Vec<String>,
}

/// The process's memory from /proc/self/status, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    /// Resident set size.
    pub rss_bytes: Option<u64>,
    /// Peak resident set size.
    pub rss_peak_bytes: Option<u64>,
    /// Virtual memory size.
    pub virtual_bytes: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
}

impl Memory {
    /// Reads /proc/self/status (fields it lacks stay null).
    pub fn read() -> Memory {
        let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|rest| {
                let mut parts = rest.split_whitespace();
                let n: u64 = parts.next()?.parse().ok()?;
                Some(if parts.next() == Some("kB") { n * 1024 } else { n })
            })
        };
        Memory {
            rss_bytes: field("VmRSS:"),
            rss_peak_bytes: field("VmHWM:"),
            virtual_bytes: field("VmSize:"),
            threads: field("Threads:"),
        }
    }
}

/// The served snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServedDebug {
    /// Leap indicator, 0–3.
    pub leap: u8,
    /// Stratum.
    pub stratum: u8,
    /// Reference id, hex.
    pub reference_id: String,
    /// Root delay, s.
    pub root_delay_seconds: f64,
    /// Root dispersion at the reference time, s.
    pub root_dispersion_seconds: f64,
    /// Correction added to the system clock: offset, s.
    pub correction_offset_seconds: f64,
    /// And frequency, ppm.
    pub correction_frequency_ppm: f64,
}

/// NTS-KE server counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NtsKeDebug {
    /// Handshakes that issued cookies.
    pub handshakes: u64,
    /// Failed or refused connections.
    pub failures: u64,
    /// Connections closed as busy.
    pub rejected_busy: u64,
}

/// `GET /debug/state`.
#[derive(Clone, Debug, Serialize)]
pub struct DebugState {
    /// Daemon version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Effective user id.
    pub uid: u32,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// The log level in force.
    pub log_level: String,
    /// What every reply carries now.
    pub served: ServedDebug,
    /// The sync loop (null without upstream sources, or before its first round).
    pub sync: Option<SyncDebug>,
    /// Worker counters.
    pub server: ServerStats,
    /// NTS-KE server counters (null when it is off).
    pub nts_ke: Option<NtsKeDebug>,
    /// Injected test faults in force.
    pub faults: Vec<FaultView>,
    /// Process memory.
    pub memory: Memory,
}

/// Hex form of a reference id.
pub fn refid_hex(id: ntp_proto::ReferenceId) -> String {
    format!("{:08X}", u32::from_be_bytes(id.0))
}

/// The document, with the log level in force.
pub fn state(hub: &StatusHub, log_level: &str) -> DebugState {
    let snap = **hub.state().load();
    let s = &snap.server;
    DebugState {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        uid: nix::unistd::geteuid().as_raw(),
        uptime_seconds: hub.uptime(),
        log_level: log_level.to_owned(),
        served: ServedDebug {
            leap: s.leap.to_bits(),
            stratum: s.stratum,
            reference_id: refid_hex(s.reference_id),
            root_delay_seconds: s.root_delay.to_seconds(),
            root_dispersion_seconds: s.root_dispersion.to_seconds(),
            correction_offset_seconds: snap.correction.offset.to_seconds(),
            correction_frequency_ppm: snap.correction.freq * 1e6,
        },
        sync: (*hub.sync_debug()).clone(),
        server: views::server_stats(hub),
        nts_ke: hub.nts_ke().map(|k| NtsKeDebug {
            handshakes: k.handshakes.load(Ordering::Relaxed),
            failures: k.failures.load(Ordering::Relaxed),
            rejected_busy: k.rejected_busy.load(Ordering::Relaxed),
        }),
        faults: hub.faults().active(),
        memory: Memory::read(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc() {
        let m = Memory::read();
        assert!(m.rss_bytes.is_some_and(|b| b > 100_000), "{m:?}");
        assert!(m.threads.is_some_and(|t| t >= 1), "{m:?}");
    }
}
