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
    /// Serve endpoints that let tests steer the daemon.
    #[serde(alias = "enableTestEndpoints")]
    pub enable_test_endpoints: bool,
    /// Serve endpoints that expose internal state for debugging.
    #[serde(alias = "enableDebugEndpoints")]
    pub enable_debug_endpoints: bool,
}
