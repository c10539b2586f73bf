//! The monitoring endpoint and its alert thresholds: `[monitoring]`.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;

/// The monitoring (metrics) endpoint and its alert thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Serve the HTTP endpoint: Prometheus `/metrics`, `/healthz`, `/readyz` and the JSON API under `/api/v1/` (which the `status`, `sources`, `clients` and `serverstats` commands use).
    pub enabled: bool,
    /// The TCP socket address of the HTTP endpoint. A non-loopback address requires `allow` or `token` (otherwise only `/healthz` and `/readyz`, which answer every client, would be reachable from other hosts).
    #[serde(deserialize_with = "crate::address::socket_addr")]
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Networks (CIDR) whose clients may use the HTTP endpoint besides loopback when no `token` is set; other clients get 403. With a `token`, the token decides and this list has no effect. `/healthz` and `/readyz` answer every client.
    pub allow: Vec<Cidr>,
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
            listen: SocketAddr::from(([127, 0, 0, 1], 9559)),
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
