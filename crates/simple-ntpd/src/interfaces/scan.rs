//! Reading the host's network interfaces — index, name, up or down, IP
//! addresses and IPv4 broadcast addresses — into a plain list, sorted by
//! index, that the interface table is built from and that changes are
//! logged against. `getifaddrs` (itself a netlink dump) does the reading.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_nametoindex, InterfaceFlags};

/// One interface of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInterface {
    /// The kernel's interface index (what IP_PKTINFO reports).
    pub index: u32,
    /// The interface name (`vlan-10`, `eth0.10`).
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Its IP addresses, sorted.
    pub addresses: Vec<IpAddr>,
    /// Its IPv4 broadcast addresses, sorted.
    pub broadcast: Vec<Ipv4Addr>,
}

/// Every interface of the host (in this network namespace), by index.
pub fn scan() -> std::io::Result<Vec<HostInterface>> {
    let mut by_name: BTreeMap<String, HostInterface> = BTreeMap::new();
    for ifa in getifaddrs()? {
        let entry = match by_name.get_mut(&ifa.interface_name) {
            Some(e) => e,
            None => {
                // An interface that vanished between the dump and this call is skipped.
                let Ok(index) = if_nametoindex(ifa.interface_name.as_str()) else { continue };
                by_name.entry(ifa.interface_name.clone()).or_insert(HostInterface {
                    index,
                    name: ifa.interface_name.clone(),
                    up: false,
                    addresses: Vec::new(),
                    broadcast: Vec::new(),
                })
            }
        };
        entry.up |= ifa.flags.contains(InterfaceFlags::IFF_UP);
        if let Some(a) = ifa.address.as_ref() {
            if let Some(v4) = a.as_sockaddr_in() {
                entry.addresses.push(IpAddr::V4(v4.ip()));
                if ifa.flags.contains(InterfaceFlags::IFF_BROADCAST) {
                    if let Some(b) = ifa.broadcast.as_ref().and_then(|b| b.as_sockaddr_in()) {
                        entry.broadcast.push(b.ip());
                    }
                }
            } else if let Some(v6) = a.as_sockaddr_in6() {
                entry.addresses.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    let mut out: Vec<HostInterface> = by_name.into_values().collect();
    for i in &mut out {
        i.addresses.sort();
        i.addresses.dedup();
        i.broadcast.sort();
        i.broadcast.dedup();
    }
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// Every IP address of the host with its interface and network, from the
/// netmasks `getifaddrs` reports (for `dhcp-config`, which names subnets).
pub fn networks() -> std::io::Result<Vec<(String, ipnet::IpNet)>> {
    let mut out = Vec::new();
    for ifa in getifaddrs()? {
        let (Some(a), Some(m)) = (ifa.address.as_ref(), ifa.netmask.as_ref()) else { continue };
        let net = match (a.as_sockaddr_in(), m.as_sockaddr_in(), a.as_sockaddr_in6(), m.as_sockaddr_in6()) {
            (Some(a), Some(m), _, _) => ipnet::Ipv4Net::with_netmask(a.ip(), m.ip()).ok().map(ipnet::IpNet::V4),
            (_, _, Some(a), Some(m)) => ipnet::Ipv6Net::with_netmask(a.ip(), m.ip()).ok().map(ipnet::IpNet::V6),
            _ => None,
        };
        out.extend(net.map(|n| (ifa.interface_name.clone(), n)));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What changed from `old` to `new`, one line each, for the log.
pub fn changes(old: &[HostInterface], new: &[HostInterface]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        match old.iter().find(|o| o.index == n.index) {
            None => out.push(format!("interface {} (index {}) appeared: {}", n.name, n.index, describe(n))),
            Some(o) if o != n => out.push(format!("interface {} (index {}) changed: {}", n.name, n.index, describe(n))),
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| n.index == o.index)) {
        out.push(format!("interface {} (index {}) is gone", o.name, o.index));
    }
    out
}

fn describe(i: &HostInterface) -> String {
    let addresses: Vec<String> = i.addresses.iter().map(ToString::to_string).collect();
    format!(
        "{}, addresses [{}]{}",
        if i.up { "up" } else { "down" },
        addresses.join(", "),
        if i.broadcast.is_empty() {
            String::new()
        } else {
            format!(", broadcast {}", i.broadcast.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_with_its_address() {
        let all = scan().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("every namespace has lo");
        assert!(lo.addresses.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)) || !lo.up);
        assert!(all.windows(2).all(|w| w[0].index < w[1].index));
    }

    #[test]
    fn changes_are_one_line_each() {
        let a = HostInterface {
            index: 5,
            name: "vlan-10".into(),
            up: true,
            addresses: vec!["192.0.2.1".parse().unwrap()],
            broadcast: vec!["192.0.2.255".parse().unwrap()],
        };
        let mut b = a.clone();
        b.addresses.push("2001:db8::1".parse().unwrap());
        let c = HostInterface { index: 6, name: "vlan-20".into(), ..a.clone() };
        assert_eq!(
            changes(std::slice::from_ref(&a), &[b, c]),
            [
                "interface vlan-10 (index 5) changed: up, addresses [192.0.2.1, 2001:db8::1], broadcast 192.0.2.255",
                "interface vlan-20 (index 6) appeared: up, addresses [192.0.2.1], broadcast 192.0.2.255",
            ]
        );
        assert_eq!(changes(&[a], &[]), ["interface vlan-10 (index 5) is gone"]);
    }
}
