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
