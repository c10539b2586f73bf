//! The broadcast server: one worker per address family sends NTP broadcast
//! packets (mode 5, `ntp_proto::server::broadcast`) on every interface whose
//! VLAN has `broadcast = true` — to the interface's IPv4 broadcast
//! addresses, or to `ff02::101` scoped to the interface — every
//! `broadcast_interval`, from its own serving socket (so they leave from
//! the NTP port, where broadcast clients send their calibration requests).
//!
//! The worker calls [`Broadcaster::send_due`] once per receive batch (or
//! read timeout, at most 200 ms apart): one monotonic clock read when
//! nothing is due. The schedule is rebuilt only when a new interface table
//! is published. The transmit timestamp is read immediately before each
//! send and the MAC, with a key, computed after it. Broadcasts are not
//! looped back to this host's own sockets.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use ntp_proto::server::broadcast::{poll_exponent, write_broadcast};
use socket2::Socket;
use tracing::{debug, info, warn};

use super::stats::WorkerStats;
use crate::clock::SystemClock;
use crate::interfaces::table::BroadcastPolicy;
use crate::interfaces::{InterfaceEntry, InterfaceTable};
use crate::net::udp;
use crate::served::Snapshot;

/// The IPv6 multicast group of NTP (RFC 5905: ff0X::101), link-local scope.
pub const NTP_MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x101);

/// True for one of this host's own broadcasts, which the kernel loops
/// back to every socket on the NTP port (IPv4 broadcasts are always looped
/// back): sent to a broadcast address (or `ff02::101`) of a broadcasting
/// interface from one of that interface's addresses. Such datagrams are
/// not requests and are not counted. Cheap when nothing broadcasts.
#[inline]
pub fn is_own_broadcast(table: &InterfaceTable, source: IpAddr, local: Option<(IpAddr, u32)>) -> bool {
    if !table.broadcasts() {
        return false;
    }
    let Some((destination, ifindex)) = local else { return false };
    let to_group = match destination {
        IpAddr::V4(_) => table.lookup(ifindex).is_some_and(|e| e.is_own_broadcast(destination)),
        IpAddr::V6(v6) => v6 == NTP_MULTICAST_V6,
    };
    to_group && table.lookup(ifindex).is_some_and(|e| e.host.addresses.contains(&source))
}

/// How soon an unsynchronised server looks again whether it has time to
/// broadcast.
const UNSYNCHRONISED_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// One broadcasting interface's schedule.
#[derive(Clone, Copy, Debug)]
struct Due {
    index: u32,
    next: Instant,
}

/// The broadcasts of one address family, sent by one worker.
pub struct Broadcaster {
    ipv6: bool,
    port: u16,
    due: Vec<Due>,
    /// The table the schedule was made for (compared by address).
    table: usize,
    socket_ready: bool,
}

impl Broadcaster {
    /// Broadcasts of the family of `bound` (the worker's socket address),
    /// to its port.
    pub fn new(bound: SocketAddr) -> Broadcaster {
        Broadcaster { ipv6: bound.is_ipv6(), port: bound.port(), due: Vec::new(), table: 0, socket_ready: false }
    }

    /// Sends every broadcast due now.
    pub fn send_due(&mut self, socket: &Socket, table: &Arc<InterfaceTable>, snapshot: &Snapshot, stats: &WorkerStats) {
        let identity = Arc::as_ptr(table) as usize;
        if identity != self.table {
            self.reschedule(table);
            self.table = identity;
        }
        if self.due.is_empty() {
            return;
        }
        let now = Instant::now();
        for i in 0..self.due.len() {
            if self.due[i].next > now {
                continue;
            }
            let Some(entry) = table.lookup(self.due[i].index) else { continue };
            let Some(policy) = entry.policy.as_ref().and_then(|p| p.broadcast.as_ref()) else { continue };
            if !snapshot.server.is_synchronised() {
                // Nothing to broadcast yet: look again soon, not a whole interval later.
                self.due[i].next = now + policy.interval.min(UNSYNCHRONISED_RETRY);
                continue;
            }
            self.due[i].next = now + policy.interval;
            if !self.socket_ready {
                self.prepare_socket(socket);
            }
            self.broadcast(socket, entry, policy, snapshot, stats);
        }
    }

    /// Keeps the schedule of interfaces that still broadcast; new ones
    /// broadcast at once.
    fn reschedule(&mut self, table: &InterfaceTable) {
        let now = Instant::now();
        let mut due = Vec::new();
        for e in table.entries() {
            let Some(b) = e.policy.as_ref().and_then(|p| p.broadcast.as_ref()) else { continue };
            let next = self.due.iter().find(|d| d.index == e.host.index).map_or(now, |d| d.next);
            if !self.due.iter().any(|d| d.index == e.host.index) {
                let targets: Vec<String> = if self.ipv6 {
                    vec![format!("{NTP_MULTICAST_V6}%{}", e.name())]
                } else {
                    e.host.broadcast.iter().map(ToString::to_string).collect()
                };
                info!(
                    interface = %e.name(),
                    interval_s = b.interval.as_secs(),
                    authenticated = b.key.is_some(),
                    to = ?targets,
                    "broadcasting NTP"
                );
            }
            due.push(Due { index: e.host.index, next });
        }
        self.due = due;
    }

    /// Allows broadcasts on the socket and keeps them from looping back to
    /// this host's own sockets (where they would count as drops).
    fn prepare_socket(&mut self, socket: &Socket) {
        self.socket_ready = true;
        let fd = socket.as_raw_fd();
        let result = if self.ipv6 {
            udp::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)
        } else {
            socket
                .set_broadcast(true)
                .and_then(|()| udp::setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0))
        };
        if let Err(e) = result {
            warn!(error = %e, "cannot prepare the socket for broadcasts");
        }
    }

    fn broadcast(
        &self,
        socket: &Socket,
        entry: &InterfaceEntry,
        policy: &BroadcastPolicy,
        snapshot: &Snapshot,
        stats: &WorkerStats,
    ) {
        let index = entry.host.index;
        let targets: &mut dyn Iterator<Item = (SocketAddr, Option<(IpAddr, u32)>)> = if self.ipv6 {
            &mut std::iter::once((SocketAddr::V6(SocketAddrV6::new(NTP_MULTICAST_V6, self.port, 0, index)), None))
        } else {
            // From the interface's own address (the kernel would pick the
            // primary one of the outgoing interface anyway).
            let from = entry.host.addresses.iter().find(|a| a.is_ipv4()).map(|a| (*a, index));
            &mut entry.host.broadcast.iter().map(move |b| (SocketAddr::new(IpAddr::V4(*b), self.port), from))
        };
        let mut buf = [0u8; 48 + 4 + ntp_proto::auth::MAX_DIGEST];
        let poll = poll_exponent(policy.interval.as_secs_f64());
        for (dest, from) in targets {
            let now = snapshot.correction.apply(SystemClock.now());
            let Some(prepared) = write_broadcast(&snapshot.server, poll, now, &mut buf) else { return };
            let mut len = prepared.finish(&mut buf, snapshot.correction.apply(SystemClock.now()));
            if let Some(key) = &policy.key {
                match key.append_mac(&mut buf, len, key.packet_digest_len(4)) {
                    Some(n) => len = n,
                    None => continue,
                }
            }
            match udp::send(socket, &buf[..len], dest, from) {
                Ok(_) => stats.broadcast(entry.slot),
                Err(e) => {
                    stats.send_error();
                    debug!(interface = %entry.name(), to = %dest, error = %e, "broadcast failed");
                }
            }
        }
    }
}
