//! Server-side DHCP integration (seed 002): which address each served
//! interface (VLAN) announces as its NTP server — DHCPv4 option 42, DHCPv6
//! option 56 — decided from the configuration (`[[vlan_config]]`, the listen
//! addresses) and the host's interfaces; [`formats`] writes it for dnsmasq,
//! Kea, ISC dhcpd and systemd-networkd (`simple-ntpd dhcp-config`).

pub mod formats;

use ipnet::IpNet;
use ntp_config::Config;

/// What one interface announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The `[[vlan_config]]` entry's `vlan_ref`, when the interface has one.
    pub vlan: Option<String>,
    /// The network interface.
    pub interface: String,
    /// What is announced there, or why nothing is.
    pub state: State,
}

/// What an interface announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// These addresses (with their networks), IPv4 first.
    Announced(Vec<IpNet>),
    /// `enabled = false`: NTP is not served there, nothing is announced.
    Disabled,
    /// The interface does not exist on this host (now).
    Missing,
    /// The interface has no address the daemon serves on.
    NoAddress,
}

impl Announcement {
    /// The announced IPv4 networks (address = the NTP server).
    pub fn v4(&self) -> impl Iterator<Item = &ipnet::Ipv4Net> {
        self.networks().filter_map(|n| match n {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
    }

    /// The announced IPv6 networks (address = the NTP server).
    pub fn v6(&self) -> impl Iterator<Item = &ipnet::Ipv6Net> {
        self.networks().filter_map(|n| match n {
            IpNet::V6(n) => Some(n),
            IpNet::V4(_) => None,
        })
    }

    fn networks(&self) -> impl Iterator<Item = &IpNet> {
        match &self.state {
            State::Announced(n) => n.as_slice(),
            _ => &[],
        }
        .iter()
    }

    /// `vlan-10 (interface eth0.10)` or `eth1`.
    pub fn label(&self) -> String {
        match &self.vlan {
            Some(v) if v != &self.interface => format!("{v} (interface {})", self.interface),
            _ => self.interface.clone(),
        }
    }
}

/// True for an address worth giving to clients elsewhere: not loopback, not
/// link-local (also used for the addresses `[dns]` registers).
pub fn announceable(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local(),
        std::net::IpAddr::V6(a) => !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// The announcements for `config` on a host whose addresses are `networks`
/// (interface name, address with its network; see
/// `interfaces::scan::networks`). With `[[vlan_config]]` entries, one per
/// entry; without, one per interface with an address (loopback aside).
/// `only` (when not empty) keeps those interfaces alone.
pub fn announcements(config: &Config, networks: &[(String, IpNet)], only: &[String]) -> Vec<Announcement> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let listened: Vec<std::net::IpAddr> = config.listen_sockets().iter().map(|s| s.ip()).collect();
    let served =
        |ip: std::net::IpAddr| listened.iter().any(|l| *l == ip || (l.is_unspecified() && l.is_ipv4() == ip.is_ipv4()));
    let usable = |net: &IpNet| announceable(net.addr()) && served(net.addr());
    let state_of = |name: &str| {
        let mut nets: Vec<IpNet> =
            networks.iter().filter(|(n, net)| n == name && usable(net)).map(|(_, net)| *net).collect();
        nets.sort_by_key(|n| (n.addr().is_ipv6(), n.addr()));
        if nets.is_empty() {
            if networks.iter().any(|(n, _)| n == name) {
                State::NoAddress
            } else {
                State::Missing
            }
        } else {
            State::Announced(nets)
        }
    };
    if !config.vlan_config.is_empty() {
        return config
            .vlan_config
            .iter()
            .filter(|v| wanted(v.interface_name()) || wanted(&v.vlan_ref))
            .map(|v| Announcement {
                vlan: Some(v.vlan_ref.clone()),
                interface: v.interface_name().to_owned(),
                state: if v.enabled { state_of(v.interface_name()) } else { State::Disabled },
            })
            .collect();
    }
    let mut names: Vec<&str> = networks
        .iter()
        .filter(|(_, net)| !net.addr().is_loopback())
        .map(|(n, _)| n.as_str())
        .filter(|n| wanted(n))
        .collect();
    names.sort();
    names.dedup();
    // Interfaces asked for by name that have no address at all.
    let missing = only.iter().filter(|o| !names.contains(&o.as_str())).map(String::as_str).collect::<Vec<_>>();
    names
        .into_iter()
        .chain(missing)
        .map(|n| Announcement { vlan: None, interface: n.to_owned(), state: state_of(n) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<(String, IpNet)> {
        [
            ("lo", "127.0.0.1/8"),
            ("lo", "::1/128"),
            ("v10", "192.0.2.1/26"),
            ("v10", "2001:db8:10::1/64"),
            ("v10", "fe80::1/64"),
            ("v20", "198.51.100.1/24"),
            ("v30", "169.254.3.3/16"),
        ]
        .iter()
        .map(|(n, a)| (n.to_string(), a.parse().unwrap()))
        .collect()
    }

    fn config(toml: &str) -> Config {
        ntp_config::load_from_strs(&[("t.toml".into(), toml.into())], [], &ntp_config::Overrides::default())
            .unwrap()
            .config
    }

    #[test]
    fn vlan_entries_decide_and_disabled_ones_announce_nothing() {
        let c = config(
            "[[vlan_config]]\nvlan_ref = \"vlan-10\"\ninterface = \"v10\"\n\
             [[vlan_config]]\nvlan_ref = \"v20\"\nenabled = false\n\
             [[vlan_config]]\nvlan_ref = \"v30\"\n\
             [[vlan_config]]\nvlan_ref = \"v40\"\n",
        );
        let a = announcements(&c, &host(), &[]);
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].label(), "vlan-10 (interface v10)");
        let v4: Vec<String> = a[0].v4().map(|n| n.to_string()).collect();
        let v6: Vec<String> = a[0].v6().map(|n| n.to_string()).collect();
        assert_eq!((v4, v6), (vec!["192.0.2.1/26".to_owned()], vec!["2001:db8:10::1/64".to_owned()]));
        assert_eq!(a[1].state, State::Disabled);
        assert_eq!(a[2].state, State::NoAddress, "a link-local address is not announced");
        assert_eq!(a[3].state, State::Missing);
    }

    #[test]
    fn without_vlans_every_interface_and_only_the_listened_addresses() {
        let c = config("[network]\nlisten_address = \"198.51.100.1\"\n");
        let a = announcements(&c, &host(), &[]);
        let names: Vec<_> = a.iter().map(|a| (a.interface.as_str(), a.v4().count())).collect();
        assert_eq!(names, [("v10", 0), ("v20", 1), ("v30", 0)]);
        assert_eq!(a[0].state, State::NoAddress);
        let only = announcements(&config(""), &host(), &["v10".to_owned(), "nope".to_owned()]);
        assert_eq!(only.len(), 2);
        assert_eq!((only[0].v4().count(), only[0].v6().count()), (1, 1), "both wildcards by default: {only:?}");
        assert_eq!(only[1].state, State::Missing);
    }
}
