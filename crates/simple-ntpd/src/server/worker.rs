//! One serving thread: take a batch of datagrams from the kernel (recvmmsg,
//! each with its kernel receive timestamp), decide each — parse, access
//! rules, rate limit, MAC — and reply from the address it arrived on.
//!
//! By default every reply's transmit timestamp is read immediately before
//! that reply's own send (and its MAC computed after), so it is honest to
//! within the cost of one send. With `batch_send` (opt-in) replies are
//! stamped together and sent with one sendmmsg: more throughput, later
//! replies leave tens of microseconds after their timestamp.
//! Allocation-free after start; nothing is logged per packet above trace
//! level.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ntp_proto::kod::{write_kod, KissCode};
use ntp_proto::nts::ef::{server_reply_fields, server_verify, write_nts_nak, VerifiedRequest, UNIQUE_IDENTIFIER};
use ntp_proto::server::{parse_request, write_reply, ClientRequest, DropReason, PreparedReply};
use ntp_proto::NtpTimestamp;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use socket2::Socket;
use tracing::{debug, trace, warn};

use super::client_log::ClientLog;
use super::stats::WorkerStats;
use crate::clock::{Clock, SystemClock};
use crate::net::batch::{RecvBatch, SendBatch};
use crate::net::udp::{self, RecvMeta};
use crate::security::ratelimit::{RateLimiter, Verdict};
use crate::security::{PolicyCell, SecurityPolicy};
use crate::state::{Snapshot, StateCell};

/// Reply buffer size: replies are never larger than their request.
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

/// How a reply is protected.
#[derive(Debug)]
enum Protection<'a> {
    /// Plain.
    None,
    /// A MAC with (key id, digest length).
    Mac(u32, usize),
    /// NTS: the verified request (borrows the receive buffer).
    Nts(VerifiedRequest<'a>),
}

/// What to send for one request.
#[derive(Debug)]
enum Outcome<'a> {
    /// Time: finish with T3, then protect.
    Reply(PreparedReply, Protection<'a>),
    /// A complete kiss-o'-death (or NTS NAK) of this length.
    Kod(usize),
    /// Nothing.
    Drop,
}

/// A reply queued for the batch send (NTS replies are sent at once).
#[derive(Clone, Copy, Debug)]
enum Queued {
    Reply(PreparedReply, Option<(u32, usize)>),
    Kod,
}

/// A serving thread's state.
pub struct Worker {
    socket: Socket,
    /// Reply from the arrival address only when bound to a wildcard.
    wildcard: bool,
    state: StateCell,
    policy: PolicyCell,
    stats: Arc<WorkerStats>,
    clients: Arc<ClientLog>,
    options: WorkerOptions,
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
        stats: Arc<WorkerStats>,
        clients: Arc<ClientLog>,
        options: WorkerOptions,
        seed: u64,
    ) -> Self {
        Worker { socket, wildcard: addr.ip().is_unspecified(), state, policy, stats, clients, options, seed }
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
            .then(|| (SendBatch::new(rx.capacity(), REPLY_BUF), Vec::<Queued>::with_capacity(rx.capacity())));
        let mut out = [0u8; REPLY_BUF];
        // Nonces for NTS: a per-worker CSPRNG seeded once from the OS.
        let mut seed = [0u8; 32];
        if getrandom::getrandom(&mut seed).is_err() {
            seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut limiter: Option<RateLimiter> = None;
        while !shutdown.load(Ordering::Relaxed) {
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
            let snapshot = self.state.load();
            let policy = self.policy.load();
            // The limiter table is allocated once and only rebuilt when a
            // reload changes its size.
            match (&policy.rate, &limiter) {
                (Some(p), Some(l)) if l.capacity() >= p.table_size.next_power_of_two() => {}
                (Some(p), _) => limiter = Some(RateLimiter::new(p.table_size, self.seed)),
                (None, _) => {}
            }
            match &mut tx {
                None => {
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        match self.prepare(data, &meta, &snapshot, &policy, limiter.as_mut(), &mut out) {
                            Outcome::Reply(prepared, protection) => {
                                // The transmit timestamp is read as late as possible: right here.
                                let len = prepared.finish(&mut out, snapshot.correction.apply(SystemClock.now()));
                                if let Some(len) = self.protect(&policy, &mut out, len, meta.len, protection, &mut rng)
                                {
                                    self.send_one(&out[..len], &meta, false);
                                }
                            }
                            Outcome::Kod(len) => self.send_one(&out[..len], &meta, true),
                            Outcome::Drop => {}
                        }
                    }
                }
                Some((batch, outcomes)) => {
                    outcomes.clear();
                    for i in 0..n {
                        let Some((data, meta)) = rx.get(i) else {
                            self.stats.receive_error();
                            continue;
                        };
                        let outcome = self.prepare(data, &meta, &snapshot, &policy, limiter.as_mut(), batch.next_buf());
                        let (len, queued) = match outcome {
                            Outcome::Reply(p, Protection::None) => (p.len(), Queued::Reply(p, None)),
                            Outcome::Reply(p, Protection::Mac(id, d)) => (p.len(), Queued::Reply(p, Some((id, d)))),
                            Outcome::Reply(p, nts @ Protection::Nts(_)) => {
                                // NTS replies are sealed after T3 and sent on their own.
                                out[..p.len()].copy_from_slice(&batch.next_buf()[..p.len()]);
                                let len = p.finish(&mut out, snapshot.correction.apply(SystemClock.now()));
                                if let Some(len) = self.protect(&policy, &mut out, len, meta.len, nts, &mut rng) {
                                    self.send_one(&out[..len], &meta, false);
                                }
                                continue;
                            }
                            Outcome::Kod(len) => (len, Queued::Kod),
                            Outcome::Drop => continue,
                        };
                        batch.commit(len, meta.source, self.reply_source(&meta));
                        outcomes.push(queued);
                    }
                    let t3 = snapshot.correction.apply(SystemClock.now());
                    for (buf, queued) in batch.queued_bufs().zip(outcomes.iter()) {
                        if let Queued::Reply(p, mac) = queued {
                            let len = p.finish(buf, t3);
                            // The MAC length was checked against the request; it fits.
                            let _ = self.append_mac(&policy, buf, len, *mac);
                        }
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
    /// its transmit timestamp) or kiss-o'-death into `out`, or counts why
    /// there is none.
    #[inline]
    fn prepare<'a>(
        &self,
        data: &'a [u8],
        meta: &RecvMeta,
        snapshot: &Snapshot,
        policy: &SecurityPolicy,
        limiter: Option<&mut RateLimiter>,
        out: &mut [u8],
    ) -> Outcome<'a> {
        let outcome = self.decide(data, meta, snapshot, policy, limiter, out);
        let now = meta.kernel_time.map(|k| k.secs.max(0) as u64).unwrap_or(0);
        self.clients.record(meta.source.ip(), now, matches!(outcome, Outcome::Reply(..)));
        outcome
    }

    #[inline]
    fn decide<'a>(
        &self,
        data: &'a [u8],
        meta: &RecvMeta,
        snapshot: &Snapshot,
        policy: &SecurityPolicy,
        limiter: Option<&mut RateLimiter>,
        out: &mut [u8],
    ) -> Outcome<'a> {
        self.stats.received();
        if meta.truncated || meta.len > self.options.max_packet_size {
            return self.drop(DropReason::TooLong);
        }
        let (rx_system, rx_secs) = match meta.kernel_time {
            Some(k) => (NtpTimestamp::from_unix(k.secs, k.nanos), k.secs as f64 + f64::from(k.nanos) * 1e-9),
            None => {
                self.stats.rx_timestamp_fallback();
                let (s, n) = SystemClock::unix_now();
                (NtpTimestamp::from_unix(s, n), s as f64 + f64::from(n) * 1e-9)
            }
        };
        let request = match parse_request(data, meta.source.port()) {
            Ok(r) => r,
            Err(reason) => {
                trace!(source = %meta.source, reason = reason.name(), "dropped");
                return self.drop(reason);
            }
        };
        let ip = meta.source.ip();
        let rx = snapshot.correction.apply(rx_system);
        if !policy.access.allows(ip) {
            self.stats.dropped(DropReason::Denied);
            return if policy.deny_kod { self.kod(&request, KissCode::Deny, snapshot, rx, out) } else { Outcome::Drop };
        }
        if let (Some(params), Some(limiter)) = (&policy.rate, limiter) {
            if limiter.check(ip, rx_secs, params) == Verdict::Limit {
                self.stats.dropped(DropReason::RateLimited);
                return if params.kod { self.kod(&request, KissCode::Rate, snapshot, rx, out) } else { Outcome::Drop };
            }
        }
        let is_nts =
            request.trailer.mac().is_none() && request.trailer.fields().any(|f| f.field_type == UNIQUE_IDENTIFIER);
        let protection = match request.trailer.mac() {
            Some(mac) => {
                let covered = &data[..data.len() - 4 - mac.digest.len()];
                match policy.keys.get(&mac.key_id) {
                    Some(key) if !mac.is_crypto_nak() && key.verify(covered, mac.digest) => {
                        Protection::Mac(mac.key_id, mac.digest.len())
                    }
                    _ => return self.drop(DropReason::AuthenticationFailed),
                }
            }
            None if is_nts => {
                let Some(nts) = &policy.nts else { return self.drop(DropReason::Nts) };
                let keys = nts.0.load();
                match server_verify(data, &keys) {
                    Ok(verified) => Protection::Nts(verified),
                    Err(Ok(nak)) => {
                        // Unknown or expired cookie, or a bad authenticator: NTS NAK.
                        self.stats.dropped(DropReason::Nts);
                        return match write_nts_nak(&request, nak, snapshot.server.precision, rx, out) {
                            Ok(len) if len <= request.len => Outcome::Kod(len),
                            _ => Outcome::Drop,
                        };
                    }
                    Err(Err(_)) => return self.drop(DropReason::Nts),
                }
            }
            None if policy.must_authenticate(ip) => return self.drop(DropReason::AuthenticationFailed),
            None => Protection::None,
        };
        let extra = match &protection {
            Protection::Mac(_, d) => 4 + d,
            _ => 0,
        };
        match write_reply(&request, rx, &snapshot.server, out) {
            Ok(p) if p.len() + extra <= meta.len => Outcome::Reply(p, protection),
            Ok(_) => self.drop(DropReason::ReplyTooLarge),
            Err(reason) => self.drop(reason),
        }
    }

    /// Adds the reply's MAC or NTS fields after T3 was stamped; None when
    /// it cannot be protected (then nothing is sent).
    fn protect(
        &self,
        policy: &SecurityPolicy,
        out: &mut [u8],
        len: usize,
        request_len: usize,
        protection: Protection<'_>,
        rng: &mut ChaCha20Rng,
    ) -> Option<usize> {
        match protection {
            Protection::None => Some(len),
            Protection::Mac(id, d) => self.append_mac(policy, out, len, Some((id, d))),
            Protection::Nts(verified) => {
                let keys = policy.nts.as_ref()?.0.load();
                let mut nonce = [0u8; 16];
                let n = verified.keys.aead.nonce_len().min(nonce.len());
                rng.fill_bytes(&mut nonce[..n]);
                let result = server_reply_fields(out, &verified, request_len, &keys, &nonce[..n], || {
                    let mut c = [0u8; 16];
                    rng.fill_bytes(&mut c);
                    c
                });
                match result {
                    Ok(len) => {
                        self.stats.nts_replied();
                        Some(len)
                    }
                    Err(_) => {
                        self.stats.dropped(DropReason::Nts);
                        None
                    }
                }
            }
        }
    }

    #[inline]
    fn drop(&self, reason: DropReason) -> Outcome<'static> {
        self.stats.dropped(reason);
        Outcome::Drop
    }

    fn kod(
        &self,
        request: &ClientRequest<'_>,
        code: KissCode,
        snapshot: &Snapshot,
        now: NtpTimestamp,
        out: &mut [u8],
    ) -> Outcome<'static> {
        match write_kod(request, code, snapshot.server.precision, now, out) {
            Ok(len) if len <= request.len => Outcome::Kod(len),
            _ => Outcome::Drop,
        }
    }

    /// Appends the MAC (if the request was authenticated); None when the key
    /// vanished in a reload between decision and send.
    #[inline]
    fn append_mac(
        &self,
        policy: &SecurityPolicy,
        out: &mut [u8],
        len: usize,
        mac: Option<(u32, usize)>,
    ) -> Option<usize> {
        let Some((id, digest_len)) = mac else { return Some(len) };
        let key = policy.keys.get(&id)?;
        self.stats.authenticated();
        key.append_mac(out, len, digest_len)
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
    fn send_one(&self, reply: &[u8], meta: &RecvMeta, kod: bool) {
        match udp::send(&self.socket, reply, meta.source, self.reply_source(meta)) {
            Ok(_) if kod => self.stats.kod_sent(),
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
