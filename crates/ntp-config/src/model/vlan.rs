//! Per-VLAN (per-interface) service policies: `[[vlan_config]]`, the
//! NTPService resource's `vlanConfig`.
//!
//! The mapping, for operators and controllers that generate these entries
//! from VLAN objects: one entry per VLAN; `vlan_ref` is the VLAN's name and,
//! unless `interface` says otherwise, also the name of the network
//! interface that carries it on this host (the kernel's interface name, as
//! `ip link` shows it). The daemon learns the arrival interface of every
//! request from the kernel and applies that interface's entry; interfaces
//! without an entry are served under the global `[security]` rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::security::{AccessRule, RateLimitConfig};

/// The NTP service policy for one VLAN (one network interface).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VlanConfig {
    /// The name of the VLAN (e.g. `vlan-10`); also the name of the network interface that carries it, unless `interface` is set.
    #[serde(alias = "vlanRef")]
    pub vlan_ref: String,
    /// The network interface that carries the VLAN on this host (e.g. `eth0.10`, `br-iot`), when its name differs from `vlan_ref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Serve NTP on this VLAN. Requests arriving on a VLAN that is not enabled are dropped without an answer and counted (`reason="interface_disabled"`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Send NTP broadcasts (mode 5) on this VLAN: to the interface's IPv4 broadcast address and to `ff02::101` on it, every `broadcast_interval` seconds, from the NTP port.
    #[serde(default)]
    pub broadcast: bool,
    /// Seconds between two broadcasts (chrony's default is 64).
    #[serde(default = "default_broadcast_interval", alias = "broadcastInterval")]
    #[schemars(range(min = 1, max = 65536))]
    pub broadcast_interval: u32,
    /// The `id` of a symmetric key (see `security.authentication.keys`) that authenticates the broadcasts with a MAC; broadcast clients configured with the same key accept only those.
    #[serde(default, alias = "broadcastKey", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub broadcast_key: Option<u32>,
    /// Hosts on this VLAN are only ever clients: no upstream server reached through it is used as a source, and no broadcast client listens on it.
    #[serde(default, alias = "clientsOnly")]
    pub clients_only: bool,
    /// Access rules for requests arriving on this VLAN, in place of `security.access` (same rules: the longest matching prefix decides). Not set: the global rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<AccessRule>>,
    /// Rate limits for requests arriving on this VLAN, in place of `security.ratelimit` (`table_size` is shared: the largest configured applies). Not set: the global limits apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimitConfig>,
}

impl VlanConfig {
    /// The name of the network interface that carries the VLAN.
    pub fn interface_name(&self) -> &str {
        self.interface.as_deref().unwrap_or(&self.vlan_ref)
    }
}

fn default_true() -> bool {
    true
}

fn default_broadcast_interval() -> u32 {
    64
}
