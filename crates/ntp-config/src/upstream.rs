//! [`Config::upstreams`]: every upstream source the configuration names, in
//! one list with the defaults applied — seed 000's
//! `ntp_server.upstream_servers` (iburst, default polling), seed 002's
//! `[[sources.servers]]` and `[[sources.pools]]` — so the daemon never looks
//! at the spellings.

use std::path::PathBuf;

use ntp_proto::nts::KE_PORT;
use ntp_proto::server::NTP_PORT;

use crate::model::Config;

/// One configured source (a pool is one source that resolves to several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// Host name or address as configured (an IPv6 address without brackets).
    pub host: String,
    /// UDP port; for NTS the NTS-KE TCP port (default 4460).
    pub port: u16,
    /// Fast initial burst.
    pub iburst: bool,
    /// Preferred in selection.
    pub prefer: bool,
    /// Shortest poll interval, log2 s.
    pub minpoll: i8,
    /// Longest poll interval, log2 s.
    pub maxpoll: i8,
    /// Symmetric key id for MAC-authenticated polls.
    pub key: Option<u32>,
    /// A pool: how many of its addresses to use.
    pub pool: Option<u32>,
    /// Interleaved mode (RFC 9769).
    pub xleave: bool,
    /// NTS: `host:port` is the NTS-KE server.
    pub nts: bool,
    /// NTS: CA file for the KE server's certificate (else the system roots).
    pub ca: Option<PathBuf>,
}

/// Poll interval bounds when the spelling has none (64 s .. 1024 s).
const DEFAULT_MINPOLL: i8 = 6;
const DEFAULT_MAXPOLL: i8 = 10;

impl Config {
    /// Every upstream source, in configuration order: `upstream_servers`,
    /// then `sources.servers`, then `sources.pools`.
    pub fn upstreams(&self) -> Vec<Upstream> {
        let mut out = Vec::new();
        for s in &self.ntp_server.upstream_servers {
            out.push(Upstream {
                host: s.host().to_owned(),
                port: s.port_or(NTP_PORT),
                iburst: true,
                prefer: false,
                minpoll: DEFAULT_MINPOLL,
                maxpoll: DEFAULT_MAXPOLL,
                key: None,
                pool: None,
                xleave: false,
                nts: false,
                ca: None,
            });
        }
        for s in &self.sources.servers {
            out.push(Upstream {
                host: s.address.host().to_owned(),
                port: s.address.port_or(if s.nts { KE_PORT } else { NTP_PORT }),
                iburst: s.iburst,
                prefer: s.prefer,
                minpoll: s.minpoll,
                maxpoll: s.maxpoll.max(s.minpoll),
                key: s.key,
                pool: None,
                xleave: s.xleave,
                nts: s.nts,
                ca: s.ca.clone(),
            });
        }
        for p in &self.sources.pools {
            out.push(Upstream {
                host: p.name.host().to_owned(),
                port: p.name.port_or(NTP_PORT),
                iburst: p.iburst,
                prefer: p.prefer,
                minpoll: DEFAULT_MINPOLL,
                maxpoll: DEFAULT_MAXPOLL,
                key: None,
                pool: Some(p.servers),
                xleave: false,
                nts: false,
                ca: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PoolSource, ServerSource};

    fn server(address: &str, nts: bool) -> ServerSource {
        ServerSource {
            address: address.parse().unwrap(),
            iburst: false,
            prefer: true,
            minpoll: 0,
            maxpoll: 2,
            key: Some(3),
            nts,
            ca: None,
            xleave: nts,
        }
    }

    #[test]
    fn all_three_spellings_in_order() {
        let mut c = Config::default();
        c.ntp_server.upstream_servers = vec!["127.0.0.1:1000".parse().unwrap()];
        c.sources.servers.push(server("127.0.0.2", false));
        c.sources.pools.push(PoolSource {
            name: "pool.example".parse().unwrap(),
            servers: 4,
            iburst: true,
            prefer: false,
        });
        let u = c.upstreams();
        assert_eq!(u.len(), 3);
        assert_eq!((u[0].host.as_str(), u[0].port, u[0].iburst), ("127.0.0.1", 1000, true));
        assert_eq!((u[1].minpoll, u[1].maxpoll, u[1].key, u[1].prefer, u[1].port), (0, 2, Some(3), true, 123));
        assert_eq!((u[2].pool, u[2].port), (Some(4), 123));
    }

    #[test]
    fn nts_sources_default_to_the_ke_port_whatever_the_address_looks_like() {
        let mut c = Config::default();
        for (address, port) in [
            ("ke.example", 4460),
            ("ke.example:123", 123),
            ("ke.example:4461", 4461),
            ("::1", 4460),
            // A bare IPv6 address whose last group reads like a port.
            ("2001:db8::123", 4460),
            ("[2001:db8::123]:123", 123),
        ] {
            c.sources.servers = vec![server(address, true)];
            assert_eq!(c.upstreams()[0].port, port, "{address}");
        }
    }
}
