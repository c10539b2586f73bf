//! The Linux calls the generator needs that std does not offer: batched
//! `sendmmsg`/`recvmmsg` with kernel receive timestamps (SO_TIMESTAMPNS),
//! socket buffer sizes, epoll and CPU pinning; and for the accuracy tools
//! (`crate::accuracy`) one datagram at a time with its kernel receive
//! timestamp and sender, kernel transmit timestamps (SO_TIMESTAMPING, read
//! from the error queue) and a nanosecond `ppoll`.
//!
//! This is the only module with `unsafe`. Every block passes pointers to
//! buffers that are owned here or borrowed for the duration of the call, with
//! lengths taken from those same buffers, and checks the return value before
//! reading what the kernel wrote. Nothing allocates per call.

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{null_mut, read_unaligned};

/// Most datagrams sent or received by one system call.
pub const BATCH: usize = 64;
/// Receive buffer per datagram: a header plus room for extension fields (an NTS
/// reply with 8 cookies is about 1 KB); longer replies are truncated.
const RECV_LEN: usize = 2048;
/// Control-message space per datagram (one timespec needs 32 bytes).
const CMSG_LEN: usize = 64;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets an integer socket option.
pub fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its exact size is passed.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    cvt(ret).map(|_| ())
}

/// Asks for kernel receive timestamps (CLOCK_REALTIME, ns) on every datagram.
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

/// Sets send and receive buffers to `bytes`, past `rmem_max`/`wmem_max` when
/// privileged (the *FORCE options), else as far as the limits allow.
pub fn set_buffers(fd: RawFd, bytes: libc::c_int) {
    for (force, plain) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
        if set_int_opt(fd, libc::SOL_SOCKET, force, bytes).is_err() {
            // Best effort: the kernel default still works, only with less slack.
            let _ = set_int_opt(fd, libc::SOL_SOCKET, plain, bytes);
        }
    }
}

/// Sends `packets` on a connected socket with one `sendmmsg`; returns how many
/// were accepted (fewer when the socket buffer is full; `WouldBlock` if none).
pub fn send_batch<P: AsMut<[u8]>>(fd: RawFd, packets: &mut [P]) -> io::Result<usize> {
    let n = packets.len().min(BATCH);
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is valid.
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for i in 0..n {
        let p = packets[i].as_mut();
        iov[i] = libc::iovec { iov_base: p.as_mut_ptr().cast(), iov_len: p.len() };
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `hdrs[..n]` point at `iov[..n]`, which point at `packets[..n]`;
    // all outlive the call. A connected socket needs no destination address.
    let sent = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    cvt(sent).map(|s| s as usize)
}

/// Aligned control-message storage for one datagram.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Cmsg([u8; CMSG_LEN]);

/// One received datagram's length and kernel receive time.
#[derive(Clone, Copy, Default)]
struct Meta {
    len: usize,
    rx_ns: Option<i64>,
}

/// Reusable buffers for `recvmmsg`.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_LEN]; BATCH]>,
    cmsgs: Box<[Cmsg; BATCH]>,
    meta: [Meta; BATCH],
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0; RECV_LEN]; BATCH]),
            cmsgs: Box::new([Cmsg([0; CMSG_LEN]); BATCH]),
            meta: [Meta::default(); BATCH],
        }
    }
}

impl RecvBatch {
    /// Receives up to [`BATCH`] datagrams without blocking; returns how many
    /// (`WouldBlock` when none are queued).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: plain C structs for which all-zero is valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iov[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr().cast(), iov_len: RECV_LEN };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].0.as_mut_ptr().cast();
            h.msg_controllen = CMSG_LEN as _;
        }
        // SAFETY: every header points at this batch's own buffers and control
        // space with their true lengths; all outlive the call. No timeout.
        let got =
            unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), BATCH as libc::c_uint, libc::MSG_DONTWAIT, null_mut()) };
        let n = cvt(got)? as usize;
        for (meta, hdr) in self.meta.iter_mut().zip(&hdrs).take(n) {
            *meta = Meta { len: (hdr.msg_len as usize).min(RECV_LEN), rx_ns: rx_time(&hdr.msg_hdr) };
        }
        Ok(n.min(BATCH))
    }

    /// Datagram `i` of the last [`Self::recv`] and its kernel receive time (Unix ns).
    pub fn get(&self, i: usize) -> (&[u8], Option<i64>) {
        let m = self.meta[i];
        (&self.bufs[i][..m.len], m.rx_ns)
    }
}

/// The SO_TIMESTAMPNS control message of a received message, as Unix ns.
fn rx_time(hdr: &libc::msghdr) -> Option<i64> {
    // SAFETY: `hdr` was just filled by recvmmsg: msg_control points at this
    // batch's buffer and msg_controllen is what the kernel wrote into it, so the
    // CMSG_* walk stays inside it; the timespec is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                && (*c).cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
            {
                let ts: libc::timespec = read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64);
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

/// A level-triggered epoll set reporting readable descriptors by token.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// A new epoll set returning at most `max_events` per wait.
    pub fn new(max_events: usize) -> io::Result<Epoll> {
        // SAFETY: no pointers; the returned descriptor is checked, then owned.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd, events: vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)] })
    }

    /// Watches `fd` for readability, reporting it as `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: `ev` lives for the call; the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(|_| ())
    }

    /// Waits up to `timeout_ms` (0 = poll) and calls `f` with each ready token.
    pub fn wait(&mut self, timeout_ms: i32, mut f: impl FnMut(u64)) -> io::Result<()> {
        // SAFETY: the events buffer is owned here and its true length is passed.
        let n = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), self.events.len() as i32, timeout_ms)
        };
        let n = match cvt(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        for ev in &self.events[..n] {
            let token = ev.u64;
            f(token);
        }
        Ok(())
    }
}

/// Pins the calling thread (the whole generator is one thread) to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu} out of range")));
    }
    // SAFETY: cpu_set_t is a plain bit set; all-zero is the empty set, and
    // `cpu` was checked against its size above.
    unsafe {
        let mut set: libc::cpu_set_t = zeroed();
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)).map(|_| ())
    }
}

/// Asks for software kernel transmit timestamps on every datagram sent,
/// delivered on the socket's error queue without the packet
/// (`SOF_TIMESTAMPING_OPT_TSONLY`, so no privilege is needed).
pub fn enable_tx_timestamps(fd: RawFd) -> io::Result<()> {
    let flags =
        libc::SOF_TIMESTAMPING_TX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as libc::c_int)
}

/// Reads one transmit timestamp (Unix ns) from the error queue without
/// blocking; `Ok(None)` when the queue is empty or held something else.
pub fn tx_timestamp(fd: RawFd) -> io::Result<Option<i64>> {
    let mut data = [0u8; 64];
    let mut cmsg = Cmsg([0; CMSG_LEN]);
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: all-zero is a valid msghdr.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = CMSG_LEN as _;
    // SAFETY: `hdr` points at `data` (via `iov`) and `cmsg`, both live and
    // writable for their stated lengths for the whole call.
    let n = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
    }
    // SAFETY: the kernel just filled `hdr`'s control buffer (within
    // msg_controllen); the walk stays inside it and reads unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            // struct scm_timestamping: three timespecs, the first is software.
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_TIMESTAMPING
                && (*c).cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
            {
                let ts: libc::timespec = read_unaligned(libc::CMSG_DATA(c).cast());
                if ts.tv_sec != 0 || ts.tv_nsec != 0 {
                    return Ok(Some(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64));
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    Ok(None)
}

/// One received datagram: its length, sender and kernel receive time.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Bytes in the buffer (the datagram is cut at the buffer's length).
    pub len: usize,
    /// Sender.
    pub from: SocketAddr,
    /// Kernel receive time (SO_TIMESTAMPNS), Unix ns.
    pub rx_ns: Option<i64>,
}

/// Receives one datagram without blocking (`WouldBlock` when none is queued).
pub fn recv_from(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut cmsg = Cmsg([0; CMSG_LEN]);
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    hdr.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.0.as_mut_ptr().cast();
    hdr.msg_controllen = CMSG_LEN as _;
    // SAFETY: every pointer in `hdr` points at a live buffer of the stated
    // length (`addr`, `buf` via `iov`, `cmsg`) that outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_DONTWAIT) };
    let n = cvt(n as libc::c_int)? as usize;
    let from = sockaddr_to_std(&addr).ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    Ok(Received { len: n.min(buf.len()), from, rx_ns: rx_time(&hdr) })
}

/// Sends one datagram to `to`.
pub fn send_to(fd: RawFd, data: &[u8], to: SocketAddr) -> io::Result<usize> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match to {
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
    // SAFETY: `data` and `storage` are live for the call and only read; `len`
    // is the size of the address written into `storage`.
    let n = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            0,
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn sockaddr_to_std(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { read_unaligned((addr as *const libc::sockaddr_storage).cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { read_unaligned((addr as *const libc::sockaddr_storage).cast()) };
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

/// Waits until `fd` is readable (true) or `timeout_ns` passed (false).
pub fn wait_readable(fd: RawFd, timeout_ns: i64) -> io::Result<bool> {
    let t = timeout_ns.max(0);
    let ts = libc::timespec { tv_sec: t / 1_000_000_000, tv_nsec: t % 1_000_000_000 };
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd and a live timespec for the call; no signal mask.
    let n = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
    match cvt(n) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}
