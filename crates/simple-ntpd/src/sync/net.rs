//! One UDP socket per upstream source, with kernel receive and transmit
//! timestamps, read by a small task that forwards what the kernel reports
//! for that source (and only that source) to the engine loop: the server's
//! datagrams with their receive times, and the transmit times of our own
//! requests (`net::tx_timestamp`), always before any datagram that arrived
//! after them.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use ntp_proto::NtpTimestamp;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::clock::SystemClock;
use crate::net::tx_timestamp::{self, TxIds};
use crate::net::udp::{self, CmsgBuf};

/// Something the kernel reported for an upstream's socket.
#[derive(Debug)]
pub enum Report {
    /// A datagram from the upstream.
    Datagram {
        /// The datagram.
        data: Vec<u8>,
        /// Kernel receive time (system clock).
        rx_system: NtpTimestamp,
    },
    /// Our datagram number `id` (see [`UpstreamSocket::send`]) left at
    /// `tx_system` (kernel transmit timestamp, system clock).
    Transmitted {
        /// The datagram's id.
        id: u32,
        /// When it left.
        tx_system: NtpTimestamp,
    },
}

/// A report for one upstream.
#[derive(Debug)]
pub struct Incoming {
    /// The upstream's key.
    pub key: u64,
    /// What happened.
    pub report: Report,
}

/// The local address the kernel would send from to reach `server` (a UDP
/// connect: nothing is sent), which tells the interface the source is
/// reached through.
pub fn local_address_towards(server: SocketAddr) -> std::io::Result<std::net::IpAddr> {
    let any: SocketAddr =
        if server.is_ipv6() { "[::]:0".parse().expect("literal") } else { "0.0.0.0:0".parse().expect("literal") };
    let probe = std::net::UdpSocket::bind(any)?;
    probe.connect(server)?;
    Ok(probe.local_addr()?.ip())
}

/// A socket talking to one upstream; its reader task ends with it.
pub struct UpstreamSocket {
    fd: Arc<UdpSocket>,
    reader: JoinHandle<()>,
    /// Ids of our datagrams, when the kernel timestamps them.
    tx_ids: Option<TxIds>,
}

impl Drop for UpstreamSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn timestamp(k: udp::KernelTime) -> NtpTimestamp {
    NtpTimestamp::from_unix(k.secs, k.nanos)
}

impl UpstreamSocket {
    /// Opens a socket for `server`; what happens on it goes to `tx` tagged `key`.
    pub fn open(server: SocketAddr, key: u64, tx: mpsc::Sender<Incoming>) -> std::io::Result<UpstreamSocket> {
        let socket = Socket::new(Domain::for_address(server), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        udp::enable_rx_metadata(&socket, server.is_ipv6())?;
        let tx_ids = match tx_timestamp::enable(&socket) {
            Ok(()) => Some(TxIds::new()),
            Err(e) => {
                warn!(address = %server, error = %e, "no kernel transmit timestamps: requests are stamped just before they are sent");
                None
            }
        };
        let any: SocketAddr =
            if server.is_ipv6() { "[::]:0".parse().expect("literal") } else { "0.0.0.0:0".parse().expect("literal") };
        socket.bind(&any.into())?;
        let fd = Arc::new(UdpSocket::from_std(socket.into())?);
        let reader = tokio::spawn(read_reports(fd.clone(), server, key, tx));
        Ok(UpstreamSocket { fd, reader, tx_ids })
    }

    /// Sends a request; returns its id when the kernel will report its
    /// transmit time ([`Report::Transmitted`]).
    pub fn send(&mut self, data: &[u8], server: SocketAddr) -> std::io::Result<Option<u32>> {
        udp::send(self.fd.as_ref(), data, server, None)?;
        Ok(self.tx_ids.as_mut().map(TxIds::sent))
    }

    /// A transmit timestamp came for `id` when another was expected: count
    /// on from the kernel's numbering.
    pub fn resync_tx_ids(&mut self, id: u32) {
        if let Some(ids) = self.tx_ids.as_mut() {
            ids.resync(id);
        }
    }
}

/// The socket's reader: transmit timestamps first, then datagrams, so a
/// request's transmit time always reaches the loop before its reply.
async fn read_reports(fd: Arc<UdpSocket>, server: SocketAddr, key: u64, tx: mpsc::Sender<Incoming>) {
    let mut buf = vec![0u8; 2048];
    let mut cmsg = CmsgBuf::default();
    loop {
        if fd.ready(Interest::READABLE | Interest::ERROR).await.is_err() {
            return;
        }
        // try_io clears the readiness it was given when the kernel says WouldBlock.
        loop {
            match fd.try_io(Interest::ERROR, || tx_timestamp::read(fd.as_ref())) {
                Ok(Some(ts)) => {
                    let report = Report::Transmitted { id: ts.id, tx_system: timestamp(ts.time) };
                    if tx.send(Incoming { key, report }).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
        match fd.try_io(Interest::READABLE, || udp::recv(fd.as_ref(), &mut buf, &mut cmsg)) {
            Ok(meta) if meta.source == server && !meta.truncated => {
                let rx_system = meta.kernel_time.map(timestamp).unwrap_or_else(|| SystemClock.now());
                let report = Report::Datagram { data: buf[..meta.len].to_vec(), rx_system };
                if tx.send(Incoming { key, report }).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {}
        }
    }
}
