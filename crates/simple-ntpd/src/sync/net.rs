//! One UDP socket per upstream source, with kernel receive timestamps, read
//! by a small task that forwards datagrams from that source (and only that
//! source) to the engine loop.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use ntp_proto::NtpTimestamp;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::clock::SystemClock;
use crate::net::udp::{self, CmsgBuf};

/// A datagram from an upstream.
#[derive(Debug)]
pub struct Incoming {
    /// The upstream's key.
    pub key: u64,
    /// The datagram.
    pub data: Vec<u8>,
    /// Kernel receive time (system clock).
    pub rx_system: NtpTimestamp,
}

/// A socket talking to one upstream; its reader task ends with it.
pub struct UpstreamSocket {
    fd: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for UpstreamSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl UpstreamSocket {
    /// Opens a socket for `server`; datagrams from it go to `tx` tagged `key`.
    pub fn open(server: SocketAddr, key: u64, tx: mpsc::Sender<Incoming>) -> std::io::Result<UpstreamSocket> {
        let socket = Socket::new(Domain::for_address(server), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        udp::enable_rx_metadata(&socket, server.is_ipv6())?;
        let any: SocketAddr =
            if server.is_ipv6() { "[::]:0".parse().expect("literal") } else { "0.0.0.0:0".parse().expect("literal") };
        socket.bind(&any.into())?;
        let fd = Arc::new(UdpSocket::from_std(socket.into())?);
        let reader_fd = fd.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut cmsg = CmsgBuf::default();
            loop {
                if reader_fd.readable().await.is_err() {
                    return;
                }
                // try_io clears readiness when the kernel says WouldBlock.
                match reader_fd.try_io(Interest::READABLE, || udp::recv(reader_fd.as_ref(), &mut buf, &mut cmsg)) {
                    Ok(meta) if meta.source == server && !meta.truncated => {
                        let rx_system = meta
                            .kernel_time
                            .map(|k| NtpTimestamp::from_unix(k.secs, k.nanos))
                            .unwrap_or_else(|| SystemClock.now());
                        if tx.send(Incoming { key, data: buf[..meta.len].to_vec(), rx_system }).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
            }
        });
        Ok(UpstreamSocket { fd, reader })
    }

    /// Sends a request.
    pub fn send(&self, data: &[u8], server: SocketAddr) -> std::io::Result<usize> {
        udp::send(self.fd.as_ref(), data, server, None)
    }
}
