//! Batched datagram IO: `recvmmsg` (many requests per system call) and the
//! opt-in `sendmmsg` (many replies per system call).
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

use super::udp::{parse_cmsgs, sockaddr_to_std, std_to_sockaddr, write_pktinfo, CmsgBuf, RecvMeta, CMSG_BUF_LEN};

/// The arrays behind one `recvmmsg`/`sendmmsg` call: `slots` buffers of
/// `buf_len` bytes, their addresses, iovecs, control buffers and headers,
/// already pointing at each other.
struct Slots {
    buf_len: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    cmsgs: Vec<CmsgBuf>,
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
            bufs: vec![0u8; slots * buf_len],
            // SAFETY: all-zero is a valid sockaddr_storage / mmsghdr.
            addrs: vec![unsafe { zeroed() }; slots],
            iovs: Vec::with_capacity(slots),
            cmsgs: (0..slots).map(|_| CmsgBuf::default()).collect(),
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

/// A reusable set of receive slots for one `recvmmsg` call.
pub struct RecvBatch {
    s: Slots,
}

impl RecvBatch {
    /// `slots` datagrams of up to `buf_len` bytes each.
    pub fn new(slots: usize, buf_len: usize) -> Self {
        RecvBatch { s: Slots::new(slots, buf_len, true) }
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

/// A reusable set of reply slots for one `sendmmsg` call.
pub struct SendBatch {
    s: Slots,
    len: usize,
}

impl SendBatch {
    /// `slots` replies of up to `buf_len` bytes each.
    pub fn new(slots: usize, buf_len: usize) -> Self {
        SendBatch { s: Slots::new(slots, buf_len, false), len: 0 }
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
        let h = &mut self.s.hdrs[i].msg_hdr;
        h.msg_namelen = addr_len;
        match local {
            Some((ip, ifindex)) => {
                let n = write_pktinfo(&mut self.s.cmsgs[i], ip, ifindex);
                h.msg_control = self.s.cmsgs[i].0.as_mut_ptr().cast();
                h.msg_controllen = n as _;
            }
            None => {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
        }
        self.len += 1;
    }

    /// Buffers of the queued replies, to stamp them just before `flush`.
    pub fn queued_bufs(&mut self) -> impl Iterator<Item = &mut [u8]> {
        self.s.bufs.chunks_mut(self.s.buf_len).take(self.len)
    }

    /// Sends every queued reply, telling `outcome` for each (by queue
    /// position) whether it was sent; returns (sent, failed). The queue is
    /// empty afterwards whatever happened.
    pub fn flush(&mut self, socket: &Socket, mut outcome: impl FnMut(usize, bool)) -> (usize, usize) {
        let total = self.len;
        let (mut done, mut sent, mut failed) = (0, 0, 0);
        while done < total {
            // SAFETY: hdrs[done..total] point at live buffers owned by `self`
            // with the lengths set in `commit`.
            let n = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), self.s.hdrs[done..].as_mut_ptr(), (total - done) as libc::c_uint, 0)
            };
            if n > 0 {
                (done..done + n as usize).for_each(|i| outcome(i, true));
                sent += n as usize;
                done += n as usize;
            } else {
                // The reply at `done` failed: skip it and send the rest.
                outcome(done, false);
                failed += 1;
                done += 1;
            }
        }
        self.len = 0;
        (sent, failed)
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
        for b in out.queued_bufs() {
            b[0] += 10;
        }
        let mut seen = Vec::new();
        assert_eq!(out.flush(&server, |i, sent| seen.push((i, sent))), (3, 0));
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
}
