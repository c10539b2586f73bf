//! Engine settings ([`EngineConfig`]) and per-source settings
//! ([`SourceParams`]), with the defaults the documentation states.

use core::net::IpAddr;
use ntp_proto::ReferenceId;

/// chrony's `makestep`: step the clock instead of slewing when the offset
/// is above `threshold` seconds, but only during the first `limit` clock
/// updates (`limit` = 0: never step; a negative limit is not representable:
/// use `u32::MAX` to always allow steps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MakeStep {
    /// Offsets above this (seconds) are stepped.
    pub threshold: f64,
    /// Only during the first this many updates.
    pub limit: u32,
}

/// Settings of the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineConfig {
    /// Step policy. Default: above 20 ms (what the default 500 ppm slew
    /// takes 40 s to correct) during the first 3 updates.
    pub makestep: MakeStep,
    /// Offsets above this (seconds) are refused (reported, not applied)
    /// outside the makestep window; `None` disables. Default 1000 s (ntpd).
    pub panic_threshold: Option<f64>,
    /// Sources agreeing needed at least, whatever the majority rule says
    /// (chrony's `minsources`). Default 1.
    pub min_sources: usize,
    /// Sources whose root distance exceeds this (seconds) are not
    /// selectable (ntpd MAXDIST). Default 1.5 s.
    pub max_distance: f64,
    /// Synchronisation is declared lost once the root distance, growing at
    /// 15 ppm since the last update, exceeds this (seconds). Default 1.5 s
    /// (ntpd's MAXDIST), i.e. about 27 h of holdover from a 10 ms distance.
    pub max_root_distance: f64,
    /// Largest total frequency correction, ppm. Default 500 (the kernel's
    /// `ADJ_FREQUENCY` range).
    pub max_frequency_ppm: f64,
    /// Fastest slew, ppm on top of the frequency correction. Default 500.
    pub max_slew_ppm: f64,
    /// Shortest slew, seconds: an offset is corrected over at least this
    /// long. Default 1 s.
    pub min_slew_time: f64,
    /// Frequency correction to start from (driftfile), ppm; `None` keeps the
    /// clock's current setting.
    pub initial_frequency_ppm: Option<f64>,
    /// 1σ uncertainty of the starting frequency, ppm. Default 100 without a
    /// driftfile value; 5 is sensible with one.
    pub initial_frequency_sd_ppm: f64,
    /// Largest poll exponent the engine's advice asks for while a source's
    /// estimate is still settling. Default 6.
    pub settling_poll: i8,
    /// Poll advice target: the poll interval T is the largest power of two
    /// with wander × T³ / 3 ≤ measurement variance / `poll_target`, so the
    /// filter keeps averaging several samples. Default 32.
    pub poll_target: f64,
    /// The local clock's precision (log2 s).
    pub precision: i8,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            makestep: MakeStep { threshold: 0.02, limit: 3 },
            panic_threshold: Some(1000.0),
            min_sources: 1,
            max_distance: 1.5,
            max_root_distance: 1.5,
            max_frequency_ppm: 500.0,
            max_slew_ppm: 500.0,
            min_slew_time: 1.0,
            initial_frequency_ppm: None,
            initial_frequency_sd_ppm: 100.0,
            settling_poll: 6,
            poll_target: 32.0,
            precision: -20,
        }
    }
}

/// Settings of one source, as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SourceParams {
    /// The server's address: our reference id when it is the system peer
    /// (IPv4 as is, IPv6 as the first four bytes of its MD5).
    pub address: Option<IpAddr>,
    /// Reference id to use instead of the address (reference clocks).
    pub reference_id: Option<ReferenceId>,
    /// Prefer this source: when any preferred source survives selection,
    /// only preferred sources are combined.
    pub prefer: bool,
    /// Never select this source (monitor only).
    pub noselect: bool,
    /// Trust this source (chrony's `trust`): only other trusted sources
    /// can outvote it.
    pub trust: bool,
    /// A reference clock: its samples may have stratum 0 (the clock
    /// itself), which makes the served stratum 1.
    pub refclock: bool,
}
