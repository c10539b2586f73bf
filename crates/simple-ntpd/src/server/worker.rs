//! One serving thread: take a batch of datagrams from the kernel (recvmmsg,
//! each with its kernel receive timestamp), hand each to the server
//! decision (`ntp_proto::server::decide`: parse, access rules, rate limit,
//! MAC or NTS), count the outcome, and reply from the address it arrived on.
//!
//! Without `batch_send` every reply's transmit timestamp is read immediately
//! before that reply's own send (and its MAC computed after), so it is
//! honest to within the cost of one send, late by that cost. With
//! `batch_send` the replies of one receive batch are decided first, then
//! sent in chunks, one `sendmmsg` each: every reply is stamped with one
//! clock read plus the delay its position in the chunk is predicted to take
//! to the kernel's transmit point, learnt from kernel transmit timestamps
//! (`transmit_calibration`), and chunks are only as long as those
//! predictions stay within 2 µs.
//! Clients in interleaved mode (RFC 9769) are answered on their own, with
//! the kernel transmit timestamp of their previous reply; each such reply
//! asks the kernel for its own transmit timestamp, read right after the
//! send into the worker's `InterleaveTable`.
//! Allocation-free after start for time requests (plain, MAC, NTS);
//! control (mode 6) queries from allowed networks are answered here too, on
//! their own path that allocates. Nothing is logged per packet above trace
//! level.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ntp_proto::control::{self, ControlRequest};
use ntp_proto::server::{
    decide, Arrival, Decision, DropReason, InterleaveTable, MacSeal, Policy, PreparedReply, Seal, Sealed, TxHandle,
};
use ntp_proto::{NtpDuration, NtpTimestamp};
use socket2::Socket;
use tracing::{debug, trace, warn};

use super::broadcast::{is_own_broadcast, Broadcaster};
use super::client_log::ClientLog;
use super::policy::ServingPolicy;
use super::stats::WorkerStats;
use super::transmit_calibration::{ChunkPlan, TransmitCalibration};
use crate::clock::SystemClock;
use crate::interfaces::{BroadcastIn, InterfaceCell};
use crate::net::batch::{RecvBatch, SendBatch};
use crate::net::tx_timestamp;
use crate::net::udp::{self, RecvMeta};
use crate::random::Csprng;
use crate::security::ratelimit::RateLimiter;
use crate::security::PolicyCell;
use crate::served::{Snapshot, StateCell};

/// Reply buffer size: replies are never larger than their request.
const REPLY_BUF: usize = 1024;

/// How far (s, about the 99.7th percentile) a batched reply's predicted
/// transmit timestamp may scatter around the kernel's: chunks are no longer
/// than the positions that stay within it.
const TRANSMIT_ERROR_BOUND: f64 = 2e-6;

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
    /// This worker sends its address family's broadcasts (set per worker
    /// by the server).
    pub broadcasts: bool,
    /// Answer interleaved-mode requests (`ntp_server.interleaved`): the
    /// server gives the listener's workers one table.
    pub interleaved: bool,
}

/// A reply queued for the batch send (NTS replies are sent at once).
#[derive(Clone, Copy, Debug)]
enum Queued {
    /// Time, to be stamped and (with a MAC) sealed just before the send;
    /// with the interface slot it is counted under.
    Reply(PreparedReply, Option<MacSeal>, usize),
    /// A complete kiss-o'-death.
    Kod,
}

/// A serving thread's state.
pub struct Worker {
    socket: Socket,
    /// Reply from the arrival address only when bound to a wildcard.
    wildcard: bool,
    /// The socket's address.
    bound: SocketAddr,
    state: StateCell,
    policy: PolicyCell,
    interfaces: InterfaceCell,
    stats: Arc<WorkerStats>,
    clients: Arc<ClientLog>,
    options: WorkerOptions,
    /// The listener's interleaved-mode table (`ntp_server.interleaved`).
    interleave: Option<Arc<InterleaveTable>>,
    seed: u64,
}

impl Worker {
    /// A worker serving `socket` (bound to `addr`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        socket: Socket,
        addr: SocketAddr,
        state: StateCell,
        policy: PolicyCell,
        interfaces: InterfaceCell,
        stats: Arc<WorkerStats>,
        clients: Arc<ClientLog>,
        options: WorkerOptions,
        interleave: Option<Arc<InterleaveTable>>,
        seed: u64,
    ) -> Self {
        Worker {
            socket,
            wildcard: addr.ip().is_unspecified(),
            bound: addr,
            state,
            policy,
            interfaces,
            stats,
            clients,
            options,
            interleave,
            seed,
        }
    }

    /// Serves until `shutdown` is set (checked at least every socket read
    /// timeout).
    pub fn run(self, shutdown: &AtomicBool) {
        if let Some(cpu) = self.options.cpu {
            pin_to_cpu(cpu);
        }
        // One byte more than the limit so an over-long datagram is detected.
        let mut rx = RecvBatch::new(self.options.recv_batch, self.options.max_packet_size + 1);
        let mut tx = self.options.batch_send.then(|| {
            (
                SendBatch::new(rx.capacity(), REPLY_BUF),
                Vec::<Queued>::with_capacity(rx.capacity()),
                self.transmit_calibration(rx.capacity()),
            )
        });
        let mut out = [0u8; REPLY_BUF];
        // Nonces for NTS: a per-worker CSPRNG seeded once from the OS.
        let mut rng = crate::random::csprng();
        let mut limiter: Option<RateLimiter> = None;
        let xleave = self.interleave_table();
        let mut broadcaster = self.options.broadcasts.then(|| Broadcaster::new(self.bound));
        let mut populated = false;
        while !shutdown.load(Ordering::Relaxed) {
            if let Some(b) = &mut broadcaster {
                b.send_due(&self.socket, &self.interfaces.load(), &self.state.load(), &self.stats);
            }
            let n = match rx.recv(&self.socket) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => {
                    self.stats.receive_error();
                    trace!(error = %e, "receive failed"); // counted; per packet, so not at debug
                    continue;
                }
            };
            if !populated && n >= 2 {
                // Requests arrive together: take the batches' memory at once
                // rather than page by page, over minutes, as bursts fill more
                // slots (idle or polled one at a time, it stays untouched).
                rx.populate();
                if let Some((batch, ..)) = &mut tx {
                    batch.populate();
                }
                populated = true;
            }
            let snapshot = self.state.load();
            let security = self.policy.load();
            let interfaces = self.interfaces.load();
            // The limiter table is allocated once and only rebuilt when a
            // reload (or a VLAN's own limits) needs it larger.
            let table_size = security.rate.map(|r| r.table_size).max(interfaces.rate_table_size());
            match (table_size, &limiter) {
                (Some(n), Some(l)) if l.capacity() >= n.next_power_of_two() => {}
                (Some(n), _) => limiter = Some(RateLimiter::new(n, self.seed)),
                (None, _) => {}
            }
            let mut policy =
                ServingPolicy::new(&security, &interfaces, limiter.as_mut(), xleave, self.options.max_packet_size);
            match &mut tx {
                None => {
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        if is_own_broadcast(policy.interfaces, meta.source.ip(), meta.local) {
                            continue;
                        }
                        match self.decide(data, &meta, &snapshot, &mut policy, &mut out) {
                            Decision::Reply(prepared, seal) => self.reply_alone(
                                prepared,
                                seal,
                                &mut out,
                                data.len(),
                                &meta,
                                &snapshot,
                                &mut policy,
                                &mut rng,
                            ),
                            Decision::KissOfDeath { len, .. } => self.send_one(&out[..len], &meta, None),
                            Decision::Drop(_) => {}
                            Decision::Control(request) => self.answer_control(&request, &meta, &snapshot),
                        }
                    }
                }
                Some((batch, queued, calibration)) => {
                    queued.clear();
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        if is_own_broadcast(policy.interfaces, meta.source.ip(), meta.local) {
                            continue;
                        }
                        let decision = self.decide(data, &meta, &snapshot, &mut policy, batch.next_buf());
                        let slot = policy.slot();
                        let (len, q) = match decision {
                            // NTS replies are sealed after T3, and interleaved-mode ones
                            // wait for their kernel transmit timestamp: sent on their own.
                            Decision::Reply(p, seal) if p.tx_handle().is_some() || matches!(seal, Seal::Nts(_)) => {
                                out[..p.len()].copy_from_slice(&batch.next_buf()[..p.len()]);
                                self.reply_alone(
                                    p,
                                    seal,
                                    &mut out,
                                    data.len(),
                                    &meta,
                                    &snapshot,
                                    &mut policy,
                                    &mut rng,
                                );
                                continue;
                            }
                            Decision::Reply(p, Seal::Plain) => (p.len(), Queued::Reply(p, None, slot)),
                            // The slot is sent with the MAC appended after T3.
                            Decision::Reply(p, Seal::Mac(m)) => (p.len() + m.len(), Queued::Reply(p, Some(m), slot)),
                            Decision::Reply(_, Seal::Nts(_)) => continue, // sent on its own above
                            Decision::KissOfDeath { len, .. } => (len, Queued::Kod),
                            Decision::Drop(_) => continue,
                            Decision::Control(request) => {
                                self.answer_control(&request, &meta, &snapshot);
                                continue;
                            }
                        };
                        batch.commit(len, meta.source, self.reply_source(&meta));
                        queued.push(q);
                    }
                    self.send_batch(batch, queued, calibration, &snapshot, &policy);
                }
            }
        }
    }

    /// The calibration of batched sends, when the socket can report the
    /// replies' transmit timestamps (otherwise `None`: every reply is sent
    /// on its own, stamped just before its send).
    fn transmit_calibration(&self, limit: usize) -> Option<TransmitCalibration> {
        match tx_timestamp::enable_on_request(&self.socket) {
            Ok(()) => Some(TransmitCalibration::new(TRANSMIT_ERROR_BOUND, limit)),
            Err(e) => {
                warn!(address = %self.bound, error = %e, "no kernel transmit timestamps: replies are sent one by one");
                None
            }
        }
    }

    /// Stamps and sends the queued replies in chunks: each chunk's replies
    /// get one clock read plus their position's predicted delay to the
    /// kernel's transmit point, and now and then a chunk asks the kernel
    /// when each of its replies left, to keep the predictions honest. Without
    /// a calibration, chunks of one reply stamped just before their send.
    fn send_batch(
        &self,
        batch: &mut SendBatch,
        queued: &[Queued],
        calibration: &mut Option<TransmitCalibration>,
        snapshot: &Snapshot,
        policy: &ServingPolicy<'_>,
    ) {
        let total = batch.len();
        let mut start = 0;
        while start < total {
            let plan = match calibration {
                Some(c) => c.plan(total - start),
                None => ChunkPlan { len: 1, sample: None },
            };
            let range = start..start + plan.len;
            let read_at = SystemClock.now();
            for (position, (buf, q)) in batch.bufs_in(range.clone()).zip(&queued[range.clone()]).enumerate() {
                if let Queued::Reply(p, mac, _) = q {
                    let delay = calibration.as_ref().map_or(0.0, |c| c.delay(position));
                    let len = p.finish(buf, snapshot.correction.apply(read_at + NtpDuration::from_seconds(delay)));
                    // Same policy snapshot as the decision: the key is there.
                    if mac.is_some_and(|m| m.apply(buf, len, policy).is_some()) {
                        self.stats.authenticated();
                    }
                }
            }
            let stamped = plan.sample.map(|p| start + p);
            let sent = batch.send_chunk(&self.socket, range.clone(), stamped, |i, sent| match (sent, queued[i]) {
                (true, Queued::Reply(.., slot)) => self.stats.replied(slot),
                (true, Queued::Kod) => self.stats.kod_sent(),
                (false, _) => self.stats.send_error(),
            });
            if sent > 0 {
                self.stats.send_chunk(sent);
            }
            if let (Some(c), Some(position), true) = (calibration.as_mut(), plan.sample, sent == plan.len) {
                match tx_timestamp::read_after(&self.socket, read_at) {
                    Some(left) => {
                        c.learn(position, left.since(read_at).to_seconds());
                        self.stats.transmit_spread(c.spread());
                    }
                    None => self.stats.tx_timestamp_missed(),
                }
            }
            start = range.end;
        }
        batch.clear();
    }

    /// The interleaved-mode table, when it is on and the socket can report
    /// transmit timestamps (otherwise every client is served in basic mode).
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        let table = self.interleave.as_deref()?;
        match tx_timestamp::enable_on_request(&self.socket) {
            Ok(()) => Some(table),
            Err(e) => {
                warn!(address = %self.bound, error = %e, "no kernel transmit timestamps: interleaved mode is off");
                None
            }
        }
    }

    /// Stamps, seals and sends one reply by itself (`out` holds it): the
    /// transmit timestamp is read as late as possible, right here. A reply
    /// to an interleaved-mode client asks the kernel when it left and
    /// records that for the client's next request.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn reply_alone(
        &self,
        prepared: PreparedReply,
        seal: Seal<'_>,
        out: &mut [u8],
        request_len: usize,
        meta: &RecvMeta,
        snapshot: &Snapshot,
        policy: &mut ServingPolicy<'_>,
        rng: &mut Csprng,
    ) {
        let system_now = SystemClock.now();
        let len = prepared.finish(out, snapshot.correction.apply(system_now));
        let slot = policy.slot();
        let Some(len) = self.seal(seal, out, len, request_len, policy, rng) else { return };
        match prepared.tx_handle() {
            None => self.send_one(&out[..len], meta, Some(slot)),
            Some(handle) => {
                if prepared.is_interleaved() {
                    self.stats.interleaved();
                }
                self.send_interleaved(&out[..len], meta, slot, system_now, handle, snapshot, policy)
            }
        }
    }

    /// Sends a reply to an interleaved-mode client and records its kernel
    /// transmit timestamp (served time) under `handle`.
    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn send_interleaved(
        &self,
        reply: &[u8],
        meta: &RecvMeta,
        slot: usize,
        sent_after: NtpTimestamp,
        handle: TxHandle,
        snapshot: &Snapshot,
        policy: &mut ServingPolicy<'_>,
    ) {
        match tx_timestamp::send_stamped(&self.socket, reply, meta.source, self.reply_source(meta)) {
            Ok(_) => {
                self.stats.replied(slot);
                match tx_timestamp::read_after(&self.socket, sent_after) {
                    Some(tx) => {
                        if let Some(table) = policy.interleave_table() {
                            table.record_transmit(handle, snapshot.correction.apply(tx));
                        }
                    }
                    None => self.stats.tx_timestamp_missed(),
                }
            }
            Err(e) => {
                self.stats.send_error();
                trace!(error = %e, "send failed");
            }
        }
    }

    /// Runs the server decision on one datagram, counts it and logs the
    /// client; the reply (without its transmit timestamp) or kiss-o'-death
    /// is written into `out`.
    #[inline]
    fn decide<'a>(
        &self,
        data: &'a [u8],
        meta: &RecvMeta,
        snapshot: &Snapshot,
        policy: &mut ServingPolicy<'_>,
        out: &mut [u8],
    ) -> Decision<'a> {
        let (rx_system, host_secs) = match meta.kernel_time {
            Some(k) => (NtpTimestamp::from_unix(k.secs, k.nanos), k.secs as f64 + f64::from(k.nanos) * 1e-9),
            None => {
                self.stats.rx_timestamp_fallback();
                let (s, n) = SystemClock::unix_now();
                (NtpTimestamp::from_unix(s, n), s as f64 + f64::from(n) * 1e-9)
            }
        };
        let arrival = Arrival {
            source: meta.source,
            receive_time: snapshot.correction.apply(rx_system),
            host_secs,
            truncated: meta.truncated,
            interface: meta.local.map_or(0, |(_, ifindex)| ifindex),
        };
        let decision = decide(data, &arrival, &snapshot.server, policy, out);
        let slot = policy.slot();
        self.stats.received(slot);
        if decision.drop_reason() == Some(DropReason::NotClientMode) && policy.takes_broadcasts() && is_mode_5(data) {
            // For the broadcast client listening on this interface, not a drop.
            let from = meta.source;
            self.interfaces.forward_broadcast(BroadcastIn {
                ifindex: arrival.interface,
                from,
                data: data.to_vec(),
                rx_system,
            });
            return decision;
        }
        if let Some(reason) = decision.drop_reason() {
            self.stats.dropped(slot, reason);
            trace!(source = %meta.source, reason = reason.name(), "dropped");
        }
        let now = meta.kernel_time.map(|k| k.secs.max(0) as u64).unwrap_or(0);
        self.clients.record(meta.source.ip(), now, decision.answers(), slot);
        decision
    }

    /// Adds the reply's MAC or NTS fields after T3 was stamped, counting
    /// them; `None` when it cannot be protected (then nothing is sent).
    fn seal(
        &self,
        seal: Seal<'_>,
        out: &mut [u8],
        len: usize,
        request_len: usize,
        policy: &ServingPolicy<'_>,
        rng: &mut Csprng,
    ) -> Option<usize> {
        match seal.seal(out, len, request_len, policy, rng) {
            Ok(Sealed::Plain(n)) => Some(n),
            Ok(Sealed::Mac(n)) => {
                self.stats.authenticated();
                Some(n)
            }
            Ok(Sealed::Nts(n)) => {
                self.stats.nts_replied();
                Some(n)
            }
            Err(reason) => {
                self.stats.dropped(policy.slot(), reason);
                None
            }
        }
    }

    /// Answers a control (mode 6) query from the published variables, in as
    /// many datagrams as it takes. Allocates: allowed networks only, under
    /// the rate limit, never on the time-serving path.
    #[cold]
    fn answer_control(&self, request: &ControlRequest<'_>, meta: &RecvMeta, snapshot: &Snapshot) {
        let vars = super::control::snapshot(snapshot, &self.state.report(), &self.state.leap(), SystemClock.now());
        let response = control::respond(request, &vars);
        self.stats.control_replied();
        for datagram in response.datagrams() {
            if let Err(e) = udp::send(&self.socket, datagram, meta.source, self.reply_source(meta)) {
                self.stats.send_error();
                trace!(error = %e, "send failed");
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

    /// Sends one reply: time, counted under interface `slot`, or (`None`)
    /// a kiss-o'-death.
    #[inline]
    fn send_one(&self, reply: &[u8], meta: &RecvMeta, slot: Option<usize>) {
        match udp::send(&self.socket, reply, meta.source, self.reply_source(meta)) {
            Ok(_) => match slot {
                Some(slot) => self.stats.replied(slot),
                None => self.stats.kod_sent(),
            },
            Err(e) => {
                self.stats.send_error();
                trace!(error = %e, "send failed");
            }
        }
    }
}

/// True for an NTP broadcast (mode 5).
#[inline]
fn is_mode_5(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 7 == 5)
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
