//! The broadcast client's IO (`[[sources.broadcast]]`): getting the
//! broadcasts of each listened-on interface to the sync loop, which turns
//! the first server heard into an association
//! (`Association::broadcast_client`) and feeds it.
//!
//! Two ways in, both ending in one channel of [`BroadcastIn`]:
//! - when this daemon serves on the wildcard address of the broadcast port,
//!   its serving workers receive the broadcasts (the kernel hands them to
//!   the sockets bound there) and forward the mode-5 datagrams of a
//!   listened-on interface instead of counting them as drops;
//! - otherwise a socket of its own, bound to the interface's IPv4 broadcast
//!   address or to `ff02::101` on it.
//!
//! For IPv6 a socket joins `ff02::101` on the interface either way (the
//! group must be joined for the interface to accept it). Interfaces that do
//! not exist yet are tried again every [`RETRY`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_proto::NtpTimestamp;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::clock::SystemClock;
use crate::interfaces::{BroadcastIn, InterfaceTable};
use crate::net::udp::{self, CmsgBuf};
use crate::server::broadcast::NTP_MULTICAST_V6;

/// How often listening on a missing interface is tried again.
pub const RETRY: Duration = Duration::from_secs(10);

/// One `[[sources.broadcast]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastSpec {
    /// The interface listened on.
    pub interface: String,
    /// Follow only this server.
    pub server: Option<IpAddr>,
    /// The broadcast port (and the server's, for the calibration).
    pub port: u16,
    /// The MAC key id broadcasts must carry.
    pub key: Option<u32>,
    /// Preferred in selection.
    pub prefer: bool,
}

impl BroadcastSpec {
    /// Every `[[sources.broadcast]]` of `config`.
    pub fn from_config(config: &ntp_config::Config) -> Vec<BroadcastSpec> {
        config
            .sources
            .broadcast
            .iter()
            .map(|b| BroadcastSpec {
                interface: b.interface.clone(),
                server: b.server,
                port: b.port,
                key: b.key,
                prefer: b.prefer,
            })
            .collect()
    }

    /// The name the source is shown with.
    pub fn name(&self) -> String {
        format!("broadcast@{}", self.interface)
    }
}

/// The sockets listening for one spec.
struct Listening {
    /// The interface index they were opened for.
    ifindex: u32,
    /// Reader tasks (own sockets) and IPv6 membership holders.
    readers: Vec<JoinHandle<()>>,
    _members: Vec<Socket>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

/// The listening side of every broadcast source.
pub struct BroadcastListeners {
    specs: Vec<BroadcastSpec>,
    open: Vec<Option<Listening>>,
    next_try: Instant,
    tx: mpsc::Sender<BroadcastIn>,
}

impl BroadcastListeners {
    /// Listeners for `specs`, sending what they hear to `tx`.
    pub fn new(specs: Vec<BroadcastSpec>, tx: mpsc::Sender<BroadcastIn>) -> Self {
        let open = specs.iter().map(|_| None).collect();
        BroadcastListeners { specs, open, next_try: Instant::now(), tx }
    }

    /// Opens what is missing (interfaces that appeared, or changed index);
    /// `served` are the serving sockets' addresses.
    pub fn open_due(&mut self, table: &InterfaceTable, served: &[SocketAddr]) {
        if self.specs.is_empty() || Instant::now() < self.next_try {
            return;
        }
        self.next_try = Instant::now() + RETRY;
        for (spec, open) in self.specs.iter().zip(self.open.iter_mut()) {
            let Some(entry) = table.by_name(&spec.interface) else {
                if open.take().is_some() {
                    warn!(interface = %spec.interface, "the broadcast client's interface is gone");
                } else {
                    debug!(interface = %spec.interface, "the broadcast client's interface does not exist (yet)");
                }
                continue;
            };
            if open.as_ref().is_some_and(|l| l.ifindex == entry.host.index) {
                continue;
            }
            let index = entry.host.index;
            let workers_v4 = served.iter().any(|a| a.is_ipv4() && a.ip().is_unspecified() && a.port() == spec.port);
            let workers_v6 = served.iter().any(|a| a.is_ipv6() && a.ip().is_unspecified() && a.port() == spec.port);
            let mut l = Listening { ifindex: index, readers: Vec::new(), _members: Vec::new() };
            let mut how = Vec::new();
            if !workers_v4 {
                for b in &entry.host.broadcast {
                    match bind_v4(*b, spec.port) {
                        Ok(s) => {
                            l.readers.push(read(s, index, self.tx.clone()));
                            how.push(format!("{b}:{}", spec.port));
                        }
                        Err(e) => {
                            warn!(interface = %spec.interface, address = %b, error = %e, "cannot listen for IPv4 broadcasts")
                        }
                    }
                }
            } else {
                how.push(format!("IPv4 through the serving socket on port {}", spec.port));
            }
            match join_v6(index, spec.port, !workers_v6) {
                Ok(s) if workers_v6 => {
                    l._members.push(s);
                    how.push(format!("{NTP_MULTICAST_V6}%{} through the serving socket", spec.interface));
                }
                Ok(s) => {
                    l.readers.push(read(s.into(), index, self.tx.clone()));
                    how.push(format!("[{NTP_MULTICAST_V6}%{}]:{}", spec.interface, spec.port));
                }
                Err(e) => {
                    debug!(interface = %spec.interface, error = %e, "no IPv6 broadcasts (multicast group not joined)")
                }
            }
            info!(interface = %spec.interface, index, listening = ?how, "listening for NTP broadcasts");
            *open = Some(l);
        }
    }
}

fn bind_v4(broadcast: Ipv4Addr, port: u16) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    udp::enable_rx_metadata(&s, false)?;
    s.bind(&SocketAddr::new(IpAddr::V4(broadcast), port).into())?;
    Ok(s.into())
}

/// A socket joined to `ff02::101` on interface `index`; bound to the group
/// and `port` when it is to receive itself (`bind`).
fn join_v6(index: u32, port: u16, bind: bool) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    udp::enable_rx_metadata(&s, true)?;
    if bind {
        s.bind(&SocketAddr::V6(SocketAddrV6::new(NTP_MULTICAST_V6, port, 0, index)).into())?;
    }
    s.join_multicast_v6(&NTP_MULTICAST_V6, index)?;
    Ok(s)
}

/// Reads broadcasts from `socket` (on interface `index`) into `tx`.
fn read(socket: std::net::UdpSocket, index: u32, tx: mpsc::Sender<BroadcastIn>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if socket.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(fd) = UdpSocket::from_std(socket) else { return };
        let fd = Arc::new(fd);
        let mut buf = vec![0u8; 1024];
        let mut cmsg = CmsgBuf::default();
        loop {
            if fd.readable().await.is_err() {
                return;
            }
            match fd.try_io(Interest::READABLE, || udp::recv(fd.as_ref(), &mut buf, &mut cmsg)) {
                Ok(meta) if !meta.truncated => {
                    let rx_system: NtpTimestamp = meta
                        .kernel_time
                        .map(|k| NtpTimestamp::from_unix(k.secs, k.nanos))
                        .unwrap_or_else(|| SystemClock.now());
                    let ifindex = meta.local.map_or(index, |(_, i)| i);
                    let b = BroadcastIn { ifindex, from: meta.source, data: buf[..meta.len].to_vec(), rx_system };
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(_) => {}
            }
        }
    })
}
