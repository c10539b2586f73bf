//! One serving thread: take a batch of datagrams from the kernel (recvmmsg,
//! each with its kernel receive timestamp), decide each, and reply from the
//! address it arrived on.
//!
//! By default every reply's transmit timestamp is read immediately before
//! that reply's own send, so it is honest to within the cost of one send.
//! With `batch_send` (opt-in) replies are stamped together and sent with one
//! sendmmsg: more throughput, later replies leave tens of microseconds after
//! their timestamp. Allocation-free after start; nothing is logged per packet
//! above trace level.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ntp_proto::server::{parse_request, write_reply, DropReason, PreparedReply};
use ntp_proto::NtpTimestamp;
use socket2::Socket;
use tracing::{debug, trace, warn};

use super::client_log::ClientLog;
use super::stats::WorkerStats;
use crate::clock::{Clock, SystemClock};
use crate::net::batch::{RecvBatch, SendBatch};
use crate::net::udp::{self, RecvMeta};
use crate::state::{Snapshot, StateCell};

/// Reply buffer size: replies are never larger than their request, and
/// today never larger than a header plus room for later MACs and NTS fields.
const REPLY_BUF: usize = 1024;

/// How a worker serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Largest datagram answered.
    pub max_packet_size: usize,
    /// Datagrams per recvmmsg.
    pub recv_batch: usize,
    /// Send replies with one sendmmsg per batch (opt-in; less accurate T3).
    pub batch_send: bool,
    /// CPU core to pin this worker to.
    pub cpu: Option<usize>,
}

/// A serving thread's state.
pub struct Worker {
    socket: Socket,
    /// Reply from the arrival address only when bound to a wildcard.
    wildcard: bool,
    state: StateCell,
    stats: Arc<WorkerStats>,
    clients: Arc<ClientLog>,
    options: WorkerOptions,
}

impl Worker {
    /// A worker serving `socket` (bound to `addr`).
    pub fn new(
        socket: Socket,
        addr: SocketAddr,
        state: StateCell,
        stats: Arc<WorkerStats>,
        clients: Arc<ClientLog>,
        options: WorkerOptions,
    ) -> Self {
        Worker { socket, wildcard: addr.ip().is_unspecified(), state, stats, clients, options }
    }

    /// Serves until `shutdown` is set (checked at least every socket read
    /// timeout).
    pub fn run(self, shutdown: &AtomicBool) {
        if let Some(cpu) = self.options.cpu {
            pin_to_cpu(cpu);
        }
        // One byte more than the limit so an over-long datagram is detected.
        let mut rx = RecvBatch::new(self.options.recv_batch, self.options.max_packet_size + 1);
        let mut tx = self
            .options
            .batch_send
            .then(|| (SendBatch::new(rx.capacity(), REPLY_BUF), Vec::with_capacity(rx.capacity())));
        let mut out = [0u8; REPLY_BUF];
        while !shutdown.load(Ordering::Relaxed) {
            let n = match rx.recv(&self.socket) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => {
                    self.stats.receive_error();
                    debug!(error = %e, "receive failed");
                    continue;
                }
            };
            let snapshot = self.state.load();
            match &mut tx {
                None => {
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        if let Some(prepared) = self.prepare(data, &meta, &snapshot, &mut out) {
                            // The transmit timestamp is read as late as possible: right here.
                            let len = prepared.finish(&mut out, snapshot.correction.apply(SystemClock.now()));
                            self.send_one(&out[..len], &meta);
                        }
                    }
                }
                Some((batch, prepared_list)) => {
                    prepared_list.clear();
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        if let Some(prepared) = self.prepare(data, &meta, &snapshot, batch.next_buf()) {
                            batch.commit(prepared.len(), meta.source, self.reply_source(&meta));
                            prepared_list.push(prepared);
                        }
                    }
                    let t3 = snapshot.correction.apply(SystemClock.now());
                    for (buf, prepared) in batch.queued_bufs().zip(prepared_list.iter()) {
                        prepared.finish(buf, t3);
                    }
                    let (sent, failed) = batch.flush(&self.socket);
                    for _ in 0..sent {
                        self.stats.replied();
                    }
                    for _ in 0..failed {
                        self.stats.send_error();
                    }
                }
            }
        }
    }

    /// Counts the datagram, logs the client and writes the reply (without
    /// its transmit timestamp) into `out`, or counts why there is none.
    #[inline]
    fn prepare(&self, data: &[u8], meta: &RecvMeta, snapshot: &Snapshot, out: &mut [u8]) -> Option<PreparedReply> {
        let reply = self.decide(data, meta, snapshot, out);
        let now = meta.kernel_time.map(|k| k.secs.max(0) as u64).unwrap_or(0);
        self.clients.record(meta.source.ip(), now, reply.is_some());
        reply
    }

    #[inline]
    fn decide(&self, data: &[u8], meta: &RecvMeta, snapshot: &Snapshot, out: &mut [u8]) -> Option<PreparedReply> {
        self.stats.received();
        if meta.truncated || meta.len > self.options.max_packet_size {
            self.stats.dropped(DropReason::TooLong);
            return None;
        }
        let rx_system = match meta.kernel_time {
            Some(k) => NtpTimestamp::from_unix(k.secs, k.nanos),
            None => {
                self.stats.rx_timestamp_fallback();
                SystemClock.now()
            }
        };
        let request = match parse_request(data, meta.source.port()) {
            Ok(r) => r,
            Err(reason) => {
                self.stats.dropped(reason);
                trace!(source = %meta.source, reason = reason.name(), "dropped");
                return None;
            }
        };
        let rx = snapshot.correction.apply(rx_system);
        match write_reply(&request, rx, &snapshot.server, out) {
            Ok(p) if p.len() <= meta.len => Some(p),
            Ok(_) => {
                self.stats.dropped(DropReason::ReplyTooLarge);
                None
            }
            Err(reason) => {
                self.stats.dropped(reason);
                None
            }
        }
    }

    #[inline]
    fn reply_source(&self, meta: &RecvMeta) -> Option<(std::net::IpAddr, u32)> {
        if self.wildcard {
            meta.local
        } else {
            None
        }
    }

    #[inline]
    fn send_one(&self, reply: &[u8], meta: &RecvMeta) {
        match udp::send(&self.socket, reply, meta.source, self.reply_source(meta)) {
            Ok(_) => self.stats.replied(),
            Err(e) => {
                self.stats.send_error();
                trace!(error = %e, "send failed");
            }
        }
    }
}

/// Pins the calling thread to one CPU core; logs and carries on if the core
/// does not exist or the call is not permitted.
fn pin_to_cpu(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    let result = set.set(cpu).and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set));
    match result {
        Ok(()) => debug!(cpu, "worker pinned"),
        Err(e) => warn!(cpu, error = %e, "cannot pin worker to CPU core; running unpinned"),
    }
}
