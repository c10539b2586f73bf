//! Free ports and spare loopback addresses for test servers.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Mutex;

/// A UDP port that is free on `ip` right now, for a server the test starts next.
///
/// The port comes from below the kernel's ephemeral range, so no client socket
/// bound to port 0 (an HTTP request, a probe, another test's daemon) can take it
/// between this call and the server's bind; each port is handed out once per process.
///
/// # Panics
/// When `ip` cannot be bound at all (not a local address): a bug in the test.
pub fn free_udp_port(ip: IpAddr) -> u16 {
    free_port(ip, |addr| UdpSocket::bind(addr).map(drop))
}

/// A TCP port that is free on `ip` right now (for NTS-KE and metrics listeners);
/// chosen like [`free_udp_port`].
///
/// # Panics
/// When `ip` cannot be bound at all (not a local address): a bug in the test.
pub fn free_tcp_port(ip: IpAddr) -> u16 {
    free_port(ip, |addr| TcpListener::bind(addr).map(drop))
}

/// Ports already handed out by this process.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The ports tests pick from: the 12,000 below the ephemeral range's start
/// (`/proc/sys/net/ipv4/ip_local_port_range`, Linux's default 32768), or none
/// when that range starts too low to leave room.
fn test_port_range() -> Option<std::ops::Range<u16>> {
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u16>().ok()))
        .unwrap_or(32768);
    (start >= 2048).then(|| start.saturating_sub(12_000).max(1024)..start)
}

fn free_port(ip: IpAddr, try_bind: impl Fn(SocketAddr) -> std::io::Result<()>) -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(range) = test_port_range() {
        let width = u64::from(range.end - range.start);
        for _ in 0..500 {
            let port = range.start + (crate::random::random_u64() % width) as u16;
            if !handed_out.contains(&port) && try_bind(SocketAddr::new(ip, port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    }
    // No room below the ephemeral range (or all tried ports busy): ask the kernel.
    for _ in 0..100 {
        let port = match UdpSocket::bind(SocketAddr::new(ip, 0)).and_then(|s| s.local_addr()) {
            Ok(a) => a.port(),
            Err(e) => panic!("cannot bind {ip}:0 to find a free port: {e}"),
        };
        if !handed_out.contains(&port) && try_bind(SocketAddr::new(ip, port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port on {ip}")
}

/// A random `127.x.y.z` (never 127.0.0.1 nor 127.0.1.1, no `.0`/`.255` last octet) whose
/// UDP port 123 is free right now, for peers such as `ntpdig` that only talk to port 123.
///
/// # Panics
/// When no candidate could bind port 123 after many tries (e.g. not root and no
/// `CAP_NET_BIND_SERVICE`, or a wildcard `:123` socket without `SO_REUSEADDR` exists).
pub fn spare_loopback_v4() -> Ipv4Addr {
    let mut last_err = String::new();
    for _ in 0..200 {
        let r = crate::random::random_u64();
        let ip = Ipv4Addr::new(127, (r >> 8) as u8, (r >> 16) as u8, 1 + (r as u8 % 254));
        if ip == Ipv4Addr::new(127, 0, 0, 1) || ip == Ipv4Addr::new(127, 0, 1, 1) {
            continue;
        }
        match UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 123)) {
            Ok(_) => return ip,
            Err(e) => last_err = format!("{ip}:123: {e}"),
        }
    }
    panic!("no spare 127.x.y.z with a free UDP port 123 (last error: {last_err})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let p = free_udp_port(ip);
        assert_ne!(p, 0);
        UdpSocket::bind(SocketAddr::new(ip, p)).expect("port should still be free");
        let t = free_tcp_port(ip);
        assert_ne!(t, 0);
        TcpListener::bind(SocketAddr::new(ip, t)).expect("port should still be free");
    }

    #[test]
    fn ports_come_from_below_the_ephemeral_range_and_never_twice() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let range = test_port_range().expect("Linux's default range leaves room");
        let ports: Vec<u16> = (0..50).map(|_| free_udp_port(ip)).chain((0..50).map(|_| free_tcp_port(ip))).collect();
        assert!(ports.iter().all(|p| range.contains(p)), "{ports:?} outside {range:?}");
        let unique: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len(), "a port handed out twice: {ports:?}");
    }
}
