//! One running upstream source: its sans-IO association
//! (`ntp_proto::association`), the socket it talks through, its engine id,
//! and the state of its NTS session renewals. The loop in `task` drives it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ntp_proto::association::Association;
use ntp_proto::NtpTimestamp;
use ntp_sync::SourceId;
use tracing::{debug, info, warn};

use super::net::UpstreamSocket;
use crate::random::Csprng;

/// First wait after a failed NTS session renewal.
pub const REKEY_FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between attempts to resolve or key a source.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// One upstream server being polled.
pub struct RunningSource {
    /// Tags the datagrams of this source's socket.
    pub key: u64,
    /// The host as configured.
    pub name: String,
    /// Index of its configured source (`Config::upstreams()`).
    pub upstream: usize,
    /// The address polled.
    pub addr: SocketAddr,
    /// The protocol state.
    pub assoc: Association,
    /// Its id in the engine.
    pub id: SourceId,
    /// Its socket.
    pub socket: UpstreamSocket,
    /// The id and transmit cookie of the last request whose kernel
    /// transmit timestamp is awaited.
    awaiting_tx: Option<(u32, NtpTimestamp)>,
    /// A kernel transmit timestamp has been used (logged once).
    kernel_tx_seen: bool,
    /// Reachable as last logged.
    reachable: bool,
    /// The association asked for a new NTS session.
    pub rekey: bool,
    /// A renewal is running in the background.
    pub rekey_in_flight: bool,
    /// No renewal before this (after a failed one).
    pub rekey_retry_at: Instant,
    /// Wait after the next failed renewal.
    pub rekey_backoff: Duration,
}

impl RunningSource {
    /// A source polling `addr` through `socket`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: u64,
        name: String,
        upstream: usize,
        addr: SocketAddr,
        assoc: Association,
        id: SourceId,
        socket: UpstreamSocket,
    ) -> RunningSource {
        RunningSource {
            key,
            name,
            upstream,
            addr,
            assoc,
            id,
            socket,
            awaiting_tx: None,
            kernel_tx_seen: false,
            reachable: false,
            rekey: false,
            rekey_in_flight: false,
            rekey_retry_at: Instant::now(),
            rekey_backoff: REKEY_FIRST_BACKOFF,
        }
    }

    /// Gives up on an overdue request and sends whatever is due at `now`;
    /// true when a request left (the reach register moved). T1 of a request
    /// is `clock` read immediately before its send, until the kernel's
    /// transmit timestamp replaces it ([`Self::on_transmitted`]).
    pub fn poll(&mut self, now: NtpTimestamp, clock: &dyn Fn() -> NtpTimestamp, rng: &mut Csprng) -> bool {
        self.assoc.handle_timeout(now);
        let mut sent = false;
        while let Some(t) = self.assoc.poll_transmit(now, rng) {
            let t1 = clock();
            match self.socket.send(&t.payload, self.addr) {
                Ok(id) => {
                    self.assoc.handle_transmit_timestamp(t.origin, t1);
                    self.awaiting_tx = id.map(|id| (id, t.origin));
                }
                Err(e) => debug!(source = %self.name, error = %e, "send failed"),
            }
            sent = true;
        }
        sent
    }

    /// The kernel says our datagram `id` left at `t1` (already on the
    /// steered clock's timeline): it becomes T1 of its request, if that is
    /// still outstanding.
    pub fn on_transmitted(&mut self, id: u32, t1: NtpTimestamp) {
        match self.awaiting_tx {
            Some((expected, origin)) if expected == id => {
                self.awaiting_tx = None;
                if self.assoc.handle_transmit_timestamp(origin, t1) && !self.kernel_tx_seen {
                    self.kernel_tx_seen = true;
                    debug!(source = %self.name, "requests carry kernel transmit timestamps");
                }
            }
            Some((expected, _)) if (id.wrapping_sub(expected) as i32) > 0 => {
                debug!(source = %self.name, id, expected, "transmit timestamp ids out of step; following the kernel's");
                self.awaiting_tx = None;
                self.socket.resync_tx_ids(id);
            }
            _ => {}
        }
    }

    /// Logs the source becoming reachable or unreachable.
    pub fn log_reachability(&mut self) {
        let reachable = self.assoc.reach().is_reachable();
        if reachable != self.reachable {
            self.reachable = reachable;
            if reachable {
                info!(source = %self.name, address = %self.addr, "source reachable");
            } else {
                warn!(source = %self.name, address = %self.addr, "source unreachable");
            }
        }
    }

    /// True when an NTS renewal should start now.
    pub fn rekey_due(&self, now: Instant) -> bool {
        self.rekey && !self.rekey_in_flight && self.rekey_retry_at <= now
    }

    /// A renewal failed: try again after the back-off, doubling it.
    pub fn rekey_failed(&mut self) {
        self.rekey_in_flight = false;
        self.rekey_retry_at = Instant::now() + self.rekey_backoff;
        self.rekey_backoff = (self.rekey_backoff * 2).min(MAX_BACKOFF);
    }

    /// A renewal succeeded.
    pub fn rekeyed(&mut self) {
        self.rekey = false;
        self.rekey_in_flight = false;
        self.rekey_backoff = REKEY_FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::net::{Incoming, Report};
    use ntp_proto::association::ClientAuth;
    use ntp_proto::source::SourceConfig;
    use ntp_proto::NtpDuration;
    use ntp_sync::{Engine, EngineConfig, SourceParams};
    use std::cell::Cell;
    use std::time::Duration;
    use tokio::sync::mpsc;

    fn at(secs: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_800_000_000, 0) + NtpDuration::from_seconds(secs)
    }

    async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Report {
        tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.expect("a report in time").expect("open").report
    }

    /// T1 is the clock read right before the send, not the time the poll
    /// was due (before the request was even built), and the kernel's
    /// transmit timestamp replaces it when it comes.
    #[tokio::test]
    async fn t1_is_taken_at_the_send_and_replaced_by_the_kernel_timestamp() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let socket = UpstreamSocket::open(addr, 1, tx).unwrap();
        let assoc = Association::new(SourceConfig::default(), ClientAuth::None, at(0.0), 0.0);
        let id = Engine::new(EngineConfig::default()).add_source(SourceParams::default());
        let mut u = RunningSource::new(1, "test".into(), 0, addr, assoc, id, socket);
        // The clock moves on by 30 µs at every read.
        let reads = Cell::new(0u32);
        let clock = || {
            reads.set(reads.get() + 1);
            at(f64::from(reads.get()) * 30e-6)
        };
        assert!(u.poll(at(0.0), &clock, &mut crate::random::csprng()));
        assert_eq!(u.assoc.transmit_time(), Some(at(30e-6)), "read once, right before the send");
        let Report::Transmitted { id, tx_system } = next(&mut rx).await else { panic!("a transmit timestamp first") };
        let now = crate::clock::SystemClock.now();
        assert!(now.since(tx_system).to_seconds().abs() < 1.0);
        u.on_transmitted(id, at(50e-6));
        assert_eq!(u.assoc.transmit_time(), Some(at(50e-6)));
        // Another id (the kernel counted a send we did not): ignored.
        u.on_transmitted(id + 1, at(70e-6));
        assert_eq!(u.assoc.transmit_time(), Some(at(50e-6)));
    }
}
