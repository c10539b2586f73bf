//! Network values in CIDR notation — access rules, `require_for`,
//! `monitoring.allow` — parsed once, at load: `192.168.0.0/16`,
//! `2001:db8::/32`, or a bare address for one host.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A network, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cidr {
    text: String,
    net: IpNet,
}

impl Cidr {
    /// The network with its host bits cleared (a bare address is its own
    /// /32 or /128).
    pub fn net(&self) -> IpNet {
        self.net.trunc()
    }

    /// True when `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip)
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("`{s}` is not a network in CIDR notation (expected e.g. `192.168.0.0/16` or `2001:db8::/32`)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(format!("`{s}` has prefix length {prefix}, more than {max} for this address family"));
        }
        let net = IpNet::new(ip, prefix).map_err(|_| bad())?;
        Ok(Cidr { text: s.to_owned(), net })
    }
}

crate::string_value::string_value!(Cidr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_hosts() {
        let n: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains("10.9.8.7".parse().unwrap()) && !n.contains("11.0.0.1".parse().unwrap()));
        let host: Cidr = "192.0.2.1".parse().unwrap();
        assert_eq!((host.net().prefix_len(), host.to_string()), (32, "192.0.2.1".to_owned()));
        assert_eq!("::/0".parse::<Cidr>().unwrap().net().prefix_len(), 0);
        assert!("10.0.0.0/33".parse::<Cidr>().unwrap_err().contains("prefix length 33"));
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("2001:db8::/129".parse::<Cidr>().is_err());
    }
}
