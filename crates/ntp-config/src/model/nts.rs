//! Network Time Security for the server: `[security.nts]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ntp_proto::nts::KE_PORT;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::ListenAddress;

/// Network Time Security (RFC 8915) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtsConfig {
    /// Serve NTS key establishment and NTS-protected NTP.
    pub enabled: bool,
    /// The TCP socket address of the NTS key-establishment server; a bare IP address listens on port 4460.
    #[serde(alias = "keListen")]
    #[serde(deserialize_with = "crate::address::ke_listen")]
    #[schemars(with = "String")]
    pub ke_listen: ListenAddress,
    /// PEM file with the server certificate chain presented to NTS-KE clients.
    #[serde(alias = "certificateChain", skip_serializing_if = "Option::is_none")]
    pub certificate_chain: Option<PathBuf>,
    /// PEM file with the private key of the server certificate.
    #[serde(alias = "privateKey", skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PathBuf>,
    /// Directory where NTS server cookie keys are kept across restarts; several instances may share it (see the README).
    #[serde(alias = "keyDirectory", skip_serializing_if = "Option::is_none")]
    pub key_directory: Option<PathBuf>,
    /// Hours between cookie master-key rotations.
    #[serde(alias = "rotationHours")]
    #[schemars(range(min = 1, max = 8760))]
    pub rotation_hours: u32,
    /// How many previous cookie keys stay valid (cookies made with them are still accepted).
    #[serde(alias = "keepKeys")]
    #[schemars(range(min = 1, max = 100))]
    pub keep_keys: u32,
    /// Host name or address to send NTS-KE clients to for NTP, when it differs from the NTS-KE server (NTPv4 Server Negotiation record).
    #[serde(alias = "ntpServer", skip_serializing_if = "Option::is_none")]
    pub ntp_server: Option<String>,
    /// Concurrent NTS-KE connections; more are refused.
    #[serde(alias = "maxConnections")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_connections: usize,
    /// Seconds an NTS-KE client may take for the whole exchange.
    #[schemars(range(min = 1, max = 300))]
    pub timeout: u32,
}

impl Default for NtsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ke_listen: ListenAddress::Socket(SocketAddr::from(([0, 0, 0, 0], KE_PORT))),
            certificate_chain: None,
            private_key: None,
            key_directory: None,
            rotation_hours: 24,
            keep_keys: 7,
            ntp_server: None,
            max_connections: 256,
            timeout: 5,
        }
    }
}

impl NtsConfig {
    /// The NTS-KE socket to listen on: `ke_listen`, a bare address on port
    /// 4460.
    pub fn ke_socket(&self) -> SocketAddr {
        self.ke_listen.socket(KE_PORT)
    }

    /// How often the cookie master key rotates (`rotation_hours`).
    pub fn rotation_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.rotation_hours) * 3600)
    }

    /// How long one NTS-KE exchange may take (`timeout`).
    pub fn exchange_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout))
    }
}
