//! The client sockets: one per source address, non-blocking, connected to the
//! server (so the kernel only ever sends there and only accepts its replies),
//! with kernel receive timestamps and large buffers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use anyhow::{bail, Context};

use crate::sys;

/// Distinct source addresses available: 127.1.0.1 .. 127.254.255.254 minus the
/// .0 and .255 host bytes (254 per /24, 254 × 256 /24s).
pub const MAX_SOURCES: usize = 254 * 256 * 254;

/// Socket buffer size asked for (per direction, per socket).
const BUFFER_BYTES: i32 = 4 << 20;

/// The loopback address of source `i` (0-based): 127.1.0.1, 127.1.0.2, …,
/// 127.1.0.254, 127.1.1.1, … (never a .0 or .255 host byte).
pub fn source_addr(i: usize) -> Ipv4Addr {
    let host = (i % 254 + 1) as u8;
    let third = ((i / 254) % 256) as u8;
    let second = (1 + i / (254 * 256)) as u8;
    Ipv4Addr::new(127, second, third, host)
}

/// Opens `count` sockets towards `server`. One socket binds to the wildcard
/// address (so any server works); several bind to distinct 127.x.y.z
/// addresses, which only reach a loopback server.
pub fn open(server: SocketAddr, count: usize) -> anyhow::Result<Vec<UdpSocket>> {
    if count == 0 {
        bail!("--sources must be at least 1");
    }
    if count > 1 && !matches!(server.ip(), IpAddr::V4(ip) if ip.is_loopback()) {
        bail!("--sources > 1 uses 127.x.y.z source addresses, so --server must be an IPv4 loopback address");
    }
    if count > MAX_SOURCES {
        bail!("--sources is at most {MAX_SOURCES}");
    }
    (0..count)
        .map(|i| {
            let local = match (count, server) {
                (1, SocketAddr::V4(_)) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                (1, SocketAddr::V6(_)) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
                _ => SocketAddr::new(IpAddr::V4(source_addr(i)), 0),
            };
            open_one(local, server).with_context(|| format!("source socket {local} -> {server}"))
        })
        .collect()
}

fn open_one(local: SocketAddr, server: SocketAddr) -> anyhow::Result<UdpSocket> {
    let s = UdpSocket::bind(local).context("bind")?;
    s.set_nonblocking(true).context("non-blocking")?;
    sys::enable_rx_timestamps(s.as_raw_fd()).context("SO_TIMESTAMPNS")?;
    sys::set_buffers(s.as_raw_fd(), BUFFER_BYTES);
    s.connect(server).context("connect")?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_distinct_loopback_hosts() {
        assert_eq!(source_addr(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(source_addr(253), Ipv4Addr::new(127, 1, 0, 254));
        assert_eq!(source_addr(254), Ipv4Addr::new(127, 1, 1, 1));
        assert_eq!(source_addr(254 * 256), Ipv4Addr::new(127, 2, 0, 1));
        let mut seen = std::collections::HashSet::new();
        for i in 0..3000 {
            let a = source_addr(i);
            assert!(a.is_loopback());
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255);
            assert!(seen.insert(a));
        }
        assert_eq!(source_addr(MAX_SOURCES - 1), Ipv4Addr::new(127, 254, 255, 254));
    }

    #[test]
    fn many_sources_need_a_loopback_server() {
        assert!(open("192.0.2.1:123".parse().unwrap(), 2).is_err());
        assert!(open("127.0.0.1:9".parse().unwrap(), 0).is_err());
    }
}
