//! Which upstream sources the configuration asks for, in one list:
//! seed 000's `[ntp_server] upstream_servers` (iburst, default polling),
//! seed 002's `[[sources.servers]]` and `[[sources.pools]]`.

use ntp_config::Config;

/// One configured source (a pool is one spec that resolves to several).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// Host name or address as configured.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// Fast initial burst.
    pub iburst: bool,
    /// Preferred in selection.
    pub prefer: bool,
    /// log2 s.
    pub minpoll: i8,
    /// log2 s.
    pub maxpoll: i8,
    /// Symmetric key id for MAC-authenticated polls.
    pub key: Option<u32>,
    /// A pool: how many of its addresses to use.
    pub pool: Option<u32>,
    /// NTS: `host:port` is the NTS-KE server (default port 4460).
    pub nts: bool,
    /// NTS: CA file for the KE server's certificate (else the system roots).
    pub ca: Option<std::path::PathBuf>,
}

/// Splits `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
pub fn split_host_port(s: &str) -> (String, u16) {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return (sa.ip().to_string(), sa.port());
    }
    if s.parse::<std::net::IpAddr>().is_ok() {
        return (s.to_owned(), 123);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.trim_start_matches('[').trim_end_matches(']').to_owned(), port),
            Err(_) => (s.to_owned(), 123),
        },
        _ => (s.trim_start_matches('[').trim_end_matches(']').to_owned(), 123),
    }
}

/// Every source the configuration names, in order.
pub fn sources(c: &Config) -> Vec<SourceSpec> {
    let mut out = Vec::new();
    for s in &c.ntp_server.upstream_servers {
        let (host, port) = split_host_port(s);
        out.push(SourceSpec {
            host,
            port,
            iburst: true,
            prefer: false,
            minpoll: 6,
            maxpoll: 10,
            key: None,
            pool: None,
            nts: false,
            ca: None,
        });
    }
    for s in &c.sources.servers {
        let (host, mut port) = split_host_port(&s.address);
        if s.nts && !s.address.ends_with(&format!(":{port}")) {
            port = 4460;
        }
        out.push(SourceSpec {
            host,
            port,
            iburst: s.iburst,
            prefer: s.prefer,
            minpoll: s.minpoll,
            maxpoll: s.maxpoll,
            key: s.key,
            pool: None,
            nts: s.nts,
            ca: s.ca.clone(),
        });
    }
    for p in &c.sources.pools {
        let (host, port) = split_host_port(&p.name);
        out.push(SourceSpec {
            host,
            port,
            iburst: p.iburst,
            prefer: p.prefer,
            minpoll: 6,
            maxpoll: 10,
            key: None,
            pool: Some(p.servers),
            nts: false,
            ca: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(split_host_port("pool.ntp.org"), ("pool.ntp.org".into(), 123));
        assert_eq!(split_host_port("127.0.0.1:1123"), ("127.0.0.1".into(), 1123));
        assert_eq!(split_host_port("[::1]:9"), ("::1".into(), 9));
        assert_eq!(split_host_port("::1"), ("::1".into(), 123));
        assert_eq!(split_host_port("time.example:4123"), ("time.example".into(), 4123));
    }

    #[test]
    fn all_three_spellings() {
        let mut c = Config::default();
        c.ntp_server.upstream_servers = vec!["127.0.0.1:1000".into()];
        c.sources.servers.push(ntp_config::ServerSource {
            address: "127.0.0.2".into(),
            iburst: false,
            prefer: true,
            minpoll: 0,
            maxpoll: 2,
            key: Some(3),
            nts: false,
            ca: None,
        });
        c.sources.pools.push(ntp_config::PoolSource {
            name: "pool.example".into(),
            servers: 4,
            iburst: true,
            prefer: false,
        });
        let s = sources(&c);
        assert_eq!(s.len(), 3);
        assert!(s[0].iburst);
        assert_eq!((s[1].minpoll, s[1].maxpoll, s[1].key, s[1].prefer), (0, 2, Some(3), true));
        assert_eq!(s[2].pool, Some(4));
        c.sources.servers[0].nts = true;
        c.sources.servers[0].address = "ke.example".into();
        assert_eq!((sources(&c)[1].port, sources(&c)[1].nts), (4460, true), "NTS-KE default port");
    }
}
