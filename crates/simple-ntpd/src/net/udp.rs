//! The OS interface for NTP over UDP: one datagram in with its kernel receive
//! timestamp and the local address it arrived on, one datagram out from that
//! same local address.
//!
//! This is the only module of the serving path with `unsafe`: the
//! `recvmsg`/`sendmsg` calls and control-message (cmsg) handling that libc
//! exposes as raw pointers. Buffers are owned by the caller and reused, so
//! nothing here allocates per packet.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use socket2::Socket;

/// Kernel receive time as Unix seconds and nanoseconds (CLOCK_REALTIME).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// Where a datagram came from and when and where it arrived.
#[derive(Clone, Copy, Debug)]
pub struct RecvMeta {
    /// Bytes received (the datagram's length, even if truncated).
    pub len: usize,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// Sender address.
    pub source: SocketAddr,
    /// Local destination address and interface (from IP_PKTINFO /
    /// IPV6_PKTINFO), used to reply from the same address.
    pub local: Option<(IpAddr, u32)>,
    /// Kernel receive timestamp (SO_TIMESTAMPNS), if the kernel gave one.
    pub kernel_time: Option<KernelTime>,
}

/// Space for the receive timestamp, one IPv6 pktinfo control message and
/// the `SCM_TIMESTAMPING` message a kernel without
/// `SOF_TIMESTAMPING_OPT_RX_FILTER` adds once transmit timestamps are
/// reported on the socket (`tx_timestamp::enable_on_request`).
pub(crate) const CMSG_BUF_LEN: usize = 192;

/// A reusable control-message buffer, aligned for `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct CmsgBuf(pub(crate) [u8; CMSG_BUF_LEN]);

impl Default for CmsgBuf {
    fn default() -> Self {
        CmsgBuf([0; CMSG_BUF_LEN])
    }
}

/// Enables what the serving path needs on a bound or unbound socket: kernel
/// receive timestamps and destination-address packet info.
pub fn enable_rx_metadata(socket: &Socket, ipv6: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

pub(crate) fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int for the duration of the call and we pass
    // its exact size; `fd` is an open socket owned by the caller.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Receives one datagram into `buf`. Blocks according to the socket's
/// timeout; a timeout returns `ErrorKind::WouldBlock`/`TimedOut`.
pub fn recv(socket: &impl AsRawFd, buf: &mut [u8], cmsg: &mut CmsgBuf) -> io::Result<RecvMeta> {
    // SAFETY: all-zero is a valid bit pattern for these plain C structs.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = CMSG_BUF_LEN as _;
    // SAFETY: every pointer in `hdr` points into a live, writable buffer of
    // the stated length (`addr`, `buf` via `iov`, `cmsg`) that outlives the call.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut hdr, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let source = sockaddr_to_std(&addr).ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    let mut meta = RecvMeta {
        len: n as usize,
        truncated: (n as usize) > buf.len() || hdr.msg_flags & libc::MSG_TRUNC != 0,
        source,
        local: None,
        kernel_time: None,
    };
    parse_cmsgs(&hdr, &mut meta);
    Ok(meta)
}

/// Sends `data` to `dest`, from local address `local` when given (the address
/// the request arrived on), so replies from wildcard-bound sockets leave from
/// the right address on multihomed hosts.
pub fn send(socket: &impl AsRawFd, data: &[u8], dest: SocketAddr, local: Option<(IpAddr, u32)>) -> io::Result<usize> {
    let (mut addr, addr_len) = std_to_sockaddr(dest);
    if local.is_none() {
        // Without a control message, sendto spares the kernel copying and
        // validating a msghdr and an iovec: a few per cent of a reply's cost.
        // SAFETY: `data` and `addr` are live for the call and only read;
        // `addr_len` is the length std_to_sockaddr wrote.
        let n = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&addr as *const libc::sockaddr_storage).cast(),
                addr_len,
            )
        };
        return if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) };
    }
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let mut cmsg = CmsgBuf::default();
    // SAFETY: all-zero is a valid msghdr.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    hdr.msg_namelen = addr_len;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if let Some((ip, ifindex)) = local {
        hdr.msg_controllen = write_pktinfo(&mut cmsg, ip, ifindex) as _;
        hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    }
    // SAFETY: `hdr` points at live buffers (`addr`, `data` via `iov`, `cmsg`)
    // that outlive the call; sendmsg only reads them.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &hdr, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads the kernel receive timestamp and destination pktinfo out of the
/// control messages of a `msghdr` that recvmsg/recvmmsg filled.
#[inline]
pub(crate) fn parse_cmsgs(hdr: &libc::msghdr, meta: &mut RecvMeta) {
    for_each_cmsg(hdr, |level, ty, data| match (level, ty) {
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
            if let Some(ts) = read_cmsg::<libc::timespec>(data) {
                meta.kernel_time = Some(KernelTime { secs: ts.tv_sec, nanos: ts.tv_nsec as u32 });
            }
        }
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
            if let Some(pi) = read_cmsg::<libc::in_pktinfo>(data) {
                let ip = Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr));
                meta.local = Some((IpAddr::V4(ip), pi.ipi_ifindex as u32));
            }
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            if let Some(pi) = read_cmsg::<libc::in6_pktinfo>(data) {
                meta.local = Some((IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)), pi.ipi6_ifindex));
            }
        }
        _ => {}
    });
}

/// Calls `f(level, type, data)` for each control message of a `msghdr` that
/// recvmsg/recvmmsg filled; `data` is the message's payload, bounded by its
/// own length and by the control buffer.
#[inline]
pub(crate) fn for_each_cmsg(hdr: &libc::msghdr, mut f: impl FnMut(i32, i32, &[u8])) {
    // msg_controllen is usize on glibc and socklen_t on musl.
    #[allow(clippy::unnecessary_cast)]
    let control_len = hdr.msg_controllen as usize;
    if hdr.msg_control.is_null() || control_len < size_of::<libc::cmsghdr>() {
        return;
    }
    let control_end = hdr.msg_control as usize + control_len;
    // SAFETY: `hdr` was filled by the kernel; CMSG_FIRSTHDR/NXTHDR walk only
    // within msg_control[..msg_controllen], and each payload slice is cut to
    // both the message's own length and the end of the control buffer.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize)
                .saturating_sub(data as usize - c as usize)
                .min(control_end.saturating_sub(data as usize));
            f((*c).cmsg_level, (*c).cmsg_type, std::slice::from_raw_parts(data, len));
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
}

/// C structs that control messages carry: plain integers, every bit
/// pattern valid.
pub(crate) trait CmsgPayload: Copy {}
impl CmsgPayload for libc::timespec {}
impl CmsgPayload for libc::in_pktinfo {}
impl CmsgPayload for libc::in6_pktinfo {}
impl CmsgPayload for libc::sock_extended_err {}

/// The `T` at the start of a control message's payload, if it is long enough.
#[inline]
pub(crate) fn read_cmsg<T: CmsgPayload>(data: &[u8]) -> Option<T> {
    if data.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: `data` holds at least size_of::<T>() bytes, read unaligned;
    // `T: CmsgPayload` is a C struct of integers, valid for any bytes.
    Some(unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<T>()) })
}

/// Writes one IP_PKTINFO / IPV6_PKTINFO control message selecting the source
/// address `ip` (and interface, for IPv6) into `cmsg`; returns the control
/// length to put in `msg_controllen`.
pub(crate) fn write_pktinfo(cmsg: &mut CmsgBuf, ip: IpAddr, ifindex: u32) -> usize {
    let (level, ty, len) = match ip {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, size_of::<libc::in_pktinfo>()),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, size_of::<libc::in6_pktinfo>()),
    };
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
    let (space, cmsg_len) = unsafe { (libc::CMSG_SPACE(len as u32) as usize, libc::CMSG_LEN(len as u32) as usize) };
    assert!(space <= CMSG_BUF_LEN, "pktinfo control message fits the buffer");
    cmsg.0[..space].fill(0);
    let hdr = libc::cmsghdr { cmsg_len: cmsg_len as _, cmsg_level: level, cmsg_type: ty };
    // SAFETY: the buffer is 8-aligned and at least `space` bytes long (asserted
    // above); the header goes at its start and the data at the CMSG_DATA
    // offset, which is CMSG_LEN(0) bytes in, both within `space`.
    unsafe {
        let base = cmsg.0.as_mut_ptr();
        std::ptr::write_unaligned(base.cast::<libc::cmsghdr>(), hdr);
        let data = base.add(libc::CMSG_LEN(0) as usize);
        match ip {
            IpAddr::V4(v4) => std::ptr::write_unaligned(
                data.cast(),
                libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from(v4).to_be() },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                },
            ),
            IpAddr::V6(v6) => std::ptr::write_unaligned(
                data.cast(),
                libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: v6.octets() }, ipi6_ifindex: ifindex },
            ),
        }
    }
    space
}

pub(crate) fn sockaddr_to_std(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((addr as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned((addr as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

pub(crate) fn std_to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write_unaligned((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write_unaligned((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};
    use std::time::Duration;

    fn bound(addr: &str) -> Socket {
        let addr: SocketAddr = addr.parse().unwrap();
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).unwrap();
        enable_rx_metadata(&s, addr.is_ipv6()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.bind(&addr.into()).unwrap();
        s
    }

    #[test]
    fn loopback_round_trip_carries_kernel_time_and_local_address() {
        let server = bound("0.0.0.0:0");
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let client = bound("127.0.0.1:0");
        let client_addr = client.local_addr().unwrap().as_socket().unwrap();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        send(&client, b"hello", target, None).unwrap();
        let mut buf = [0u8; 64];
        let mut cm = CmsgBuf::default();
        let meta = recv(&server, &mut buf, &mut cm).unwrap();
        assert_eq!(&buf[..meta.len], b"hello");
        assert!(!meta.truncated);
        assert_eq!(meta.source, client_addr);
        assert_eq!(meta.local.unwrap().0, "127.0.0.1".parse::<IpAddr>().unwrap());
        let kt = meta.kernel_time.expect("kernel timestamp");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!((now.as_secs() as i64 - kt.secs).abs() <= 2);
        // Reply from the arrival address.
        send(&server, b"world", meta.source, meta.local).unwrap();
        let meta2 = recv(&client, &mut buf, &mut cm).unwrap();
        assert_eq!(&buf[..meta2.len], b"world");
        assert_eq!(meta2.source, target);
    }

    #[test]
    fn ipv6_loopback_and_truncation() {
        let server = bound("[::1]:0");
        let target = server.local_addr().unwrap().as_socket().unwrap();
        let client = bound("[::1]:0");
        send(&client, &[7u8; 100], target, None).unwrap();
        let mut small = [0u8; 48];
        let mut cm = CmsgBuf::default();
        let meta = recv(&server, &mut small, &mut cm).unwrap();
        assert!(meta.truncated);
        assert_eq!(meta.len, 100);
        assert_eq!(meta.local.unwrap().0, "::1".parse::<IpAddr>().unwrap());
        assert!(meta.kernel_time.is_some());
    }
}
