//! `[dns]`: registering the served addresses in the local zone (seed 002)
//! with RFC 2136 dynamic updates signed with TSIG, while the daemon serves
//! good time, and withdrawing them when it stops serving it or shuts down.
//!
//! - [`key`]: TSIG keys in BIND's `tsig-keygen` format.
//! - [`update`]: the update messages (hickory-proto) and one exchange.
//! - [`registrar`]: the task that follows the served state, retries with
//!   backoff and reports to the status hub (`status`, `/metrics`).
//!
//! Nothing here is on the serving path: an unreachable server or a refused
//! update is logged, counted and retried, and serving goes on.

pub mod key;
pub mod registrar;
pub mod update;

use std::net::IpAddr;

use ntp_config::{Config, HostPort};

/// `[dns]` checked and ready to use.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The zone's primary as configured (resolved at each attempt).
    pub server: HostPort,
    /// The zone.
    pub zone: String,
    /// The name, as configured.
    pub hostname: String,
    /// The key.
    pub key: key::TsigKey,
    /// Configured addresses (empty: the served ones).
    pub addresses: Vec<IpAddr>,
    /// Time to live.
    pub ttl: u32,
}

impl PartialEq for Settings {
    fn eq(&self, other: &Self) -> bool {
        (&self.server, &self.zone, &self.hostname, &self.key, &self.addresses, self.ttl)
            == (&other.server, &other.zone, &other.hostname, &other.key, &other.addresses, other.ttl)
    }
}

impl Settings {
    /// `None` when `[dns]` is off; an error when it is on but unusable (the
    /// key file cannot be read or parsed, the names are bad).
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Settings>> {
        let d = &config.dns;
        if !d.enabled {
            return Ok(None);
        }
        let (Some(server), Some(key_file)) = (&d.server, &d.key_file) else {
            anyhow::bail!("dns: server and key_file are required")
        };
        let key = key::TsigKey::read(key_file).map_err(|e| anyhow::anyhow!("dns.key_file: {e:#}"))?;
        key.signer()?;
        // The names are checked once here with any address.
        update::Target::new(([127, 0, 0, 1], 53).into(), &d.zone, &d.hostname, d.ttl)?;
        Ok(Some(Settings {
            server: server.clone(),
            zone: d.zone.clone(),
            hostname: d.hostname.clone(),
            key,
            addresses: d.addresses.clone(),
            ttl: d.ttl,
        }))
    }
}
