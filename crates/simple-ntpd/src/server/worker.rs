//! One serving thread: receive a datagram with its kernel timestamp, decide,
//! stamp the transmit time immediately before the send, reply from the
//! address the request arrived on. Allocation-free after start; nothing is
//! logged per packet above trace level.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ntp_proto::server::{parse_request, write_reply, DropReason};
use ntp_proto::NtpTimestamp;
use socket2::Socket;
use tracing::{debug, trace};

use super::stats::WorkerStats;
use crate::clock::{Clock, SystemClock};
use crate::net::udp::{self, CmsgBuf};
use crate::state::StateCell;

/// Reply buffer size: replies never exceed their request, and requests
/// longer than this are not answered with more than a header today.
const REPLY_BUF: usize = 1024;

/// A serving thread's state.
pub struct Worker {
    socket: Socket,
    /// Reply from the arrival address only when bound to a wildcard.
    wildcard: bool,
    state: StateCell,
    stats: Arc<WorkerStats>,
    max_packet_size: usize,
}

impl Worker {
    /// A worker serving `socket` (bound to `addr`).
    pub fn new(
        socket: Socket,
        addr: SocketAddr,
        state: StateCell,
        stats: Arc<WorkerStats>,
        max_packet_size: usize,
    ) -> Self {
        Worker { socket, wildcard: addr.ip().is_unspecified(), state, stats, max_packet_size }
    }

    /// Serves until `shutdown` is set (checked at least every socket read
    /// timeout).
    pub fn run(self, shutdown: &AtomicBool) {
        let clock = SystemClock;
        // One byte more than the limit so an over-long datagram is detected.
        let mut buf = vec![0u8; self.max_packet_size + 1];
        let mut out = [0u8; REPLY_BUF];
        let mut cmsg = CmsgBuf::default();
        while !shutdown.load(Ordering::Relaxed) {
            let meta = match udp::recv(&self.socket, &mut buf, &mut cmsg) {
                Ok(m) => m,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => {
                    self.stats.receive_error();
                    debug!(error = %e, "receive failed");
                    continue;
                }
            };
            self.stats.received();
            if meta.truncated || meta.len > self.max_packet_size {
                self.stats.dropped(DropReason::TooLong);
                continue;
            }
            let rx_system = match meta.kernel_time {
                Some(k) => NtpTimestamp::from_unix(k.secs, k.nanos),
                None => {
                    self.stats.rx_timestamp_fallback();
                    clock.now()
                }
            };
            let request = &buf[..meta.len];
            let parsed = match parse_request(request, meta.source.port()) {
                Ok(p) => p,
                Err(reason) => {
                    self.stats.dropped(reason);
                    trace!(source = %meta.source, reason = reason.name(), "dropped");
                    continue;
                }
            };
            let snapshot = self.state.load();
            let rx = snapshot.correction.apply(rx_system);
            let prepared = match write_reply(&parsed, rx, &snapshot.server, &mut out) {
                Ok(p) => p,
                Err(reason) => {
                    self.stats.dropped(reason);
                    continue;
                }
            };
            if prepared.len() > meta.len {
                self.stats.dropped(DropReason::ReplyTooLarge);
                continue;
            }
            let local = if self.wildcard { meta.local } else { None };
            // The transmit timestamp is read as late as possible: right here.
            let tx = snapshot.correction.apply(clock.now());
            let n = prepared.finish(&mut out, tx);
            match udp::send(&self.socket, &out[..n], meta.source, local) {
                Ok(_) => self.stats.replied(),
                Err(e) => {
                    self.stats.send_error();
                    trace!(error = %e, "send failed");
                }
            }
        }
    }
}
