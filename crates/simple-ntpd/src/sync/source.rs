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
            reachable: false,
            rekey: false,
            rekey_in_flight: false,
            rekey_retry_at: Instant::now(),
            rekey_backoff: REKEY_FIRST_BACKOFF,
        }
    }

    /// Gives up on an overdue request and sends whatever is due at `now`;
    /// true when a request left (the reach register moved).
    pub fn poll(&mut self, now: NtpTimestamp, rng: &mut Csprng) -> bool {
        self.assoc.handle_timeout(now);
        let mut sent = false;
        while let Some(t) = self.assoc.poll_transmit(now, rng) {
            if let Err(e) = self.socket.send(&t.payload, self.addr) {
                debug!(source = %self.name, error = %e, "send failed");
            }
            sent = true;
        }
        sent
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
