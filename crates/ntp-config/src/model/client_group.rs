//! A group of NTP clients with its own policy: the `spec` of the NTPClient
//! resource (seed 002's "client groups with specific NTP policies"), which
//! `simple-ntpd operator` folds into the access rules and authentication
//! requirements of the NTPService it names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::security::Permission;
use crate::cidr::Cidr;

/// The policy for one group of NTP clients, applied to the NTPService `service_ref` in the same namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// The name of the NTPService (same namespace) that serves this group.
    #[serde(alias = "serviceRef")]
    pub service_ref: String,
    /// The group's networks (CIDR); each becomes an entry of the service's `security.access`.
    pub networks: Vec<Cidr>,
    /// Whether the group is served (`allow`) or ignored (`deny`).
    #[serde(default = "allow")]
    pub permission: Permission,
    /// The group's requests must carry a valid MAC: its networks join `security.authentication.require_for`.
    #[serde(default, alias = "requireAuthentication")]
    pub require_authentication: bool,
}

fn allow() -> Permission {
    Permission::Allow
}
