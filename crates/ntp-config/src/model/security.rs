//! The server's protections: `[security]` with its authentication keys, rate limits and access rules (NTS in [`super::nts`]).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::nts::NtsConfig;
use crate::cidr::Cidr;

/// Authentication, NTS, rate limiting and access control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Turn on symmetric-key (MAC) authentication: requests carrying a valid MAC get authenticated replies, requests with a bad MAC are dropped, requests without one are still answered unless their network is in `security.authentication.require_for` (the seed 000 switch; the same as `security.authentication.enabled`).
    #[serde(alias = "enableAuthentication")]
    pub enable_authentication: bool,
    /// Limit how many requests each client may send (the seed 000 switch; see also `security.ratelimit`).
    #[serde(alias = "enableRateLimiting")]
    pub enable_rate_limiting: bool,
    /// The number of requests a single client may send per minute, on average, when `enable_rate_limiting` is on; bursts of `security.ratelimit.burst` are allowed and nothing beyond the limit is answered (no leak).
    #[serde(alias = "maxQueriesPerMinute")]
    pub max_queries_per_minute: u32,
    /// Network Time Security (RFC 8915) key establishment and NTS-protected NTP.
    pub nts: NtsConfig,
    /// Symmetric-key (MAC) authentication of NTP packets.
    pub authentication: AuthenticationConfig,
    /// Per-client response rate limiting, in chrony's terms.
    pub ratelimit: RateLimitConfig,
    /// Access rules: the most specific network (longest prefix) that contains the client decides. When no rule matches, the client is denied if any `allow` rule exists (an allow list restricts) and allowed otherwise (a deny list excludes); with no rules everyone is served.
    pub access: Vec<AccessRule>,
    /// Answer denied clients with a DENY kiss-o'-death instead of silence.
    #[serde(alias = "denyKod")]
    pub deny_kod: bool,
    /// Networks (CIDR) whose NTP control (mode 6) queries — `ntpq -p`, `ntpq -c rv`, `ntpstat` — are answered. Read-only: the system and association variables; writes, configuration and key operations are refused with an error reply. Rate limited like time requests, and only where the access rules allow the client. Queries from other networks are dropped and counted (`control_mode`). The default is loopback only; `[]` answers none.
    #[serde(alias = "mode6Allow")]
    pub mode6_allow: Vec<Cidr>,
    /// After binding its sockets as root, the daemon switches to this user, keeping only CAP_NET_BIND_SERVICE (and CAP_SYS_TIME when it steers the system clock). A local account, read from /etc/passwd (not from directory services: the shipped static binary cannot load their modules). When the default user does not exist, `nobody` is used with a warning; any other missing user is an error. `root` keeps all privileges (warned about).
    pub user: String,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            enable_authentication: false,
            enable_rate_limiting: false,
            max_queries_per_minute: 1000,
            nts: NtsConfig::default(),
            authentication: AuthenticationConfig::default(),
            ratelimit: RateLimitConfig::default(),
            access: Vec::new(),
            deny_kod: false,
            mode6_allow: ["127.0.0.0/8", "::1"].iter().filter_map(|n| n.parse().ok()).collect(),
            user: "simple-ntpd".to_owned(),
        }
    }
}

/// Symmetric-key (MAC) authentication of NTP packets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// Answer authenticated requests with authenticated responses.
    pub enabled: bool,
    /// A chrony-style key file with further keys.
    #[serde(alias = "keyFile", skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Keys given inline. Their values are secrets: `config show` prints them as `<redacted>`.
    pub keys: Vec<AuthKey>,
    /// Networks (CIDR) whose requests must carry a valid MAC; unauthenticated requests from them are dropped and counted.
    #[serde(alias = "requireFor")]
    pub require_for: Vec<Cidr>,
}

/// One symmetric authentication key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthKey {
    /// The key identifier carried in authenticated packets.
    #[schemars(range(min = 1))]
    pub id: u32,
    /// The MAC algorithm, e.g. `SHA256`, `AES128CMAC`, `MD5`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// The key itself (a secret).
    pub value: String,
}

/// Per-client response rate limiting, in chrony's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Rate-limit responses.
    pub enabled: bool,
    /// The minimum average interval between responses to one client, as a power of two in seconds (3 = 8 s), like chrony's `ratelimit interval`.
    #[schemars(range(min = -19, max = 12))]
    pub interval: i32,
    /// How many responses a client may get in a burst above the average rate.
    #[schemars(range(min = 1, max = 255))]
    pub burst: u32,
    /// How often a response is let through anyway once the limit is exceeded: one in 2^leak responses.
    #[schemars(range(min = 1, max = 4))]
    pub leak: u32,
    /// Answer over-limit requests that are not let through with a RATE kiss-o'-death (never larger than the request) instead of silence.
    pub kod: bool,
    /// Client slots per worker (fixed memory, allocated at start; the least recently seen client is evicted). A flood from spoofed addresses cannot grow it.
    #[serde(alias = "tableSize")]
    #[schemars(range(min = 16, max = 16777216))]
    pub table_size: usize,
    /// IPv6 clients are limited per prefix of this length (a host usually has a whole /64).
    #[serde(alias = "ipv6Prefix")]
    #[schemars(range(min = 1, max = 128))]
    pub ipv6_prefix: u8,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { enabled: false, interval: 3, burst: 8, leak: 2, kod: false, table_size: 65536, ipv6_prefix: 64 }
    }
}

/// One access rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// The client network in CIDR notation (`192.168.0.0/16`, `2001:db8::/32`, `0.0.0.0/0`); a bare address means that one host.
    pub network: Cidr,
    /// Whether clients in `network` are served (`allow`) or ignored (`deny`).
    pub permission: Permission,
}

/// What an access rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Serve matching clients.
    Allow,
    /// Ignore matching clients.
    Deny,
}
