//! What the daemon asks of a loaded [`Config`]: the sockets to serve on, the
//! effective thread count, whether it is its own reference, validation, and
//! the effective configuration as TOML for `config show`.

use std::net::SocketAddr;

use crate::error::{ConfigError, Issue};
use crate::model::Config;
use crate::validate::{self, Scope};

/// What secrets are replaced with in [`Config::to_toml`].
pub const REDACTED: &str = "<redacted>";

impl Config {
    /// Every socket address to serve on: each `listen_address` combined with
    /// `listen_port` (an entry that carries its own port keeps it), without
    /// duplicates, in configuration order.
    pub fn listen_sockets(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for a in &self.network.listen_address {
            let s = a.socket(self.network.listen_port);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Effective worker thread count (0 in config = number of available
    /// cores, at least 1).
    pub fn worker_threads(&self) -> usize {
        match self.performance.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// `true` when no upstream source of any kind is configured
    /// (`ntp_server.upstream_servers`, `sources.servers`, `sources.pools`
    /// and `sources.refclocks` empty, both hardware clocks disabled, no
    /// broadcast client and no `sources.directory`): the
    /// daemon then serves its local clock as reference at
    /// `ntp_server.stratum`.
    pub fn is_local_reference(&self) -> bool {
        self.ntp_server.upstream_servers.is_empty()
            && self.sources.servers.is_empty()
            && self.sources.pools.is_empty()
            && self.refclocks().is_empty()
            && self.sources.broadcast.is_empty()
            && self.sources.directory.is_none()
    }

    /// The effective configuration as TOML (for `config show`), with secrets
    /// (authentication key values) replaced by `"<redacted>"`.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.redacted())
            .unwrap_or_else(|e| format!("# the configuration cannot be shown as TOML: {e}\n"))
    }

    /// A copy with every secret (authentication key values, the monitoring
    /// token) replaced by `"<redacted>"`, for display.
    pub fn redacted(&self) -> Config {
        let mut shown = self.clone();
        for key in &mut shown.security.authentication.keys {
            key.value = REDACTED.to_owned();
        }
        if shown.monitoring.token.is_some() {
            shown.monitoring.token = Some(REDACTED.to_owned());
        }
        shown
    }

    /// Checks ranges, address syntax and relations between keys, as
    /// [`crate::load`] does; for configurations built or deserialized
    /// directly (e.g. from a Kubernetes resource). The issues carry key paths
    /// but no file locations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = validate::problems(self, Scope::All);
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::new(
            problems.into_iter().map(|p| Issue::new(None, p.paths.first().map(String::as_str), p.message)).collect(),
        ))
    }
}
