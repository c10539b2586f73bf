//! Free ports and spare loopback addresses for test servers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// A UDP port that was free on `ip` a moment ago (bind port 0, read it, drop).
///
/// # Panics
/// When `ip` cannot be bound at all (not a local address): a bug in the test.
pub fn free_udp_port(ip: IpAddr) -> u16 {
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("cannot bind UDP {ip}:0 to find a free port: {e}"));
    sock.local_addr().unwrap_or_else(|e| panic!("local_addr of UDP {ip}:0: {e}")).port()
}

/// A TCP port that was free on `ip` a moment ago (for NTS-KE and metrics listeners).
///
/// # Panics
/// When `ip` cannot be bound at all (not a local address): a bug in the test.
pub fn free_tcp_port(ip: IpAddr) -> u16 {
    let l = TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("cannot bind TCP {ip}:0 to find a free port: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("local_addr of TCP {ip}:0: {e}")).port()
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
        assert_ne!(free_tcp_port(ip), 0);
    }
}
