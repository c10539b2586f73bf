//! The interface table the serving path reads: for each interface index
//! of the host, whether it is served, its access rules and rate limits
//! when its VLAN overrides them, its counter slot, and what it broadcasts.
//! Built from the configured [`VlanPolicy`]s and a [`scan`](super::scan)
//! of the host, published whole (never changed in place), looked up by
//! binary search: no lock, no allocation per request.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ntp_config::Config;
use ntp_proto::auth::SymmetricKey;

use super::scan::HostInterface;
use super::slots::SlotNames;
use crate::security::acl::AccessList;
use crate::security::keys::SymmetricKeys;
use crate::security::ratelimit::RateParams;

/// What a VLAN broadcasts.
#[derive(Clone, Debug)]
pub struct BroadcastPolicy {
    /// Time between two broadcasts.
    pub interval: Duration,
    /// The key that authenticates them.
    pub key: Option<SymmetricKey>,
}

/// One `[[vlan_config]]` entry, compiled.
#[derive(Clone, Debug)]
pub struct VlanPolicy {
    /// `vlan_ref`.
    pub vlan: String,
    /// The interface that carries it.
    pub interface: String,
    /// Served at all.
    pub enabled: bool,
    /// Hosts on it are only clients.
    pub clients_only: bool,
    /// Access rules in place of the global ones.
    pub access: Option<AccessList>,
    /// Rate limits in place of the global ones (`Some(None)`: none).
    pub rate: Option<Option<RateParams>>,
    /// Broadcasts, when enabled.
    pub broadcast: Option<BroadcastPolicy>,
}

/// Every configured VLAN policy.
#[derive(Clone, Debug, Default)]
pub struct VlanPolicies(pub Vec<VlanPolicy>);

/// The interfaces broadcast clients listen on (`[[sources.broadcast]]`).
pub fn broadcast_client_interfaces(config: &Config) -> Vec<String> {
    config.sources.broadcast.iter().map(|b| b.interface.clone()).collect()
}

impl VlanPolicies {
    /// Compiles `config.vlan_config`; `keys` holds the broadcast keys (the
    /// preflight made sure every one named exists).
    pub fn from_config(config: &Config, keys: &SymmetricKeys) -> VlanPolicies {
        VlanPolicies(
            config
                .vlan_config
                .iter()
                .map(|v| VlanPolicy {
                    vlan: v.vlan_ref.clone(),
                    interface: v.interface_name().to_owned(),
                    enabled: v.enabled,
                    clients_only: v.clients_only,
                    access: v.access.as_deref().map(AccessList::new),
                    rate: v.ratelimit.as_ref().map(RateParams::from_config),
                    broadcast: v.broadcast.then(|| BroadcastPolicy {
                        interval: Duration::from_secs(u64::from(v.broadcast_interval.max(1))),
                        key: v.broadcast_key.and_then(|id| keys.get(&id).cloned()),
                    }),
                })
                .collect(),
        )
    }

    /// The policy of interface `name`.
    pub fn for_interface(&self, name: &str) -> Option<&VlanPolicy> {
        self.0.iter().find(|p| p.interface == name)
    }
}

/// One interface as the serving path sees it.
#[derive(Clone, Debug)]
pub struct InterfaceEntry {
    /// The interface as scanned.
    pub host: HostInterface,
    /// Its counter slot.
    pub slot: usize,
    /// Its VLAN's policy, if one is configured.
    pub policy: Option<Arc<VlanPolicy>>,
    /// Requests arriving on it are answered.
    pub serve: bool,
    /// Access rules in place of the global ones.
    pub access: Option<AccessList>,
    /// Rate limits in place of the global ones.
    pub rate: Option<Option<RateParams>>,
    /// Its IPv4 broadcast addresses when it broadcasts (a request "from"
    /// one of them is a spoof aimed at the whole VLAN and is refused).
    pub broadcasting_to: Vec<Ipv4Addr>,
    /// A broadcast client listens on it (`[[sources.broadcast]]`): mode-5
    /// datagrams arriving on it go to the sync loop.
    pub broadcast_client: bool,
}

impl InterfaceEntry {
    /// The interface name.
    pub fn name(&self) -> &str {
        &self.host.name
    }

    /// True when `ip` is a broadcast address this interface sends to.
    #[inline]
    pub fn is_own_broadcast(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.broadcasting_to.contains(&v4),
            IpAddr::V6(_) => false,
        }
    }

    /// True when hosts on this interface are only clients.
    pub fn clients_only(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.clients_only)
    }
}

/// The published table.
#[derive(Clone, Debug, Default)]
pub struct InterfaceTable {
    /// By index, ascending.
    entries: Vec<InterfaceEntry>,
    /// Configured VLANs whose interface does not exist.
    missing: Vec<Arc<VlanPolicy>>,
    /// The largest rate-limiter table any interface's limits ask for.
    rate_table_size: Option<usize>,
    /// Some interface broadcasts.
    broadcasts: bool,
}

impl InterfaceTable {
    /// Joins the host's interfaces with the VLAN policies; `slots` numbers
    /// the interfaces for the counters; `global_rate` is `[security]`'s.
    pub fn build(
        host: &[HostInterface],
        policies: &VlanPolicies,
        slots: &SlotNames,
        global_rate: Option<&RateParams>,
        broadcast_clients: &[String],
    ) -> InterfaceTable {
        let policies: Vec<Arc<VlanPolicy>> = policies.0.iter().cloned().map(Arc::new).collect();
        let mut entries: Vec<InterfaceEntry> = host
            .iter()
            .map(|h| {
                let policy = policies.iter().find(|p| p.interface == h.name).cloned();
                let broadcasting = policy.as_ref().is_some_and(|p| p.broadcast.is_some());
                InterfaceEntry {
                    host: h.clone(),
                    slot: slots.slot(&h.name),
                    serve: policy.as_ref().is_none_or(|p| p.enabled),
                    access: policy.as_ref().and_then(|p| p.access.clone()),
                    rate: policy.as_ref().and_then(|p| p.rate),
                    broadcasting_to: if broadcasting { h.broadcast.clone() } else { Vec::new() },
                    broadcast_client: broadcast_clients.contains(&h.name),
                    policy,
                }
            })
            .collect();
        entries.sort_by_key(|e| e.host.index);
        let missing = policies.iter().filter(|p| !host.iter().any(|h| h.name == p.interface)).cloned().collect();
        let rate_table_size = global_rate
            .into_iter()
            .chain(policies.iter().filter_map(|p| p.rate.as_ref().and_then(Option::as_ref)))
            .map(|r| r.table_size)
            .max();
        let broadcasts = entries.iter().any(|e| e.policy.as_ref().is_some_and(|p| p.broadcast.is_some()));
        InterfaceTable { entries, missing, rate_table_size, broadcasts }
    }

    /// The entry of interface index `ifindex`.
    #[inline]
    pub fn lookup(&self, ifindex: u32) -> Option<&InterfaceEntry> {
        self.entries.binary_search_by_key(&ifindex, |e| e.host.index).ok().map(|i| &self.entries[i])
    }

    /// The interface with local address `ip`.
    pub fn with_address(&self, ip: IpAddr) -> Option<&InterfaceEntry> {
        self.entries.iter().find(|e| e.host.addresses.contains(&ip))
    }

    /// The interface named `name`.
    pub fn by_name(&self, name: &str) -> Option<&InterfaceEntry> {
        self.entries.iter().find(|e| e.host.name == name)
    }

    /// Every interface, by index.
    pub fn entries(&self) -> &[InterfaceEntry] {
        &self.entries
    }

    /// Configured VLANs whose interface is not there.
    pub fn missing(&self) -> &[Arc<VlanPolicy>] {
        &self.missing
    }

    /// True when some interface broadcasts.
    #[inline]
    pub fn broadcasts(&self) -> bool {
        self.broadcasts
    }

    /// Slots a worker's rate limiter needs (`None`: no limits anywhere).
    pub fn rate_table_size(&self) -> Option<usize> {
        self.rate_table_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(index: u32, name: &str, v4: &str) -> HostInterface {
        let ip: Ipv4Addr = v4.parse().unwrap();
        let o = ip.octets();
        HostInterface {
            index,
            name: name.into(),
            up: true,
            addresses: vec![IpAddr::V4(ip)],
            broadcast: vec![Ipv4Addr::new(o[0], o[1], o[2], 255)],
        }
    }

    fn config(text: &str) -> Config {
        ntp_config::load_from_strs(&[("t.toml".into(), text.into())], Vec::new(), &Default::default()).unwrap().config
    }

    #[test]
    fn vlans_are_joined_to_interfaces_by_name() {
        let c = config(
            "[[vlan_config]]\nvlan_ref = \"vlan-10\"\nbroadcast = true\n\
             [[vlan_config]]\nvlan_ref = \"iot\"\ninterface = \"vlan-20\"\nclients_only = true\n\
             ratelimit = { enabled = true, table_size = 4096 }\naccess = [{ network = \"198.51.100.0/24\", permission = \"allow\" }]\n\
             [[vlan_config]]\nvlan_ref = \"vlan-30\"\nenabled = false\n\
             [[vlan_config]]\nvlan_ref = \"vlan-40\"\n",
        );
        let policies = VlanPolicies::from_config(&c, &SymmetricKeys::new());
        let hosts = [
            host(1, "lo", "127.0.0.1"),
            host(7, "vlan-10", "192.0.2.1"),
            host(9, "vlan-20", "198.51.100.1"),
            host(12, "vlan-30", "203.0.113.1"),
        ];
        let t = InterfaceTable::build(&hosts, &policies, &SlotNames::default(), None, &[]);
        let lo = t.lookup(1).unwrap();
        assert!(lo.serve && lo.policy.is_none() && lo.access.is_none());
        let v10 = t.lookup(7).unwrap();
        assert!(v10.serve && v10.is_own_broadcast("192.0.2.255".parse().unwrap()));
        let v20 = t.lookup(9).unwrap();
        assert!(v20.clients_only() && v20.access.as_ref().unwrap().allows("198.51.100.7".parse().unwrap()));
        assert!(!v20.access.as_ref().unwrap().allows("192.0.2.7".parse().unwrap()));
        assert!(!v20.is_own_broadcast("198.51.100.255".parse().unwrap()), "vlan-20 does not broadcast");
        assert!(!t.lookup(12).unwrap().serve);
        assert!(t.lookup(8).is_none());
        assert_eq!(t.missing().iter().map(|p| p.vlan.as_str()).collect::<Vec<_>>(), ["vlan-40"]);
        assert_eq!(t.rate_table_size(), Some(4096));
        assert_eq!(t.with_address("198.51.100.1".parse().unwrap()).unwrap().name(), "vlan-20");
        // Slots are stable across rebuilds.
        let slots = SlotNames::default();
        let a = InterfaceTable::build(&hosts, &policies, &slots, None, &["vlan-10".to_owned()]);
        let b = InterfaceTable::build(&hosts[2..], &policies, &slots, None, &[]);
        assert!(a.lookup(7).unwrap().broadcast_client && !a.lookup(9).unwrap().broadcast_client);
        assert_eq!(a.lookup(9).unwrap().slot, b.lookup(9).unwrap().slot);
    }
}
