//! Server settings in the NTPService spelling: `[server]`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Server settings in the NTPService (Kubernetes) spelling.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Another spelling of `ntp_server.stratum`. When set it is used as `ntp_server.stratum`; setting both to different values in the same file (or the same environment) is an error. The loader moves the value into `ntp_server.stratum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 15))]
    pub stratum: Option<u8>,
    /// File where the measured frequency error of the local clock is kept across restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driftfile: Option<PathBuf>,
    /// When the clock may be stepped instead of slewed.
    pub makestep: MakeStep,
    /// Serving the local clock as a fallback reference.
    pub local: LocalReference,
    /// A leap second list in the IERS/NIST `leap-seconds.list` format (Debian's `tzdata` ships `/usr/share/zoneinfo/leap-seconds.list`). Its SHA-1 line and expiry are checked: a corrupt or expired list is reported (log, `/api/v1/status`) and not used. With a list, leap seconds are announced to clients (leap indicator) during the whole UTC day that ends with one, applied to the clock at its end (the kernel's insert/delete with `clock.discipline = "system"`, a one-second step of the virtual clock otherwise), and served from local and reference clocks too; the sources' leap indicators are then ignored. Without one, a leap indicator that the selected sources agree on is followed on the last day of a month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leapfile: Option<PathBuf>,
    /// Leap seconds from the system's time zone database instead, as chrony's `leapsectz`: a zone of its `right/` tree, e.g. `right/UTC` (looked up under `/usr/share/zoneinfo` unless it is an absolute path). It has no expiry. Set either this or `server.leapfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leapsectz: Option<String>,
    /// Serve a leap second smeared over a window instead of announcing it, as Google's and AWS's public time services do. Applies when the daemon disciplines a clock (upstream sources or reference clocks).
    #[serde(alias = "leapSmear")]
    pub leap_smear: LeapSmear,
}

/// Leap smear: around a leap second, serve time that absorbs it gradually instead of announcing it. Clients then never see a leap indicator or a jump; served time differs from UTC by up to half a second (linear, cosine) in the middle of the window. Do not mix smeared and unsmeared servers (or servers that smear differently) in one client's source list: they disagree by up to a second during the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LeapSmear {
    /// Smear leap seconds instead of announcing them.
    pub enabled: bool,
    /// Length of the smear window, seconds, centred on the leap second (86400: noon to noon UTC, as Google and AWS do; at most a day, the day the leap second is known from the sources alone).
    #[schemars(range(min = 3600, max = 86400))]
    pub duration: u32,
    /// `linear`: a constant slew of 1 s per `duration` (Google, AWS); `cosine`: starts and ends smoothly, peaking at π/2 s per `duration` in the middle.
    pub shape: SmearShape,
}

impl Default for LeapSmear {
    fn default() -> Self {
        Self { enabled: false, duration: 86_400, shape: SmearShape::Linear }
    }
}

/// The shape of a leap smear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmearShape {
    /// A constant rate over the window.
    #[default]
    Linear,
    /// Half a cosine: zero rate at both ends.
    Cosine,
}

/// When the clock may be stepped instead of slewed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MakeStep {
    /// Step the clock when the offset is larger than this many seconds.
    #[schemars(range(min = 0.0))]
    pub threshold: f64,
    /// Stepping is allowed only during this many first clock updates.
    pub limit: u32,
}

impl Default for MakeStep {
    fn default() -> Self {
        Self { threshold: 1.0, limit: 3 }
    }
}

/// Serving the local clock as a fallback reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LocalReference {
    /// Serve the local clock when no upstream source is usable.
    pub enabled: bool,
    /// The stratum advertised while serving the local clock as fallback (high = low priority).
    #[schemars(range(min = 1, max = 15))]
    pub stratum: u8,
}

impl Default for LocalReference {
    fn default() -> Self {
        Self { enabled: false, stratum: 10 }
    }
}
