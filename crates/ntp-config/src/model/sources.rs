//! Upstream time sources in the NTPService spelling: `[sources]`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::host_port::HostPort;

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
    /// Broadcast servers to follow (NTP broadcast client, RFC 5905 mode 5), one `[[sources.broadcast]]` table per network interface.
    pub broadcast: Vec<BroadcastSource>,
    /// A directory of source files written by DHCP client hooks (chrony's `sourcedir`), e.g. `/run/simple-ntpd/sources.d`: every file named `*.sources` in it lists servers, one per line (`NAME[:PORT]`, or chrony's `server NAME [iburst] [prefer] [minpoll N] [maxpoll N]` and `pool NAME [maxsources N]`; `#` starts a comment). Changes are picked up within a second, without a reload; a malformed line is reported with its file and line and skipped. The hooks under `deploy/dhcp/` write it (their directory comes from `SIMPLE_NTPD_SOURCES_DIRECTORY`, the same variable that sets this key). With a directory set, the daemon is a client (not a local reference) even while the directory is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
}

/// Listening for NTP broadcasts on one network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastSource {
    /// The network interface to listen on (e.g. `vlan-10`). Broadcasts to its IPv4 broadcast address and to `ff02::101` on it are received; it must not be a `clients_only` VLAN.
    pub interface: String,
    /// Follow only this broadcast server (its address); by default the first server heard on the interface is followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<std::net::IpAddr>,
    /// The UDP port broadcasts are sent to (and the server's port for the calibration exchange).
    #[serde(default = "default_broadcast_port")]
    pub port: u16,
    /// The `id` of the symmetric key (see `security.authentication.keys`) the broadcasts and the calibration replies must be authenticated with; broadcasts without a valid MAC are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub key: Option<u32>,
    /// Prefer this source over others of similar quality.
    #[serde(default)]
    pub prefer: bool,
}

fn default_broadcast_port() -> u16 {
    123
}

/// One DNS pool of upstream servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSource {
    /// The DNS name of the pool, e.g. `pool.ntp.org`.
    pub name: HostPort,
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
    pub address: HostPort,
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
    /// Use interleaved mode (RFC 9769, chrony's `xleave`): each request also names the previous exchange, and a server that supports it answers with the kernel timestamp of when its previous reply really left, so the server's send path drops out of the measurement. Servers without it answer in basic mode as usual.
    #[serde(default)]
    pub xleave: bool,
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
