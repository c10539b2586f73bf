//! Per-VLAN service policies: `[[vlan_config]]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The NTP service policy for one VLAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VlanConfig {
    /// The name of the VLAN (e.g. `vlan-10`).
    #[serde(alias = "vlanRef")]
    pub vlan_ref: String,
    /// Serve NTP on this VLAN.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Send NTP broadcasts on this VLAN.
    #[serde(default)]
    pub broadcast: bool,
    /// Only serve clients: never accept this VLAN's hosts as time sources.
    #[serde(default, alias = "clientsOnly")]
    pub clients_only: bool,
}

fn default_true() -> bool {
    true
}
