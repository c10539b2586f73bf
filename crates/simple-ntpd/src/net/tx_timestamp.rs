//! Kernel transmit timestamps: when a datagram really left, as the kernel
//! saw it, rather than a clock read some microseconds before `send`.
//!
//! [`enable`] asks for a software timestamp of every datagram the socket
//! sends (`SO_TIMESTAMPING` with `SOF_TIMESTAMPING_TX_SOFTWARE`), taken by
//! the network stack when the packet is handed to the device. The kernel
//! queues it on the socket's error queue without the packet
//! (`SOF_TIMESTAMPING_OPT_TSONLY`, so no privilege is needed) and tagged with
//! a per-socket counter (`SOF_TIMESTAMPING_OPT_ID`): the n-th datagram sent
//! after [`enable`] carries id n − 1. [`TxIds`] keeps that count on the
//! sender's side; [`read`] takes one timestamp off the error queue without
//! blocking. The error queue makes the socket poll as `POLLERR` (tokio:
//! `Interest::ERROR`) while something is waiting.
//!
//! The upstream client (`sync::net`) uses this for T1 of every request.
//! The serving side asks for timestamps per datagram instead
//! ([`enable_on_request`], [`send_stamped`]): only replies to clients in
//! interleaved mode need one, and a basic reply should not pay for it. Those
//! timestamps carry no usable id (the kernel numbers only socket-wide
//! requests), so the server reads its timestamp right after the send and
//! accepts it only if it is not older than the send ([`read_after`]).
//!
//! An OS-interface module: `setsockopt` and `recvmsg(MSG_ERRQUEUE)` with
//! control messages are only reachable through raw pointers.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::mem::{align_of, size_of, zeroed};
use std::os::fd::AsRawFd;

use std::net::{IpAddr, SocketAddr};

use ntp_proto::NtpTimestamp;

use super::udp::{for_each_cmsg, read_cmsg, setsockopt_int, std_to_sockaddr, write_pktinfo, CmsgBuf, KernelTime};

/// `SOF_TIMESTAMPING_OPT_RX_FILTER` (Linux 6.7): report software receive
/// timestamps only where they were asked for, so enabling transmit
/// timestamps adds nothing to every received datagram.
const SOF_TIMESTAMPING_OPT_RX_FILTER: u32 = 1 << 17;

/// `struct scm_timestamping`: software, (deprecated), raw hardware time.
const SCM_TIMESTAMPING_LEN: usize = 3 * size_of::<libc::timespec>();

/// Space for the control messages of one error-queue entry: the timestamps
/// and the IPv4 or IPv6 extended error with its offender address.
const ERRQUEUE_CMSG_LEN: usize = 256;

#[repr(C, align(8))]
struct ErrQueueCmsg([u8; ERRQUEUE_CMSG_LEN]);

/// One transmit timestamp from the error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxTimestamp {
    /// Which datagram: the socket's count of datagrams sent before it
    /// (`SOF_TIMESTAMPING_OPT_ID`; see [`TxIds`]).
    pub id: u32,
    /// When the stack handed it to the device (CLOCK_REALTIME).
    pub time: KernelTime,
}

/// Enables software transmit timestamps with ids on `socket` (receive
/// timestamps are `udp::enable_rx_metadata`'s business and stay as they are).
pub fn enable(socket: &impl AsRawFd) -> io::Result<()> {
    let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE
        | libc::SOF_TIMESTAMPING_SOFTWARE
        | libc::SOF_TIMESTAMPING_OPT_ID
        | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    setsockopt_int(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as libc::c_int)
}

/// Makes `socket` report software transmit timestamps of the datagrams
/// sent with [`send_stamped`] (and of no others) on its error queue.
pub fn enable_on_request(socket: &impl AsRawFd) -> io::Result<()> {
    let report = libc::SOF_TIMESTAMPING_SOFTWARE | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    let fd = socket.as_raw_fd();
    setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPING,
        (report | SOF_TIMESTAMPING_OPT_RX_FILTER) as libc::c_int,
    )
    // Older kernels: received datagrams carry one control message more
    // (the receive buffers have room for it).
    .or_else(|_| setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, report as libc::c_int))
}

/// Sends `data` to `dest` (from `local`, as `udp::send` does) asking the
/// kernel for its software transmit timestamp (a `SO_TIMESTAMPING` control
/// message; needs [`enable_on_request`] on the socket).
pub fn send_stamped(
    socket: &impl AsRawFd,
    data: &[u8],
    dest: SocketAddr,
    local: Option<(IpAddr, u32)>,
) -> io::Result<usize> {
    let (mut addr, addr_len) = std_to_sockaddr(dest);
    let mut cmsg = CmsgBuf::default();
    let mut control_len = local.map_or(0, |(ip, ifindex)| write_pktinfo(&mut cmsg, ip, ifindex));
    control_len += write_tx_request(&mut cmsg, control_len);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: all-zero is a valid msghdr.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    hdr.msg_namelen = addr_len;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = control_len as _;
    // SAFETY: `hdr` points at live buffers (`addr`, `data` via `iov`, `cmsg`)
    // that outlive the call; sendmsg only reads them.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &hdr, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes the `SO_TIMESTAMPING` control message asking for a software
/// transmit timestamp at byte `at` of `cmsg` (a multiple of the control
/// message alignment: the end of the one before); returns its space.
pub(crate) fn write_tx_request(cmsg: &mut CmsgBuf, at: usize) -> usize {
    let len = size_of::<u32>() as u32;
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
    let (space, cmsg_len) = unsafe { (libc::CMSG_SPACE(len) as usize, libc::CMSG_LEN(len) as usize) };
    assert!(
        at.is_multiple_of(align_of::<libc::cmsghdr>()) && at + space <= cmsg.0.len(),
        "control message fits the buffer"
    );
    cmsg.0[at..at + space].fill(0);
    let hdr = libc::cmsghdr { cmsg_len: cmsg_len as _, cmsg_level: libc::SOL_SOCKET, cmsg_type: libc::SO_TIMESTAMPING };
    // SAFETY: `at + space` is within the buffer (asserted above); the header
    // goes at `at` and the flags CMSG_LEN(0) bytes after it, both within it.
    unsafe {
        let base = cmsg.0.as_mut_ptr().add(at);
        std::ptr::write_unaligned(base.cast::<libc::cmsghdr>(), hdr);
        std::ptr::write_unaligned(
            base.add(libc::CMSG_LEN(0) as usize).cast::<u32>(),
            libc::SOF_TIMESTAMPING_TX_SOFTWARE,
        );
    }
    space
}

/// The transmit timestamp of the datagram just sent with [`send_stamped`],
/// whose send began at `sent_after` (system time read before the send): the
/// first error-queue entry not older than that, reading a few entries at
/// most. `None` when the kernel has not queued it (yet): the caller goes on
/// without it. Older entries (a timestamp read too late before) are dropped.
pub fn read_after(socket: &impl AsRawFd, sent_after: NtpTimestamp) -> Option<NtpTimestamp> {
    for _ in 0..4 {
        match read(socket) {
            Ok(Some(ts)) => {
                let t = NtpTimestamp::from_unix(ts.time.secs, ts.time.nanos);
                let late = t.since(sent_after).to_seconds();
                if (0.0..1.0).contains(&late) {
                    return Some(t);
                }
            }
            Ok(None) => {}
            Err(_) => return None,
        }
    }
    None
}

/// The ids the kernel gives the datagrams a socket sends, counted on the
/// sending side: call [`TxIds::sent`] after every successful send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxIds {
    next: u32,
}

impl TxIds {
    /// Counting from the first datagram after [`enable`].
    pub fn new() -> Self {
        TxIds::default()
    }

    /// A datagram was sent: its id.
    pub fn sent(&mut self) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    /// A timestamp arrived for `id`, which is not the one expected for
    /// the last datagram (a send the kernel counted but reported as failed):
    /// count on from it.
    pub fn resync(&mut self, id: u32) {
        self.next = id.wrapping_add(1);
    }
}

/// Takes one entry off `socket`'s error queue without blocking: `Ok(Some)`
/// for a transmit timestamp, `Ok(None)` for anything else (an ICMP error,
/// say) and `WouldBlock` when the queue is empty.
pub fn read(socket: &impl AsRawFd) -> io::Result<Option<TxTimestamp>> {
    let mut data = [0u8; 64];
    let mut cmsg = ErrQueueCmsg([0; ERRQUEUE_CMSG_LEN]);
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: all-zero is a valid msghdr.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = ERRQUEUE_CMSG_LEN as _;
    // SAFETY: `hdr` points at `data` (through `iov`) and `cmsg`, both live
    // and writable for their stated lengths for the whole call.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut hdr, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(parse(&hdr))
}

/// The timestamp and id in the control messages of an error-queue entry.
fn parse(hdr: &libc::msghdr) -> Option<TxTimestamp> {
    let (mut time, mut id) = (None, None);
    for_each_cmsg(hdr, |level, ty, data| match (level, ty) {
        // The software timestamp is the first of the three timespecs.
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) if data.len() >= SCM_TIMESTAMPING_LEN => {
            if let Some(software) = read_cmsg::<libc::timespec>(data) {
                if software.tv_sec != 0 || software.tv_nsec != 0 {
                    time = Some(KernelTime { secs: software.tv_sec, nanos: software.tv_nsec as u32 });
                }
            }
        }
        (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
            if let Some(e) = read_cmsg::<libc::sock_extended_err>(data) {
                if e.ee_errno == libc::ENOMSG as u32 && e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING {
                    id = Some(e.ee_data);
                }
            }
        }
        _ => {}
    });
    Some(TxTimestamp { id: id?, time: time? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::udp;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    fn socket(addr: &str) -> Socket {
        let addr: SocketAddr = addr.parse().unwrap();
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.bind(&addr.into()).unwrap();
        s
    }

    /// The next timestamp, waiting up to a second for it.
    fn next(s: &Socket) -> TxTimestamp {
        let until = Instant::now() + Duration::from_secs(1);
        loop {
            match read(s) {
                Ok(Some(t)) => return t,
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("no transmit timestamp: {e}"),
            }
        }
    }

    fn check(local: &str, peer: &str) {
        let (client, server) = (socket(local), socket(peer));
        let to = server.local_addr().unwrap().as_socket().unwrap();
        enable(&client).unwrap();
        let mut ids = TxIds::new();
        assert_eq!(read(&client).unwrap_err().kind(), io::ErrorKind::WouldBlock, "empty before any send");
        for n in 0..3u32 {
            let before = crate::clock::SystemClock.now();
            udp::send(&client, b"request", to, None).unwrap();
            let after = crate::clock::SystemClock.now();
            let id = ids.sent();
            assert_eq!(id, n);
            let ts = next(&client);
            assert_eq!(ts.id, id, "the kernel numbers datagrams as TxIds does");
            let t = ntp_proto::NtpTimestamp::from_unix(ts.time.secs, ts.time.nanos);
            // Taken inside the send call: between the clock reads around it.
            assert!(t.since(before).to_bits() >= 0 && after.since(t).to_bits() >= 0, "{t:?} {before:?} {after:?}");
        }
    }

    #[test]
    fn every_datagram_gets_its_timestamp_and_id_v4() {
        check("127.0.0.1:0", "127.0.0.1:0");
    }

    #[test]
    fn every_datagram_gets_its_timestamp_and_id_v6() {
        check("[::1]:0", "[::1]:0");
    }

    fn check_on_request(local: &str, peer: &str) {
        let (server, client) = (socket(local), socket(peer));
        udp::enable_rx_metadata(&server, local.starts_with('[')).unwrap();
        enable_on_request(&server).unwrap();
        let to = client.local_addr().unwrap().as_socket().unwrap();
        // A plain send asks for nothing.
        udp::send(&server, b"basic", to, None).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(read(&server).unwrap_err().kind(), io::ErrorKind::WouldBlock, "no timestamp unasked");
        for _ in 0..3 {
            let before = crate::clock::SystemClock.now();
            send_stamped(&server, b"interleaved", to, None).unwrap();
            let after = crate::clock::SystemClock.now();
            let t = read_after(&server, before).expect("the stamped send's timestamp, right after it");
            assert!(after.since(t).to_bits() >= 0, "{t:?} after {after:?}");
        }
        // A timestamp older than the send it is read for is not taken for it.
        send_stamped(&server, b"late", to, None).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(read_after(&server, crate::clock::SystemClock.now()), None);
        // Receiving still yields the kernel receive timestamp and pktinfo.
        let from = server.local_addr().unwrap().as_socket().unwrap();
        udp::send(&client, b"request", from, None).unwrap();
        let mut buf = [0u8; 64];
        let mut cmsg = udp::CmsgBuf::default();
        server.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let meta = udp::recv(&server, &mut buf, &mut cmsg).unwrap();
        assert!(meta.kernel_time.is_some() && meta.local.is_some(), "{meta:?}");
    }

    #[test]
    fn stamped_sends_get_their_timestamp_and_others_none_v4() {
        check_on_request("127.0.0.1:0", "127.0.0.1:0");
    }

    #[test]
    fn stamped_sends_get_their_timestamp_and_others_none_v6() {
        check_on_request("[::1]:0", "[::1]:0");
    }

    #[test]
    fn resync_counts_on_from_the_kernels_id() {
        let mut ids = TxIds::new();
        ids.sent();
        ids.resync(5);
        assert_eq!(ids.sent(), 6);
    }
}
