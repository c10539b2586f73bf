//! The configuration structs: one struct per TOML table, with defaults, serde
//! spelling (snake_case keys plus the seed camelCase spellings as aliases) and
//! doc comments that become the text of the configuration reference.
//!
//! Numeric ranges are declared here with `#[schemars(range(..))]`; the
//! validator reads them back from the generated schema, so each range is
//! written exactly once. One file per top-level table (`[security.nts]` has
//! its own).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod client_group;
mod clock;
mod development;
mod dns;
mod enabled;
mod kubernetes;
mod logging;
mod monitoring;
mod network;
mod ntp_server;
mod nts;
mod performance;
mod security;
mod server;
mod sources;
mod vlan;

pub use client_group::*;
pub use clock::*;
pub use development::*;
pub(crate) use dns::relations as dns_relations;
pub use dns::*;
pub use enabled::*;
pub(crate) use kubernetes::problems as kubernetes_problems;
pub use kubernetes::*;
pub use logging::*;
pub use monitoring::*;
pub use network::*;
pub use ntp_server::*;
pub use nts::*;
pub use performance::*;
pub use security::*;
pub use server::*;
pub use sources::*;
pub use vlan::*;

/// The complete simple-ntpd configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Serve time at all. `false` (the NTPService resource's `spec.enabled: false`) is still checked, but `run` exits without serving (a reload that turns it off stops the daemon) and `simple-ntpd operator` runs no workload for it.
    pub enabled: Enabled,
    /// Where the daemon listens for NTP requests.
    pub network: NetworkConfig,
    /// What the server advertises to its clients and where it gets time from.
    #[serde(alias = "ntpServer")]
    pub ntp_server: NtpServerConfig,
    /// Where and how the daemon writes its log.
    pub logging: LoggingConfig,
    /// Authentication, NTS, rate limiting and access control.
    pub security: SecurityConfig,
    /// Threads and packet size limits.
    pub performance: PerformanceConfig,
    /// Switches for development builds and test setups.
    pub development: DevelopmentConfig,
    /// The monitoring (metrics) endpoint and its alert thresholds.
    pub monitoring: MonitoringConfig,
    /// Upstream time sources in the NTPService (Kubernetes) spelling: pools, servers and hardware clocks.
    pub sources: SourcesConfig,
    /// Server settings in the NTPService (Kubernetes) spelling.
    pub server: ServerConfig,
    /// How the daemon disciplines the clock of the machine it runs on.
    pub clock: ClockConfig,
    /// Per-VLAN service policies, one `[[vlan_config]]` table per VLAN. The mapping to the host: `vlan_ref` is the VLAN's name (a controller writes the name of the VLAN object it refers to) and is taken as the name of the network interface that carries the VLAN, unless `interface` names another one. The daemon learns the arrival interface of every request from the kernel (IP_PKTINFO / IPV6_PKTINFO) and follows interfaces that appear, disappear or change addresses while it runs. Interfaces without an entry are served under the global `[security]` rules; an entry whose interface does not exist (yet) takes effect when it appears.
    #[serde(alias = "vlanConfig")]
    pub vlan_config: Vec<VlanConfig>,
    /// Registering this server's addresses in the local DNS zone (RFC 2136 dynamic updates signed with TSIG).
    pub dns: DnsConfig,
    /// How `simple-ntpd operator` runs this configuration on Kubernetes (the NTPService resource's `spec.kubernetes`); the daemon ignores it.
    #[serde(skip_serializing_if = "KubernetesConfig::is_default")]
    pub kubernetes: KubernetesConfig,
}
