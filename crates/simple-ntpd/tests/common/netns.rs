//! A router with VLANs, built from network namespaces for the per-VLAN
//! tests: one router namespace and one client namespace per VLAN, joined by
//! a veth pair named like the VLAN interface (`vlan-10`) on both ends (802.1Q
//! devices cannot be created on the test machines). Documentation
//! addresses only, inside these namespaces. Names carry the PID and a
//! counter, so parallel runs never collide; every namespace is deleted on
//! drop (which removes its veth ends), also when a test fails.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ntp_test_support::{peers_required, run_bounded};

/// One VLAN: its interface name and addresses.
#[derive(Clone, Debug)]
pub struct Vlan {
    /// The interface name on both ends (`vlan-10`).
    pub name: String,
    /// The router's address on it.
    pub router_v4: Ipv4Addr,
    /// The client's address on it.
    pub client_v4: Ipv4Addr,
    /// Prefix length of the IPv4 network.
    pub prefix: u8,
    /// The router's IPv6 address (/64).
    pub router_v6: Ipv6Addr,
    /// The client's IPv6 address (/64).
    pub client_v6: Ipv6Addr,
    /// The client namespace.
    pub client_ns: String,
}

impl Vlan {
    /// The IPv4 broadcast address of the VLAN.
    pub fn broadcast_v4(&self) -> Ipv4Addr {
        let host_bits = 32 - u32::from(self.prefix);
        Ipv4Addr::from(u32::from(self.router_v4) | ((1u32 << host_bits) - 1))
    }
}

/// VLAN `n` (10, 20, ...) with the given documentation addresses.
pub fn vlan(
    n: u16,
    router_v4: &str,
    client_v4: &str,
    prefix: u8,
) -> (String, Ipv4Addr, Ipv4Addr, u8, Ipv6Addr, Ipv6Addr) {
    (
        format!("vlan-{n}"),
        router_v4.parse().unwrap(),
        client_v4.parse().unwrap(),
        prefix,
        format!("2001:db8:{n}::1").parse().unwrap(),
        format!("2001:db8:{n}::2").parse().unwrap(),
    )
}

/// The router and its VLANs.
pub struct Lan {
    /// The router namespace.
    pub router: String,
    /// The VLANs.
    pub vlans: Vec<Vlan>,
    tag: String,
}

/// Runs `ip` with `args`.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = run_bounded(Command::new("ip").args(args), Duration::from_secs(10))?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), out.describe()))
    }
}

/// True when the test can build namespaces (root and iproute2); otherwise
/// it is skipped, or fails when peers are required (CI).
pub fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = run_bounded(Command::new("ip").arg("-V"), Duration::from_secs(5)).is_ok_and(|o| o.success());
    if root && tools {
        return true;
    }
    assert!(!peers_required(), "this test needs root and `ip` (iproute2)");
    eprintln!("SKIP: needs root and ip");
    false
}

impl Lan {
    /// A router namespace with the given VLANs (see [`vlan`]).
    pub fn create(what: &str, vlans: &[(String, Ipv4Addr, Ipv4Addr, u8, Ipv6Addr, Ipv6Addr)]) -> Lan {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut lan = Lan { router: format!("sntpd-{what}-{tag}-r"), vlans: Vec::new(), tag };
        ip(&["netns", "add", &lan.router]).unwrap_or_else(|e| panic!("{e}"));
        ip(&["-n", &lan.router, "link", "set", "lo", "up"]).unwrap_or_else(|e| panic!("{e}"));
        for v in vlans {
            lan.add_vlan(v.clone());
        }
        lan
    }

    /// Adds a VLAN (a client namespace and a veth pair), up and addressed.
    pub fn add_vlan(&mut self, v: (String, Ipv4Addr, Ipv4Addr, u8, Ipv6Addr, Ipv6Addr)) -> Vlan {
        let (name, router_v4, client_v4, prefix, router_v6, client_v6) = v;
        let client_ns = format!("{}-{}", self.router.trim_end_matches("-r"), name.trim_start_matches("vlan-"));
        let vlan = Vlan { name, router_v4, client_v4, prefix, router_v6, client_v6, client_ns };
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &vlan.client_ns])?;
            ip(&["-n", &vlan.client_ns, "link", "set", "lo", "up"])?;
            ip(&[
                "link",
                "add",
                &vlan.name,
                "netns",
                &self.router,
                "type",
                "veth",
                "peer",
                "name",
                &vlan.name,
                "netns",
                &vlan.client_ns,
            ])?;
            for (ns, v4, v6) in [(&self.router, router_v4, router_v6), (&vlan.client_ns, client_v4, client_v6)] {
                ip(&["-n", ns, "addr", "add", &format!("{v4}/{prefix}"), "brd", "+", "dev", &vlan.name])?;
                ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", &vlan.name, "nodad"])?;
                ip(&["-n", ns, "link", "set", &vlan.name, "up"])?;
            }
            Ok(())
        };
        let result = setup();
        self.vlans.push(vlan.clone());
        result.unwrap_or_else(|e| panic!("cannot set up {}: {e}", vlan.name));
        vlan
    }

    /// Removes a VLAN's client namespace (its veth pair goes with it).
    pub fn remove_vlan(&mut self, name: &str) {
        if let Some(i) = self.vlans.iter().position(|v| v.name == name) {
            let v = self.vlans.remove(i);
            ip(&["netns", "del", &v.client_ns]).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// The VLAN named `name`.
    pub fn vlan(&self, name: &str) -> &Vlan {
        self.vlans.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no VLAN {name}"))
    }

    /// The tag that makes this run's names unique.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for v in &self.vlans {
            let _ = ip(&["netns", "del", &v.client_ns]);
        }
        let _ = ip(&["netns", "del", &self.router]);
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`: sockets
/// it creates stay in that namespace, whichever thread uses them later.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A command run in namespace `ns` (`ip netns exec`).
pub fn netns_command(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// The address family-neutral form of an address for a TOML value.
pub fn sock(ip: impl Into<IpAddr>, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(ip.into(), port)
}
