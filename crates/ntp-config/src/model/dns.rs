//! Registering the served addresses in DNS (seed 002): `[dns]`, RFC 2136
//! dynamic updates signed with TSIG.

use std::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::host_port::HostPort;
use crate::validate::Problem;

/// Registering this server in the local DNS zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Register A/AAAA records for `hostname` while the daemon serves good time (synchronised, or a local reference) and withdraw them when it stops or loses synchronisation. Failures are retried with backoff and shown in `status` and the metrics; they never affect serving.
    pub enabled: bool,
    /// The zone's primary server that accepts the updates: `host[:port]` (port 53 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<HostPort>,
    /// The zone to update, e.g. `lan.example.net`.
    pub zone: String,
    /// The name to register: relative to `zone` (`ntp`) or fully qualified (`ntp.lan.example.net.`).
    pub hostname: String,
    /// The TSIG key that signs the updates, in BIND's `tsig-keygen` format (`key "NAME" { algorithm hmac-sha256; secret "..."; };`); HMAC-SHA256 and HMAC-SHA512 are accepted.
    #[serde(default, alias = "keyFile", skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The addresses to register. Empty (the default): the addresses the daemon serves on (the listen addresses, or with a wildcard every address of the host except loopback and link-local ones).
    pub addresses: Vec<IpAddr>,
    /// The records' time to live, seconds.
    #[schemars(range(min = 1, max = 86400))]
    pub ttl: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            server: None,
            zone: String::new(),
            hostname: String::new(),
            key_file: None,
            addresses: Vec::new(),
            ttl: 300,
        }
    }
}

/// What an enabled `[dns]` table must name.
pub(crate) fn relations(dns: &DnsConfig, out: &mut Vec<Problem>) {
    if !dns.enabled {
        return;
    }
    if dns.server.is_none() {
        out.push(Problem::new(
            "dns.server",
            "dns.enabled = true needs dns.server (the zone's primary, host[:port])".to_owned(),
        ));
    }
    if dns.zone.trim().is_empty() {
        out.push(Problem::new("dns.zone", "dns.enabled = true needs dns.zone".to_owned()));
    }
    if dns.hostname.trim().is_empty() {
        out.push(Problem::new("dns.hostname", "dns.enabled = true needs dns.hostname".to_owned()));
    }
    if dns.key_file.is_none() {
        out.push(Problem::new(
            "dns.key_file",
            "dns.enabled = true needs dns.key_file (a TSIG key: unsigned updates are not sent)".to_owned(),
        ));
    }
}
