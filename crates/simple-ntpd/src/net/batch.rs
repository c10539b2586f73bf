//! Batched datagram IO: `recvmmsg` (many requests per system call) and
//! `sendmmsg` (many replies per system call, in chunks; one reply of a chunk
//! can ask the kernel for its transmit timestamp).
//!
//! All arrays (buffers, addresses, iovecs, control messages, mmsghdrs) are
//! allocated once per worker and reused, so the packet path does not
//! allocate. The pointers inside the mmsghdrs point into these heap arrays,
//! which never move after construction (the Vecs are never resized).

#![allow(unsafe_code)] // An OS-interface module: every unsafe block carries a SAFETY comment.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::Socket;

use crate::zero_pages::{ZeroPages, ZeroSlice};

use super::tx_timestamp;
use super::udp::{parse_cmsgs, sockaddr_to_std, std_to_sockaddr, write_pktinfo, CmsgBuf, RecvMeta, CMSG_BUF_LEN};

/// The arrays behind one `recvmmsg`/`sendmmsg` call: `slots` buffers of
/// `buf_len` bytes, their addresses, iovecs, control buffers and headers,
/// already pointing at each other.
struct Slots {
    buf_len: usize,
    /// On pages of their own, like the addresses and control buffers: at
    /// idle only the first slots are written, and only their pages become
    /// resident (see `zero_pages`).
    bufs: ZeroPages,
    addrs: ZeroSlice<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    cmsgs: ZeroSlice<CmsgBuf>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` point only into this
// struct's own heap arrays; moving the struct to another thread moves their
// sole owner with it.
unsafe impl Send for Slots {}

impl Slots {
    fn new(slots: usize, buf_len: usize, with_control: bool) -> Slots {
        let slots = slots.max(1);
        let mut b = Slots {
            buf_len,
            bufs: ZeroPages::new(slots * buf_len),
            // SAFETY: all-zero is a valid sockaddr_storage (family
            // AF_UNSPEC), and a valid CmsgBuf (bytes).
            addrs: unsafe { ZeroSlice::new(slots) },
            iovs: Vec::with_capacity(slots),
            // SAFETY: as above.
            cmsgs: unsafe { ZeroSlice::new(slots) },
            // SAFETY: as above, for mmsghdr (null pointers, zero lengths).
            hdrs: vec![unsafe { zeroed() }; slots],
        };
        for i in 0..slots {
            b.iovs.push(libc::iovec { iov_base: b.bufs[i * buf_len..].as_mut_ptr().cast(), iov_len: buf_len });
        }
        for i in 0..slots {
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
            if with_control {
                h.msg_control = b.cmsgs[i].0.as_mut_ptr().cast();
            }
        }
        b
    }
}

impl Slots {
    /// Backs every page of the arrays now (see `ZeroPages::populate`).
    fn populate(&mut self) {
        self.bufs.populate();
        self.addrs.populate();
        self.cmsgs.populate();
    }
}

/// A reusable set of receive slots for one `recvmmsg` call.
pub struct RecvBatch {
    s: Slots,
}

impl RecvBatch {
    /// `slots` datagrams of up to `buf_len` bytes each.
    pub fn new(slots: usize, buf_len: usize) -> Self {
        RecvBatch { s: Slots::new(slots, buf_len, true) }
    }

    /// Backs all its memory now: for a worker whose batches start filling
    /// up, so that its memory is taken at once, not over minutes.
    pub fn populate(&mut self) {
        self.s.populate();
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.s.hdrs.len()
    }

    /// Waits for at least one datagram (up to the socket's read timeout),
    /// then takes whatever else is already queued, up to the capacity.
    /// Returns how many slots were filled.
    pub fn recv(&mut self, socket: &Socket) -> io::Result<usize> {
        for h in &mut self.s.hdrs {
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = CMSG_BUF_LEN as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every mmsghdr points at live, writable buffers of the stated
        // lengths owned by `self` (see `new`); `vlen` is their count.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.s.hdrs.as_mut_ptr(),
                self.s.hdrs.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The `i`-th received datagram (its bytes, truncated to the buffer) and
    /// metadata, or `None` when the sender address is not IP.
    pub fn get(&self, i: usize) -> Option<(&[u8], RecvMeta)> {
        let h = &self.s.hdrs[i];
        let source = sockaddr_to_std(&self.s.addrs[i])?;
        let len = h.msg_len as usize;
        let mut meta = RecvMeta {
            len,
            truncated: len > self.s.buf_len || h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            source,
            local: None,
            kernel_time: None,
        };
        parse_cmsgs(&h.msg_hdr, &mut meta);
        let start = i * self.s.buf_len;
        Some((&self.s.bufs[start..start + len.min(self.s.buf_len)], meta))
    }
}

/// A reusable set of reply slots for `sendmmsg` calls.
pub struct SendBatch {
    s: Slots,
    len: usize,
    /// Per slot: the length of its pktinfo control message (0: none), after
    /// which a transmit-timestamp request may follow.
    pktinfo_len: Vec<usize>,
}

impl SendBatch {
    /// `slots` replies of up to `buf_len` bytes each.
    pub fn new(slots: usize, buf_len: usize) -> Self {
        let s = Slots::new(slots, buf_len, false);
        let pktinfo_len = vec![0; s.hdrs.len()];
        SendBatch { s, len: 0, pktinfo_len }
    }

    /// Backs all its memory now (see [`RecvBatch::populate`]).
    pub fn populate(&mut self) {
        self.s.populate();
    }

    /// Queued replies.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no further reply fits.
    pub fn is_full(&self) -> bool {
        self.len == self.s.hdrs.len()
    }

    /// The next free reply buffer, to write a reply into before `commit`.
    pub fn next_buf(&mut self) -> &mut [u8] {
        let start = self.len * self.s.buf_len;
        &mut self.s.bufs[start..start + self.s.buf_len]
    }

    /// Queues the reply written into `next_buf()` (first `len` bytes) to `dest`
    /// from `local`.
    pub fn commit(&mut self, len: usize, dest: SocketAddr, local: Option<(IpAddr, u32)>) {
        let i = self.len;
        let (addr, addr_len) = std_to_sockaddr(dest);
        self.s.addrs[i] = addr;
        self.s.iovs[i].iov_len = len.min(self.s.buf_len);
        self.s.hdrs[i].msg_hdr.msg_namelen = addr_len;
        self.pktinfo_len[i] = local.map_or(0, |(ip, ifindex)| write_pktinfo(&mut self.s.cmsgs[i], ip, ifindex));
        self.len += 1;
    }

    /// Points slot `i`'s header at its control messages: its pktinfo, and
    /// with `stamp` a request for the reply's kernel transmit timestamp.
    fn set_control(&mut self, i: usize, stamp: bool) {
        let mut len = self.pktinfo_len[i];
        if stamp {
            len += tx_timestamp::write_tx_request(&mut self.s.cmsgs[i], len);
        }
        let h = &mut self.s.hdrs[i].msg_hdr;
        h.msg_control = if len == 0 { std::ptr::null_mut() } else { self.s.cmsgs[i].0.as_mut_ptr().cast() };
        h.msg_controllen = len as _;
    }

    /// The queued replies' buffers in `range` (queue positions), to stamp
    /// them just before [`SendBatch::send_chunk`] sends them.
    pub fn bufs_in(&mut self, range: std::ops::Range<usize>) -> impl Iterator<Item = &mut [u8]> {
        let buf_len = self.s.buf_len;
        self.s.bufs[range.start * buf_len..range.end * buf_len].chunks_mut(buf_len)
    }

    /// Sends the queued replies in `range` with as few `sendmmsg` calls as
    /// the kernel allows (one, normally); the one at queue position `stamp`
    /// asks for its kernel transmit timestamp (the socket needs
    /// `tx_timestamp::enable_on_request`). Tells `outcome` for each queue
    /// position whether it was sent; returns how many were. Call
    /// [`SendBatch::clear`] when the whole queue has been sent.
    pub fn send_chunk(
        &mut self,
        socket: &Socket,
        range: std::ops::Range<usize>,
        stamp: Option<usize>,
        mut outcome: impl FnMut(usize, bool),
    ) -> usize {
        let end = range.end.min(self.len);
        if end == range.start + 1 && stamp.is_none() && self.pktinfo_len[range.start] == 0 {
            // One reply without control messages: sendto spares the kernel
            // a msghdr and an iovec, as `udp::send` does.
            let i = range.start;
            let ok = self.send_plain(socket, i).is_ok();
            outcome(i, ok);
            return usize::from(ok);
        }
        for i in range.start..end {
            self.set_control(i, stamp == Some(i));
        }
        let (mut done, mut sent) = (range.start, 0);
        while done < end {
            // SAFETY: hdrs[done..end] point at live buffers owned by `self`
            // with the lengths set in `commit` and `set_control`.
            let n = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), self.s.hdrs[done..].as_mut_ptr(), (end - done) as libc::c_uint, 0)
            };
            if n > 0 {
                (done..done + n as usize).for_each(|i| outcome(i, true));
                sent += n as usize;
                done += n as usize;
            } else {
                // The reply at `done` failed: skip it and send the rest.
                outcome(done, false);
                done += 1;
            }
        }
        sent
    }

    /// Sends the queued reply at `i` alone with `sendto`.
    fn send_plain(&self, socket: &Socket, i: usize) -> io::Result<usize> {
        let data = &self.s.bufs[i * self.s.buf_len..][..self.s.iovs[i].iov_len];
        // SAFETY: `data` and the slot's address are live for the call and
        // only read; the address length is the one `commit` stored.
        let n = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&self.s.addrs[i] as *const libc::sockaddr_storage).cast(),
                self.s.hdrs[i].msg_hdr.msg_namelen,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::udp;
    use socket2::{Domain, Protocol, Type};
    use std::time::Duration;

    fn bound(addr: &str) -> Socket {
        let addr: SocketAddr = addr.parse().unwrap();
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).unwrap();
        udp::enable_rx_metadata(&s, addr.is_ipv6()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.bind(&addr.into()).unwrap();
        s
    }

    #[test]
    fn recvmmsg_takes_several_queued_datagrams_with_metadata() {
        let server = bound("0.0.0.0:0");
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let client = bound("127.0.0.1:0");
        for i in 0..5u8 {
            udp::send(&client, &[i; 10], target, None).unwrap();
        }
        udp::send(&client, &[9; 100], target, None).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::new(8, 64);
        let n = batch.recv(&server).unwrap();
        assert_eq!(n, 6);
        for i in 0..5 {
            let (data, meta) = batch.get(i).unwrap();
            assert_eq!(data, &[i as u8; 10]);
            assert!(meta.kernel_time.is_some());
            assert_eq!(meta.local.unwrap().0, target.ip());
            assert!(!meta.truncated);
        }
        let (_, meta) = batch.get(5).unwrap();
        assert!(meta.truncated, "100 bytes into 64");
    }

    #[test]
    fn sendmmsg_delivers_every_queued_reply_from_the_chosen_address() {
        let server = bound("0.0.0.0:0");
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let client = bound("127.0.0.1:0");
        let client_addr = client.local_addr().unwrap().as_socket().unwrap();
        let mut out = SendBatch::new(4, 64);
        for i in 0..3u8 {
            out.next_buf()[..4].copy_from_slice(&[i; 4]);
            out.commit(4, client_addr, Some(("127.0.0.1".parse().unwrap(), 0)));
        }
        for b in out.bufs_in(0..3) {
            b[0] += 10;
        }
        let mut seen = Vec::new();
        assert_eq!(out.send_chunk(&server, 0..3, None, |i, sent| seen.push((i, sent))), 3);
        out.clear();
        assert_eq!(seen, [(0, true), (1, true), (2, true)]);
        assert!(out.is_empty());
        let mut buf = [0u8; 64];
        let mut cm = CmsgBuf::default();
        for i in 0..3u8 {
            let meta = udp::recv(&client, &mut buf, &mut cm).unwrap();
            assert_eq!(&buf[..meta.len], &[i + 10, i, i, i]);
            assert_eq!(meta.source, SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }

    #[test]
    fn a_chunk_asks_the_kernel_for_the_transmit_timestamp_of_exactly_the_chosen_reply() {
        let server = bound("127.0.0.1:0");
        tx_timestamp::enable_on_request(&server).unwrap();
        let client = bound("127.0.0.1:0");
        let client_addr = client.local_addr().unwrap().as_socket().unwrap();
        let mut out = SendBatch::new(8, 64);
        for i in 0..5u8 {
            out.next_buf()[..4].copy_from_slice(&[i; 4]);
            out.commit(4, client_addr, None);
        }
        let no_stamp = out.send_chunk(&server, 0..1, None, |_, sent| assert!(sent));
        let before = crate::clock::SystemClock.now();
        let stamped = out.send_chunk(&server, 1..4, Some(2), |_, sent| assert!(sent));
        let after = crate::clock::SystemClock.now();
        let last = out.send_chunk(&server, 4..5, None, |_, sent| assert!(sent));
        out.clear();
        assert_eq!((no_stamp, stamped, last), (1, 3, 1));
        std::thread::sleep(Duration::from_millis(20));
        let t = tx_timestamp::read_after(&server, before).expect("the stamped reply's timestamp");
        assert!(after.since(t).to_bits() >= 0, "taken during the chunk's send");
        assert_eq!(
            tx_timestamp::read(&server).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "one timestamp for one stamped reply"
        );
        let mut buf = [0u8; 64];
        let mut cm = CmsgBuf::default();
        for i in 0..5u8 {
            let meta = udp::recv(&client, &mut buf, &mut cm).unwrap();
            assert_eq!(&buf[..meta.len], &[i; 4], "in queue order, each once");
        }
    }
}
