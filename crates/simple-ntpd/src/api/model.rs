//! The JSON documents of the management API (`/api/v1/*`, `/healthz`,
//! `/readyz`). One set of types serves the HTTP handlers and the CLI that
//! reads them, and `docs/openapi.yaml` describes them (tests check the
//! responses against it).

use serde::{Deserialize, Serialize};

/// Overall health, from the thresholds in `[monitoring]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Everything within thresholds.
    Ok,
    /// A warning threshold is crossed.
    Warning,
    /// A critical threshold is crossed, or no usable time.
    Critical,
}

impl HealthState {
    /// 0 ok, 1 warning, 2 critical (the `ntp_health_status` metric).
    pub fn level(self) -> u8 {
        match self {
            HealthState::Ok => 0,
            HealthState::Warning => 1,
            HealthState::Critical => 2,
        }
    }
}

/// Health state with the reasons for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The worst state of all checks.
    pub state: HealthState,
    /// One line per crossed threshold (empty when ok).
    pub reasons: Vec<String>,
}

/// `GET /api/v1/status`: what the daemon serves and how well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Daemon version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// `local_reference`, `synchronised` or `unsynchronised`.
    pub mode: String,
    /// True when replies carry usable time.
    pub synchronised: bool,
    /// Leap indicator served (3 = unsynchronised).
    pub leap: u8,
    /// Stratum served (0 = unsynchronised).
    pub stratum: u8,
    /// Reference id served: dotted quad, or text for stratum 0/1.
    pub reference_id: String,
    /// Reference time as Unix seconds (null when unknown).
    pub reference_time: Option<f64>,
    /// Root delay served, seconds.
    pub root_delay_seconds: f64,
    /// Root dispersion served (now), seconds.
    pub root_dispersion_seconds: f64,
    /// Clock precision, log2 seconds.
    pub precision: i8,
    /// Estimated offset of the served clock from true time, seconds.
    pub offset_seconds: f64,
    /// Jitter of the offset estimate, seconds.
    pub jitter_seconds: f64,
    /// Frequency correction applied, ppm.
    pub frequency_ppm: f64,
    /// How the clock is disciplined.
    pub discipline: String,
    /// Addresses being served.
    pub listen: Vec<String>,
    /// Sources configured.
    pub sources_total: usize,
    /// Sources usable for synchronisation now.
    pub sources_selectable: usize,
    /// Health with reasons.
    pub health: Health,
    /// Successful configuration reloads since start.
    pub reloads: u64,
    /// The last reload failure, if the last reload failed.
    pub last_reload_error: Option<String>,
    /// Injected test faults in force (`/test/fault`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::faults::FaultView>,
    /// Where leap seconds come from and what is known of them.
    #[serde(default)]
    pub leap_seconds: LeapSeconds,
    /// The DNS registration (`[dns]`); absent when it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsRegistration>,
}

/// The DNS registration in `GET /api/v1/status` (`[dns]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsRegistration {
    /// The registered name (fully qualified).
    pub name: String,
    /// The zone's primary that takes the updates.
    pub server: String,
    /// True while the records are in the zone (the last update that added them succeeded).
    pub registered: bool,
    /// The addresses registered (or to be registered).
    pub addresses: Vec<String>,
    /// Updates the server accepted.
    pub updates_ok: u64,
    /// Updates that failed (no answer, refused, unverified answer).
    pub updates_failed: u64,
    /// The last failure, until an update succeeds.
    pub last_error: Option<String>,
    /// Unix time of the last accepted update.
    pub last_update: Option<f64>,
}

/// Leap seconds in `GET /api/v1/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeapSeconds {
    /// `sources` (the selected sources' leap indicator), `file PATH`
    /// (`server.leapfile`) or `tz ZONE` (`server.leapsectz`).
    pub source: String,
    /// The configured table: `none`, `ok`, `expired` or `invalid` (the last
    /// two are not used).
    pub table: String,
    /// Why the table is not used.
    pub problem: Option<String>,
    /// The table's expiry, Unix seconds (null without one).
    pub expires: Option<i64>,
    /// The next leap second the table knows: the Unix second it takes effect.
    pub next_leap: Option<i64>,
    /// `insert` or `delete`, with `next_leap`.
    pub next_leap_kind: Option<String>,
    /// TAI − UTC now, seconds, from the table.
    pub tai_offset: Option<i32>,
    /// Leap seconds are smeared (`server.leap_smear`) instead of announced.
    pub smear: bool,
}

/// The selection state of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Used as the system peer.
    Selected,
    /// Combined into the time estimate with the selected source.
    Combined,
    /// Agrees with the majority but not combined.
    Candidate,
    /// Disagrees with the majority; rejected.
    Falseticker,
    /// Reachable but not usable (too far, or configured not to be selected).
    Outlier,
    /// No reply recently, or its name does not resolve.
    Unreachable,
    /// No sample yet.
    Pending,
}

/// One upstream source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Configured name (host, or pool member).
    pub name: String,
    /// Resolved address, if any.
    pub address: Option<String>,
    /// Its stratum.
    pub stratum: u8,
    /// Reachability register (8 bits, as in `chronyc sources`, shown octal by the CLI).
    pub reachability: u8,
    /// Current poll interval, seconds.
    pub poll_seconds: f64,
    /// Offset (source minus us), seconds.
    pub offset_seconds: f64,
    /// Round-trip delay, seconds.
    pub delay_seconds: f64,
    /// Jitter, seconds.
    pub jitter_seconds: f64,
    /// Selection state.
    pub state: SourceState,
    /// Seconds since the last valid reply (null when none yet).
    pub last_response_seconds_ago: Option<f64>,
    /// The last sample was interleaved (RFC 9769, `xleave = true` and a
    /// server that answers so): it carries the server's real transmit time.
    #[serde(default)]
    pub interleaved: bool,
    /// For a reference clock: its driver's state (absent for servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refclock: Option<RefclockStatus>,
}

/// A reference clock's driver, in `GET /api/v1/sources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefclockStatus {
    /// `SHM`, `SOCK`, `NMEA` or `PPS`.
    pub driver: String,
    /// `ok`, `waiting` (open, nothing read yet), `no_fix`, `error` (device missing or failing; retried) or `starting`.
    pub status: String,
    /// Why, for every status but `ok`.
    pub message: Option<String>,
    /// Readings (samples, pulses) the driver delivered.
    pub readings: u64,
    /// Malformed inputs dropped (bad sentences, datagrams, segments).
    pub bad_input: u64,
    /// Readings the filter refused (stale, or a pulse that could not be given its second).
    pub refused: u64,
    /// Why the latest refused reading was refused.
    pub last_refusal: Option<String>,
}

/// `GET /api/v1/sources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    /// Every configured source.
    pub sources: Vec<Source>,
}

/// One client from the bounded client log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// Client address.
    pub address: String,
    /// Requests seen.
    pub requests: u64,
    /// Requests not answered.
    pub dropped: u64,
    /// Seconds since its last request.
    pub last_seen_seconds_ago: f64,
    /// The network interface its last request arrived on (`other`: unknown).
    #[serde(default)]
    pub interface: String,
}

/// The clients of one network interface (all of the log, not only the busiest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterfaceClients {
    /// The interface (`other`: unknown).
    pub interface: String,
    /// Its VLAN (`vlan_config` `vlan_ref`), if one is configured.
    pub vlan: Option<String>,
    /// Distinct clients whose last request came in on it.
    pub clients: usize,
    /// Their requests.
    pub requests: u64,
    /// Of those, not answered.
    pub dropped: u64,
}

/// `GET /api/v1/clients`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clients {
    /// Busiest clients first.
    pub clients: Vec<Client>,
    /// Distinct clients currently in the log.
    pub tracked: usize,
    /// Log capacity (slots over all workers).
    pub capacity: usize,
    /// Per network interface, busiest first.
    #[serde(default)]
    pub interfaces: Vec<InterfaceClients>,
}

/// Counters of one listen address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerStats {
    /// The listen address.
    pub address: String,
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Datagrams not answered.
    pub dropped: u64,
}

/// `GET /api/v1/serverstats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Datagrams not answered, all reasons.
    pub dropped_total: u64,
    /// Datagrams not answered, by reason.
    pub dropped: std::collections::BTreeMap<String, u64>,
    /// Failed sends.
    pub send_errors: u64,
    /// Failed receives.
    pub receive_errors: u64,
    /// Receives without a kernel timestamp.
    pub rx_timestamp_fallback: u64,
    /// Replies sent in interleaved mode (RFC 9769).
    pub interleaved: u64,
    /// Kernel transmit timestamps asked for but missed (interleaved-mode
    /// replies, calibration samples of batched sends).
    pub tx_timestamp_missed: u64,
    /// System calls of batched sends (`performance.batch_send`), each with
    /// a chunk of replies.
    pub send_chunks: u64,
    /// Replies sent in those chunks.
    pub chunked_replies: u64,
    /// The batched sends' worst predicted transmit-time scatter, seconds.
    pub transmit_spread: f64,
    /// Kiss-o'-death replies sent (DENY, RATE).
    pub kod_sent: u64,
    /// Replies authenticated with a MAC.
    pub authenticated: u64,
    /// Replies protected with NTS.
    pub nts_replied: u64,
    /// Control (mode 6, ntpq/ntpstat) queries answered, error replies included.
    #[serde(default)]
    pub control_replied: u64,
    /// NTS-KE handshakes completed.
    pub nts_ke_handshakes: u64,
    /// NTS-KE connections that failed (TLS, protocol, timeout) or were refused as busy.
    pub nts_ke_failures: u64,
    /// Per listen address.
    pub listeners: Vec<ListenerStats>,
    /// Per network interface requests arrived on.
    #[serde(default)]
    pub interfaces: Vec<InterfaceStats>,
}

/// Counters of one network interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStats {
    /// The interface (`other`: unknown, or beyond the 63 interfaces counted one by one).
    pub interface: String,
    /// Its VLAN (`vlan_config` `vlan_ref`), if one is configured.
    pub vlan: Option<String>,
    /// Requests arriving on it are answered (false: a VLAN with `enabled = false`).
    pub served: bool,
    /// Datagrams received.
    pub received: u64,
    /// Replies sent.
    pub replied: u64,
    /// Datagrams not answered.
    pub dropped: u64,
    /// Broadcasts sent on it.
    pub broadcasts: u64,
    /// Datagrams not answered, by reason (only reasons that occurred).
    pub dropped_by_reason: std::collections::BTreeMap<String, u64>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// True when the probe passes (HTTP 200; 503 otherwise).
    pub ok: bool,
    /// Why, in words.
    pub reason: String,
    /// Serving mode (see `Status::mode`).
    pub mode: String,
    /// Health with reasons.
    pub health: Health,
}

/// Which window of the history: the last hour (5 s samples) or the last
/// day (5-minute means).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryRange {
    /// The last hour.
    #[default]
    Hour,
    /// The last day.
    Day,
}

/// The offset series of one source in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistorySource {
    /// Configured name.
    pub name: String,
    /// Address it had.
    pub address: Option<String>,
    /// Its offset at each sample, seconds (null: not reachable or not yet charted).
    pub offset_seconds: Vec<Option<f32>>,
}

/// `GET /api/v1/history`: the recent past, one array per quantity, all
/// aligned with `time` (oldest first; null = unknown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The window.
    pub range: HistoryRange,
    /// Seconds between samples.
    pub interval_seconds: u32,
    /// Samples the window holds when full.
    pub capacity: usize,
    /// Sample times, Unix seconds (the daemon host's clock).
    pub time: Vec<f64>,
    /// Stratum served (0 = unsynchronised at some point of the sample).
    pub stratum: Vec<u8>,
    /// Offset estimate, seconds (null while unsynchronised).
    pub offset_seconds: Vec<Option<f32>>,
    /// Jitter, seconds.
    pub jitter_seconds: Vec<Option<f32>>,
    /// Frequency correction, ppm.
    pub frequency_ppm: Vec<Option<f32>>,
    /// Datagrams received per second.
    pub requests_per_second: Vec<Option<f32>>,
    /// Datagrams dropped per second, by reason (only reasons seen in the window).
    pub dropped_per_second: std::collections::BTreeMap<String, Vec<Option<f32>>>,
    /// Offset series of up to 8 sources.
    pub sources: Vec<HistorySource>,
}
