//! Switches for development builds and test setups: `[development]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Switches for development builds and test setups.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DevelopmentConfig {
    /// Reload the configuration files when they change.
    #[serde(alias = "enableHotReload")]
    pub enable_hot_reload: bool,
    /// Serve `/test/fault` on the monitoring endpoint: inject a fault for a bounded time (report unsynchronised, drop a source, add a fixed offset to served time with the virtual clock, refuse NTS-KE) to test alerting and clients end to end. Only loopback clients, or any client with `monitoring.token`, may use it. Every fault is logged, shown by `status` and ends by itself. Changes take effect at once on reload.
    #[serde(alias = "enableTestEndpoints")]
    pub enable_test_endpoints: bool,
    /// Serve `/debug/state` (the full internal state as JSON) and `/debug/log-level` (read or change the log level at run time) on the monitoring endpoint. Only loopback clients, or any client with `monitoring.token`, may use them. Changes take effect at once on reload.
    #[serde(alias = "enableDebugEndpoints")]
    pub enable_debug_endpoints: bool,
}
