//! Where the daemon listens for NTP requests: `[network]`.

use crate::address::{listen_address_schema, one_or_many, ListenAddress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the daemon listens for NTP requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// The addresses to serve NTP on: one string or a list of strings. Each entry is an IP address (`0.0.0.0`, `::1`), served on `listen_port`, or a socket address (`127.0.0.1:1123`, `[::1]:1123`) that keeps its own port. The default serves every IPv4 and every IPv6 address.
    #[serde(alias = "listenAddress", deserialize_with = "one_or_many")]
    #[schemars(schema_with = "listen_address_schema")]
    pub listen_address: Vec<ListenAddress>,
    /// The UDP port used for every `listen_address` entry that does not carry its own port.
    #[serde(alias = "listenPort")]
    pub listen_port: u16,
    /// Let other simple-ntpd processes of the same user serve the same addresses (one SO_REUSEPORT group; the kernel spreads clients over all of them), e.g. to start a new version before stopping the old one, or to run replicas on one host. Off by default: a second instance on a served address refuses to start, so one started by mistake cannot take a share of the clients.
    #[serde(alias = "sharePort")]
    pub share_port: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen_address: vec![
                ListenAddress::Ip(std::net::Ipv4Addr::UNSPECIFIED.into()),
                ListenAddress::Ip(std::net::Ipv6Addr::UNSPECIFIED.into()),
            ],
            listen_port: 123,
            share_port: false,
        }
    }
}
