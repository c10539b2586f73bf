//! The command line: one binary, `simple-ntpd`, with subcommands. `run` is
//! the default when no subcommand is given.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// simple-ntpd: a network time daemon.
#[derive(Parser, Debug)]
#[command(name = "simple-ntpd", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` when no subcommand is named.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (the default).
    Run(RunArgs),
    /// Ask an NTP server for the time once, like `ntpdate -q` (also a health check).
    Query(QueryArgs),
    /// Container health probe: ask the configured NTP addresses; exit 0 healthy, 1 starting or unhealthy.
    Healthcheck(HealthcheckArgs),
    /// Show what the running daemon serves and how well (via its API); --watch keeps it on screen.
    Status(StatusArgs),
    /// List the running daemon's upstream sources.
    Sources(ApiArgs),
    /// List the busiest clients of the running daemon.
    Clients(ClientsArgs),
    /// Show the running daemon's server counters.
    Serverstats(ApiArgs),
    /// Check or show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print new symmetric keys in chrony's key-file format (`ID TYPE HEX:...`).
    Keygen(KeygenArgs),
    /// Print the DHCP server configuration that announces this daemon (option 42 / option 56) on each served interface.
    DhcpConfig(DhcpConfigArgs),
    /// Print the CustomResourceDefinitions of the NTPService and NTPClient resources (YAML); runs `simple-ntpd-operator crd`.
    Crd,
    /// Run the Kubernetes operator for NTPService resources, or render one offline (`operator render FILE`); runs `simple-ntpd-operator`.
    Operator(ExternalArgs),
    /// Print the version.
    Version,
}

/// Where configuration comes from.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file (TOML); repeat to layer overlays on a base, later files win.
    /// Default: $SIMPLE_NTPD_CONFIG (comma-separated), else /etc/simple-ntpd/simple-ntpd.toml if it exists.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
}

/// Options of `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Where configuration comes from.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Serve on ADDR:PORT instead of the configured addresses (repeatable; IPv6 as [::1]:123).
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Stratum to advertise for the local reference (1-15).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub stratum: Option<u8>,
    /// Log level: TRACE, DEBUG, INFO, WARN, ERROR.
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Options of `query`.
#[derive(Args, Debug, Clone)]
pub struct QueryArgs {
    /// Server as HOST, HOST:PORT, IPv6 [ADDR]:PORT or bare IPv6 (default port 123).
    pub server: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// NTP version to send (1-4).
    #[arg(long = "ntp-version", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub ntp_version: u8,
    /// Authenticate with a symmetric key from this chrony-format key file (with --key-id).
    #[arg(long = "key-file", value_name = "FILE", requires = "key_id")]
    pub key_file: Option<PathBuf>,
    /// Id of the key in --key-file.
    #[arg(long = "key-id", value_name = "ID", requires = "key_file")]
    pub key_id: Option<u32>,
}

/// Options of `healthcheck`.
#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// Where configuration comes from (for the addresses to ask).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Seconds to wait for each address's reply.
    #[arg(long, default_value_t = 1.0)]
    pub timeout: f64,
}

/// Options of `keygen`.
#[derive(Args, Debug, Clone)]
pub struct KeygenArgs {
    /// MAC type: MD5, SHA1, SHA256, SHA384, SHA512, AES128 or AES256 (AES-CMAC, RFC 8573 recommends it).
    #[arg(long = "type", default_value = "AES128")]
    pub key_type: String,
    /// Id of the first key.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub id: u32,
    /// How many keys (consecutive ids).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
}

/// Options of `dhcp-config`.
#[derive(Args, Debug, Clone)]
pub struct DhcpConfigArgs {
    /// Where configuration comes from (`[[vlan_config]]`, listen addresses).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The DHCP server to write for.
    #[arg(long, value_enum)]
    pub format: crate::dhcp::formats::Format,
    /// Only this interface (or VLAN name); repeatable. Default: every `[[vlan_config]]` entry, or without any, every interface with an address.
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
}

/// `config` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate configuration files (with SIMPLE_NTPD_* variables applied); exit 1 on error.
    Check {
        /// Files, in merge order.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Do not apply SIMPLE_NTPD_* environment variables.
        #[arg(long)]
        no_env: bool,
    },
    /// Print the effective merged configuration as TOML.
    Show {
        /// Where configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// How to reach a running daemon's management API.
#[derive(Args, Debug, Clone, Default)]
pub struct ApiArgs {
    /// API address HOST:PORT (default: [monitoring] listen from the configuration, else 127.0.0.1:9559).
    #[arg(long, value_name = "HOST:PORT")]
    pub api: Option<String>,
    /// Bearer token (default: [monitoring] token from the configuration).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print the JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the daemon.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Where configuration comes from (for the default address and token).
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Options of `status`.
#[derive(Args, Debug, Clone, Default)]
pub struct StatusArgs {
    /// How to reach the daemon.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Keep the state, charts of the last hour, sources and busiest clients on screen,
    /// refreshed every --interval seconds until Ctrl-C (one frame after another when not a terminal).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with --watch (0.2 to 3600).
    #[arg(long, default_value_t = 2.0, requires = "watch")]
    pub interval: f64,
    /// With --watch, stop after this many refreshes (0: until Ctrl-C).
    #[arg(long, default_value_t = 0, requires = "watch")]
    pub count: u64,
}

/// Options of `clients`.
#[derive(Args, Debug, Clone, Default)]
pub struct ClientsArgs {
    /// How to reach the daemon.
    #[command(flatten)]
    pub api: ApiArgs,
    /// How many clients to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Arguments handed unparsed to a separate program (`operator`: the
/// Kubernetes operator, which the daemon's binary does not carry).
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct ExternalArgs {
    /// Arguments for `simple-ntpd-operator` (see `simple-ntpd operator --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<std::ffi::OsString>,
}
