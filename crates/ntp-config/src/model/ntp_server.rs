//! What the server advertises and its seed 000 upstream list: `[ntp_server]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::host_port::HostPort;

/// What the server advertises to its clients and where it gets time from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtpServerConfig {
    /// The stratum this server advertises when it serves its local clock as the reference, i.e. when no upstream source is configured (a local reference, like chrony's `local stratum`). When upstream sources are configured the served stratum comes from the selected source (its stratum + 1) and this value is not used to advertise a better stratum than the real state. `server.stratum` is another spelling of this key.
    #[schemars(range(min = 1, max = 15))]
    pub stratum: u8,
    /// Upstream NTP servers to synchronise from, each a host name or address with an optional port (`pool.ntp.org`, `time.nist.gov:123`, `[2001:db8::1]:123`).
    #[serde(alias = "upstreamServers")]
    pub upstream_servers: Vec<HostPort>,
    /// Answer clients that use interleaved mode (RFC 9769, chrony's `xleave`) with the kernel's transmit timestamp of the previous reply instead of a clock read before the send, so their measurements do not include the send path. Costs one fixed table per listen address (16384 clients, 40 bytes each, touched only by clients that send an origin timestamp) and, for interleaved clients only, one kernel transmit timestamp per reply; basic clients are answered as before.
    pub interleaved: bool,
}

impl Default for NtpServerConfig {
    fn default() -> Self {
        Self { stratum: 10, upstream_servers: Vec::new(), interleaved: true }
    }
}
