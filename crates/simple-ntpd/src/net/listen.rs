//! Opening the serving sockets: one UDP socket per (listen address, worker),
//! all bound to the same address with SO_REUSEPORT so the kernel spreads
//! clients over the workers and nothing is shared between them.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::udp;

/// How the serving sockets are set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// Receive timeout, so workers notice a shutdown request.
    pub read_timeout: Duration,
    /// SO_RCVBUF to ask for (the kernel may cap it at net.core.rmem_max).
    pub recv_buffer: usize,
    /// SO_SNDBUF to ask for.
    pub send_buffer: usize,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions { read_timeout: Duration::from_millis(200), recv_buffer: 256 << 10, send_buffer: 1 << 20 }
    }
}

/// Opens a UDP socket bound to `addr` for serving: SO_REUSEPORT, IPv6-only
/// for IPv6 addresses (so `0.0.0.0` and `::` coexist), kernel receive
/// timestamps, packet info, buffers and a read timeout.
pub fn open_serving_socket(addr: SocketAddr, opts: &SocketOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    set_buffers(&socket, opts);
    udp::enable_rx_metadata(&socket, addr.is_ipv6())?;
    socket.set_read_timeout(Some(opts.read_timeout))?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Fails with `AddrInUse` when any other socket already holds `addr`.
///
/// SO_REUSEPORT lets every socket of one user join a port group, so a second
/// simple-ntpd started by mistake on the same address would silently take
/// half the clients. A plain bind without SO_REUSEPORT is refused while any
/// socket holds the address, so probing with one first (and closing it)
/// turns that mistake into a clear start-up error.
pub fn ensure_address_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    probe.bind(&addr.into())
}

/// Asks for the configured buffer sizes. The kernel caps SO_RCVBUF/SO_SNDBUF
/// at net.core.{r,w}mem_max; when it did, the FORCE variants (root or
/// CAP_NET_ADMIN) lift the cap. Best effort either way: a small buffer only
/// costs drops under bursts, which are counted.
fn set_buffers(socket: &Socket, opts: &SocketOptions) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let _ = socket.set_recv_buffer_size(opts.recv_buffer);
    // Linux reports twice the value it granted (bookkeeping overhead).
    if socket.recv_buffer_size().map(|s| s < opts.recv_buffer).unwrap_or(false) {
        let _ = udp::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, clamp_int(opts.recv_buffer));
    }
    let _ = socket.set_send_buffer_size(opts.send_buffer);
    if socket.send_buffer_size().map(|s| s < opts.send_buffer).unwrap_or(false) {
        let _ = udp::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, clamp_int(opts.send_buffer));
    }
}

fn clamp_int(v: usize) -> libc::c_int {
    v.min(libc::c_int::MAX as usize) as libc::c_int
}

/// True for bind errors that mean "this host has no IPv6" rather than a
/// configuration mistake, so the default `::` listener may be skipped.
pub fn is_ipv6_unavailable(addr: SocketAddr, err: &io::Error) -> bool {
    addr.is_ipv6()
        && matches!(
            err.raw_os_error(),
            Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_at_least_what_was_asked_for_as_root() {
        let opts = SocketOptions { recv_buffer: 8 << 20, ..SocketOptions::default() };
        let s = open_serving_socket("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let got = s.recv_buffer_size().unwrap();
        if nix::unistd::geteuid().is_root() {
            assert!(got >= 8 << 20, "SO_RCVBUFFORCE should lift the cap: got {got}");
        }
    }

    #[test]
    fn two_workers_share_one_port() {
        let opts = SocketOptions::default();
        let a = open_serving_socket("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let addr = a.local_addr().unwrap().as_socket().unwrap();
        let b = open_serving_socket(addr, &opts).unwrap();
        assert_eq!(b.local_addr().unwrap().as_socket().unwrap(), addr);
    }

    #[test]
    fn a_port_held_by_another_reuseport_group_is_reported_in_use() {
        let opts = SocketOptions::default();
        let held = open_serving_socket("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let addr = held.local_addr().unwrap().as_socket().unwrap();
        let err = ensure_address_free(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(held);
        ensure_address_free(addr).unwrap();
        ensure_address_free("127.0.0.1:0".parse().unwrap()).unwrap();
    }

    #[test]
    fn ipv4_and_ipv6_wildcards_coexist_on_one_port() {
        let opts = SocketOptions::default();
        let v6 = open_serving_socket("[::]:0".parse().unwrap(), &opts).unwrap();
        let port = v6.local_addr().unwrap().as_socket().unwrap().port();
        open_serving_socket(SocketAddr::from(([0, 0, 0, 0], port)), &opts).unwrap();
    }
}
