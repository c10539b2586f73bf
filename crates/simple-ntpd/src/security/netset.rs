//! A set of IP networks with longest-prefix lookup, for access rules and the
//! networks that must authenticate.
//!
//! One hash map per prefix length present, searched from the longest prefix
//! down: a lookup costs one hash probe per *distinct prefix length* in the
//! set, however many networks there are, and never allocates. IPv4-mapped
//! IPv6 addresses are looked up as IPv4.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// Networks, each with a value.
#[derive(Clone, Debug, Default)]
pub struct NetSet<T: Copy> {
    v4: Vec<(u8, HashMap<u32, T>)>,
    v6: Vec<(u8, HashMap<u128, T>)>,
}

fn mask4(addr: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask6(addr: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - u32::from(len)))
    }
}

/// Inserts into the map of prefix length `len`, keeping levels ordered from
/// the longest prefix to the shortest.
fn insert_level<K: std::hash::Hash + Eq, T>(levels: &mut Vec<(u8, HashMap<K, T>)>, len: u8, key: K, value: T) {
    let pos = match levels.iter().position(|(l, _)| *l == len) {
        Some(p) => p,
        None => {
            levels.push((len, HashMap::new()));
            levels.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
            levels.iter().position(|(l, _)| *l == len).unwrap_or(0)
        }
    };
    levels[pos].1.insert(key, value);
}

/// The address as IPv4 when it is IPv4 or IPv4-mapped IPv6.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl<T: Copy> NetSet<T> {
    /// Adds `net` with `value` (a later insert of the same network wins).
    pub fn insert(&mut self, net: IpNet, value: T) {
        match net {
            IpNet::V4(n) => {
                insert_level(&mut self.v4, n.prefix_len(), mask4(u32::from(n.network()), n.prefix_len()), value)
            }
            IpNet::V6(n) => {
                insert_level(&mut self.v6, n.prefix_len(), mask6(u128::from(n.network()), n.prefix_len()), value)
            }
        }
    }

    /// True when no network was added.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The value of the most specific network containing `ip`.
    #[inline]
    pub fn longest_match(&self, ip: IpAddr) -> Option<T> {
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                self.v4.iter().find_map(|(len, m)| m.get(&mask4(a, *len)).copied())
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                self.v6.iter().find_map(|(len, m)| m.get(&mask6(a, *len)).copied())
            }
        }
    }
}

/// Parses a CIDR network or a bare address (a host network).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_network_wins() {
        let mut s = NetSet::default();
        s.insert("127.0.0.0/8".parse::<IpNet>().unwrap(), 'a');
        s.insert("127.0.5.0/24".parse::<IpNet>().unwrap(), 'd');
        s.insert("0.0.0.0/0".parse::<IpNet>().unwrap(), 'z');
        s.insert("2001:db8::/32".parse::<IpNet>().unwrap(), '6');
        assert_eq!(s.longest_match("127.0.5.9".parse().unwrap()), Some('d'));
        assert_eq!(s.longest_match("127.0.6.1".parse().unwrap()), Some('a'));
        assert_eq!(s.longest_match("192.0.2.1".parse().unwrap()), Some('z'));
        assert_eq!(s.longest_match("::ffff:127.0.5.1".parse().unwrap()), Some('d'));
        assert_eq!(s.longest_match("2001:db8::1".parse().unwrap()), Some('6'));
        assert_eq!(s.longest_match("2001:db9::1".parse().unwrap()), None);
    }
}
