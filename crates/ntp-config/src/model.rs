//! The configuration structs: one struct per TOML table, with defaults, serde
//! spelling (snake_case keys plus the seed camelCase spellings as aliases) and
//! doc comments that become the text of the configuration reference.
//!
//! Numeric ranges are declared here with `#[schemars(range(..))]`; the
//! validator reads them back from the generated schema, so each range is
//! written exactly once.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::{listen_address_schema, one_or_many, ListenAddress};
use crate::level::LogLevel;

/// The complete simple-ntpd configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
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
    /// Per-VLAN service policies, one `[[vlan_config]]` table per VLAN.
    #[serde(alias = "vlanConfig")]
    pub vlan_config: Vec<VlanConfig>,
}

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

/// What the server advertises to its clients and where it gets time from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtpServerConfig {
    /// The stratum this server advertises when it serves its local clock as the reference, i.e. when no upstream source is configured (a local reference, like chrony's `local stratum`). When upstream sources are configured the served stratum comes from the selected source (its stratum + 1) and this value is not used to advertise a better stratum than the real state. `server.stratum` is another spelling of this key.
    #[schemars(range(min = 1, max = 15))]
    pub stratum: u8,
    /// Upstream NTP servers to synchronise from, each a host name or address with an optional port (`pool.ntp.org`, `time.nist.gov:123`, `[2001:db8::1]:123`).
    #[serde(alias = "upstreamServers")]
    pub upstream_servers: Vec<String>,
}

impl Default for NtpServerConfig {
    fn default() -> Self {
        Self { stratum: 10, upstream_servers: Vec::new() }
    }
}

/// Where and how the daemon writes its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// The least severe level that is logged, case-insensitive: `TRACE`, `DEBUG`, `INFO`, `WARN` (or `WARNING`), `ERROR` (or `CRITICAL`), `OFF`.
    pub level: LogLevel,
    /// Where log lines go: `console` (standard error) or `file` (the path in `file`).
    pub output: LogOutput,
    /// The log file, used when `output = "file"`.
    pub file: PathBuf,
    /// The format of each log line: `text` (human readable) or `json` (one JSON object per line).
    #[serde(alias = "logFormat")]
    pub log_format: LogFormat,
}

impl LoggingConfig {
    /// The configured log level.
    pub fn level(&self) -> LogLevel {
        self.level
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            output: LogOutput::Console,
            file: PathBuf::from("/var/log/simple-ntpd/simple-ntpd.log"),
            log_format: LogFormat::Text,
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogOutput {
    /// Standard error.
    #[default]
    Console,
    /// The file named by `logging.file`.
    File,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

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
    /// After binding its sockets as root, the daemon switches to this user, keeping only CAP_NET_BIND_SERVICE (and CAP_SYS_TIME when it steers the system clock). When the user does not exist, `nobody` is used with a warning. `root` keeps all privileges (warned about).
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
            user: "simple-ntpd".to_owned(),
        }
    }
}

/// Network Time Security (RFC 8915) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NtsConfig {
    /// Serve NTS key establishment and NTS-protected NTP.
    pub enabled: bool,
    /// The TCP socket address of the NTS key-establishment server; a bare IP address listens on port 4460.
    #[serde(alias = "keListen")]
    pub ke_listen: String,
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
            ke_listen: "0.0.0.0:4460".to_owned(),
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
    pub require_for: Vec<String>,
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
    pub network: String,
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

/// Threads and packet size limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PerformanceConfig {
    /// How many threads answer requests; 0 means one per available CPU core.
    #[serde(alias = "workerThreads")]
    #[schemars(range(max = 1024))]
    pub worker_threads: usize,
    /// The largest request, in bytes, that is accepted; bigger datagrams are dropped and counted.
    #[serde(alias = "maxPacketSize")]
    #[schemars(range(min = 48, max = 65507))]
    pub max_packet_size: usize,
    /// How many datagrams a worker takes from the kernel per system call (recvmmsg).
    #[serde(alias = "recvBatch")]
    #[schemars(range(min = 1, max = 256))]
    pub recv_batch: usize,
    /// Send replies in batches with one sendmmsg call instead of one send per reply. Raises throughput, but every reply in a batch is stamped before the batch is sent, so later replies leave tens of microseconds after their transmit timestamp. Off by default: time accuracy first.
    #[serde(alias = "batchSend")]
    pub batch_send: bool,
    /// CPU cores to pin worker threads to, used round-robin (worker i runs on cpu_affinity[i % len]); empty = no pinning.
    #[serde(alias = "cpuAffinity")]
    pub cpu_affinity: Vec<usize>,
    /// Socket receive buffer per worker, in bytes (SO_RCVBUF; as root, SO_RCVBUFFORCE lifts the net.core.rmem_max cap). Larger absorbs longer bursts but, under overload, makes requests wait (256 KiB holds about 2 ms of traffic at 250k requests/s); an NTP reply that waited is worth less than a dropped request.
    #[serde(alias = "socketReceiveBuffer")]
    #[schemars(range(min = 4096, max = 1073741824))]
    pub socket_receive_buffer: usize,
    /// Socket send buffer per worker, in bytes (SO_SNDBUF; SO_SNDBUFFORCE as root).
    #[serde(alias = "socketSendBuffer")]
    #[schemars(range(min = 4096, max = 1073741824))]
    pub socket_send_buffer: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            worker_threads: 0,
            max_packet_size: 2048,
            recv_batch: 32,
            batch_send: false,
            cpu_affinity: Vec::new(),
            socket_receive_buffer: 256 << 10,
            socket_send_buffer: 1 << 20,
        }
    }
}

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

/// The monitoring (metrics) endpoint and its alert thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Serve the HTTP endpoint: Prometheus `/metrics`, `/healthz`, `/readyz` and the JSON API under `/api/v1/` (which the `status`, `sources`, `clients` and `serverstats` commands use).
    pub enabled: bool,
    /// The TCP socket address of the HTTP endpoint. A non-loopback address requires `allow` or `token` (otherwise only `/healthz` and `/readyz`, which answer every client, would be reachable from other hosts).
    pub listen: String,
    /// Networks (CIDR) whose clients may use the HTTP endpoint besides loopback when no `token` is set; other clients get 403. With a `token`, the token decides and this list has no effect. `/healthz` and `/readyz` answer every client.
    pub allow: Vec<String>,
    /// A bearer token: when set, every request except `/healthz` and `/readyz` must carry `Authorization: Bearer <token>`, and a client presenting it is admitted from any address. A secret: redacted in `config show` and the API.
    pub token: Option<String>,
    /// How many client addresses each worker remembers for `/api/v1/clients` (fixed memory; the least recently seen are evicted); 0 turns the client log off.
    #[serde(alias = "clientLogSize")]
    #[schemars(range(max = 1048576))]
    pub client_log_size: usize,
    /// Clock offset thresholds that raise the health state to warning or critical.
    pub offset: OffsetThresholds,
    /// The fewest usable sources before the health state is degraded to warning.
    #[serde(alias = "sourcesMinimum")]
    pub sources_minimum: u32,
    /// The health state is critical when the served stratum is above this (seed 004: 3). Not applied while serving a deliberately configured local reference.
    #[serde(alias = "stratumCriticalAbove")]
    #[schemars(range(min = 1, max = 16))]
    pub stratum_critical_above: u8,
    /// Jitter, in milliseconds, above which the health state is warning (seed 004: 100).
    #[serde(alias = "jitterWarningThreshold")]
    #[schemars(range(min = 0.0))]
    pub jitter_warning_threshold: f64,
    /// Absolute frequency correction, in ppm, above which the health state is warning (seed 004: 10).
    #[serde(alias = "frequencyWarningThreshold")]
    #[schemars(range(min = 0.0))]
    pub frequency_warning_threshold: f64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:9559".to_owned(),
            allow: Vec::new(),
            token: None,
            client_log_size: 4096,
            offset: OffsetThresholds::default(),
            sources_minimum: 1,
            stratum_critical_above: 3,
            jitter_warning_threshold: 100.0,
            frequency_warning_threshold: 10.0,
        }
    }
}

/// Clock offset thresholds, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OffsetThresholds {
    /// Offset, in milliseconds, above which the health state is warning.
    #[serde(alias = "warningThreshold")]
    #[schemars(range(min = 0.0))]
    pub warning_threshold: f64,
    /// Offset, in milliseconds, above which the health state is critical; at least `warning_threshold`.
    #[serde(alias = "criticalThreshold")]
    #[schemars(range(min = 0.0))]
    pub critical_threshold: f64,
}

impl Default for OffsetThresholds {
    fn default() -> Self {
        Self { warning_threshold: 100.0, critical_threshold: 1000.0 }
    }
}

/// Upstream time sources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// DNS pools, each resolved to several servers.
    pub pools: Vec<PoolSource>,
    /// Individual upstream servers.
    pub servers: Vec<ServerSource>,
    /// Hardware reference clocks in the NTPService (seed 002) spelling: shorthands for entries of `refclocks`.
    pub hardware: HardwareSources,
    /// Reference clocks (GPS receivers, PPS signals), one `[[sources.refclocks]]` table each, with chrony's `refclock` options.
    pub refclocks: Vec<crate::refclocks::RefclockSource>,
}

/// One DNS pool of upstream servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSource {
    /// The DNS name of the pool, e.g. `pool.ntp.org`.
    pub name: String,
    /// How many servers of the pool to use at once.
    #[serde(default = "default_pool_servers")]
    #[schemars(range(min = 1, max = 16))]
    pub servers: u32,
    /// Send a quick burst of requests at start-up for a fast first synchronisation.
    #[serde(default)]
    pub iburst: bool,
    /// Prefer these servers over others of similar quality.
    #[serde(default)]
    pub prefer: bool,
}

fn default_pool_servers() -> u32 {
    4
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSource {
    /// The server: a host name or address with an optional port (`192.168.1.100`, `ntp.example.net:123`).
    pub address: String,
    /// Send a quick burst of requests at start-up for a fast first synchronisation.
    #[serde(default)]
    pub iburst: bool,
    /// Prefer this server over others of similar quality.
    #[serde(default)]
    pub prefer: bool,
    /// The shortest polling interval, as a power of two in seconds (6 = 64 s).
    #[serde(default = "default_minpoll")]
    #[schemars(range(min = 0, max = 17))]
    pub minpoll: i8,
    /// The longest polling interval, as a power of two in seconds (10 = 1024 s); at least `minpoll`.
    #[serde(default = "default_maxpoll")]
    #[schemars(range(min = 0, max = 17))]
    pub maxpoll: i8,
    /// The `id` of the symmetric key (see `security.authentication.keys`) used to authenticate this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub key: Option<u32>,
    /// Use Network Time Security with this server.
    #[serde(default)]
    pub nts: bool,
    /// PEM file with the certificate authorities trusted for this server's NTS-KE certificate (default: the system store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

fn default_minpoll() -> i8 {
    6
}

fn default_maxpoll() -> i8 {
    10
}

/// Hardware reference clocks in the NTPService (seed 002) spelling.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HardwareSources {
    /// A pulse-per-second (PPS) device: chrony's `refclock PPS /dev/pps0 lock GPS refid PPS`, i.e. a `[[sources.refclocks]]` entry `driver = "PPS"`, locked to the GPS when `gps` is enabled.
    pub pps: PpsSource,
    /// A GPS receiver read through gpsd: chrony's `refclock SHM 0 refid GPS`, i.e. a `[[sources.refclocks]]` entry `driver = "SHM", unit = 0, refid = "GPS"`.
    pub gps: GpsSource,
}

/// A pulse-per-second (PPS) device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PpsSource {
    /// Use the PPS device as a reference clock (refid `PPS`). Without the GPS or any other source, the host clock keeps giving the seconds and the pulses steer only its phase (served at `ntp_server.stratum`).
    pub enabled: bool,
    /// The PPS device.
    pub device: PathBuf,
    /// Prefer this clock over other sources of similar quality.
    pub prefer: bool,
}

impl Default for PpsSource {
    fn default() -> Self {
        Self { enabled: false, device: PathBuf::from("/dev/pps0"), prefer: false }
    }
}

/// A GPS receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GpsSource {
    /// Use the GPS receiver as a time source: the daemon reads the time gpsd writes to NTP shared memory unit 0 (refid `GPS`). gpsd may start before or after the daemon.
    pub enabled: bool,
    /// The serial device of the receiver, which gpsd reads (shown in the log; the daemon itself reads gpsd's shared memory). To read a receiver without gpsd, use a `[[sources.refclocks]]` entry with `driver = "NMEA"`.
    pub device: PathBuf,
    /// Treat the receiver as a reference clock (stratum 0, so the daemon serves stratum 1). Always the case (the default): `false` only logs a warning.
    pub refclock: bool,
    /// Prefer this clock over other sources of similar quality.
    pub prefer: bool,
}

impl Default for GpsSource {
    fn default() -> Self {
        Self { enabled: false, device: PathBuf::from("/dev/ttyS0"), refclock: true, prefer: false }
    }
}

/// Server settings in the NTPService (Kubernetes) spelling.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Another spelling of `ntp_server.stratum`. When set it is used as `ntp_server.stratum`; setting both to different values in the same file (or the same environment) is an error. The loader moves the value into `ntp_server.stratum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 15))]
    pub stratum: Option<u8>,
    /// File where the measured frequency error of the local clock is kept across restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driftfile: Option<PathBuf>,
    /// When the clock may be stepped instead of slewed.
    pub makestep: MakeStep,
    /// Serving the local clock as a fallback reference.
    pub local: LocalReference,
}

/// When the clock may be stepped instead of slewed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MakeStep {
    /// Step the clock when the offset is larger than this many seconds.
    #[schemars(range(min = 0.0))]
    pub threshold: f64,
    /// Stepping is allowed only during this many first clock updates.
    pub limit: u32,
}

impl Default for MakeStep {
    fn default() -> Self {
        Self { threshold: 1.0, limit: 3 }
    }
}

/// Serving the local clock as a fallback reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LocalReference {
    /// Serve the local clock when no upstream source is usable.
    pub enabled: bool,
    /// The stratum advertised while serving the local clock as fallback (high = low priority).
    #[schemars(range(min = 1, max = 15))]
    pub stratum: u8,
}

impl Default for LocalReference {
    fn default() -> Self {
        Self { enabled: false, stratum: 10 }
    }
}

/// How the daemon disciplines the clock of the machine it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Which clock is steered: `auto` (the system clock when the daemon may set it, otherwise a virtual clock), `system`, `virtual` (an offset kept inside the daemon) or `none` (serve the system clock as it is).
    pub discipline: ClockDiscipline,
    /// Offsets larger than this many seconds after the first synchronisation are refused (reported loudly, not applied) instead of stepped into; 0 turns the check off.
    #[serde(alias = "panicThreshold")]
    #[schemars(range(min = 0.0))]
    pub panic_threshold: f64,
    /// The fewest sources that must agree before the clock is steered (with more sources a majority must agree anyway: two of two, two of three, three of four).
    #[serde(alias = "minSources")]
    #[schemars(range(min = 1, max = 16))]
    pub min_sources: usize,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self { discipline: ClockDiscipline::Auto, panic_threshold: 1000.0, min_sources: 1 }
    }
}

/// Which clock is steered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClockDiscipline {
    /// The system clock when the daemon may set it, otherwise a virtual clock.
    #[default]
    Auto,
    /// The system clock.
    System,
    /// An offset kept inside the daemon.
    Virtual,
    /// No steering: serve the system clock as it is.
    None,
}

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
