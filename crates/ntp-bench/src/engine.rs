//! The generator's single-threaded loop: send what the pacer allows in
//! `sendmmsg` batches, drain every readable socket with `recvmmsg`, match
//! replies, retire timed-out requests; warm-up, then the measurement window,
//! then a drain of at most one timeout for the window's last replies.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::ntp::{encode_request, ntp_from_unix_ns, parse_reply, write_request, HEADER_LEN};
use crate::nts::{Nts, Rng, Session, Verdict};
use crate::pacing::{Load, Pacer};
use crate::stats::Stats;
use crate::sys::{self, Epoll, RecvBatch, BATCH};
use crate::tracker::{Outcome, Tracker};
use crate::{sockets, NtsSummary, RunResult};

/// Largest in-flight table (16 M requests); bigger rate × timeout products are refused.
const MAX_TABLE: f64 = (1u64 << 24) as f64;
/// Send batches per loop turn before receiving again.
const SEND_ROUNDS: usize = 4;
/// `recvmmsg` calls per ready socket per loop turn.
const RECV_ROUNDS: usize = 8;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The NTP server.
    pub server: SocketAddr,
    /// Closed or open loop.
    pub load: Load,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Source sockets (distinct loopback addresses when > 1).
    pub sources: usize,
    /// A request without a reply after this long is lost.
    pub timeout: Duration,
    /// Requests per `sendmmsg` (1..=64).
    pub batch: usize,
    /// Busy-poll while sending instead of blocking in `epoll_wait` (the
    /// generator then never needs a wake-up, which would cost the server's
    /// core an IPI per reply batch and add wake-up latency).
    pub spin: bool,
}

/// Current time (CLOCK_REALTIME, the clock of SO_TIMESTAMPNS) in Unix ns.
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Runs one measurement; bounded by warm-up + duration + timeout.
pub fn run(cfg: &RunConfig) -> anyhow::Result<RunResult> {
    run_with(cfg, None)
}

/// [`run`], in NTS mode when `nts` holds the sessions of the key exchanges
/// (session i is used on source socket i % sources; at least one per socket).
pub fn run_with(cfg: &RunConfig, nts: Option<(Vec<Session>, NtsSummary)>) -> anyhow::Result<RunResult> {
    if let Some((sessions, _)) = &nts {
        anyhow::ensure!(sessions.len() >= cfg.sources, "NTS needs at least one session per source socket");
    }
    let socks = sockets::open(cfg.server, cfg.sources)?;
    let mut epoll = Epoll::new(socks.len().min(1024)).context("epoll")?;
    for (i, s) in socks.iter().enumerate() {
        epoll.add(s.as_raw_fd(), i as u64).context("epoll add")?;
    }
    // Phases and pacing run on the monotonic clock, so a step of the wall
    // clock cannot stretch the run; request and reply times use CLOCK_REALTIME.
    let epoch = Instant::now();
    let mono = || epoch.elapsed().as_nanos() as i64;
    let mut run = Run::new(cfg, now_ns())?;
    if let Some((sessions, summary)) = nts {
        run.nts = Some(Nts::new(sessions, socks.len(), run.table, Rng::from_os()));
        run.nts_summary = Some(summary);
    }
    let warmup_end = cfg.warmup.as_nanos() as i64;
    let window_end = warmup_end + cfg.duration.as_nanos() as i64;
    let timeout_ns = cfg.timeout.as_nanos() as i64;
    let mut drain_until = i64::MAX;
    let mut ready: Vec<usize> = Vec::with_capacity(socks.len().min(1024));
    loop {
        let now = mono();
        if run.window.is_none() && now >= warmup_end {
            run.window =
                Some(Window { start_ns: now_ns(), end_ns: i64::MAX, first_seq: run.tracker.next_seq(), end_seq: None });
        }
        if let Some(w) = run.window.as_mut().filter(|w| w.end_seq.is_none() && now >= window_end) {
            w.end_seq = Some(run.tracker.next_seq());
            w.end_ns = now_ns();
            drain_until = now + timeout_ns;
        }
        let sending = drain_until == i64::MAX;
        if sending {
            run.send(&socks, now);
        }
        let wait = match (sending, cfg.spin) {
            (true, true) => 0,
            (true, false) => run.pacer.wait_ms(mono(), run.tracker.outstanding()),
            (false, _) => 1,
        };
        ready.clear();
        epoll.wait(wait, |token| ready.push(token as usize)).context("epoll_wait")?;
        for &i in &ready {
            run.receive(&socks[i]);
        }
        match run.nts.as_mut() {
            Some(nts) => run.tracker.expire_each(now_ns() - timeout_ns, |seq| nts.expired(seq)),
            None => run.tracker.expire(now_ns() - timeout_ns),
        };
        if !sending && (run.tracker.outstanding() == 0 || mono() >= drain_until) {
            break;
        }
    }
    Ok(run.finish())
}

/// The measurement window: from the first loop turn after the warm-up to the
/// first after the duration; requests numbered `first_seq..end_seq` are measured.
#[derive(Clone, Copy, Debug)]
struct Window {
    start_ns: i64,
    end_ns: i64,
    first_seq: u64,
    end_seq: Option<u64>,
}

impl Window {
    fn measures(&self, seq: u64) -> bool {
        seq >= self.first_seq && self.end_seq.map_or(true, |end| seq < end)
    }
}

/// Mutable state of one run.
struct Run {
    pacer: Pacer,
    tracker: Tracker,
    stats: Stats,
    window: Option<Window>,
    packets: [[u8; HEADER_LEN]; BATCH],
    recv: RecvBatch,
    batch: usize,
    next_socket: usize,
    /// In-flight table size (for the NTS request ring).
    table: usize,
    /// NTS mode: sessions and the request ring.
    nts: Option<Nts>,
    nts_summary: Option<NtsSummary>,
    /// NTS mode: the batch's packets.
    nts_packets: Vec<Vec<u8>>,
}

impl Run {
    /// `start` is the wall-clock time at start (the base of the transmit
    /// timestamps); the pacer counts monotonic ns from the start.
    fn new(cfg: &RunConfig, start: i64) -> anyhow::Result<Run> {
        let timeout_s = cfg.timeout.as_secs_f64();
        let table = match cfg.load {
            Load::Closed { in_flight } => in_flight as f64 * 2.0,
            Load::Open { rate } => rate * (timeout_s + 0.01) * 2.0,
        } + 4096.0;
        anyhow::ensure!(table <= MAX_TABLE, "rate × timeout too large: lower --rate or --timeout-ms");
        Ok(Run {
            pacer: Pacer::new(cfg.load, 0),
            tracker: Tracker::new(ntp_from_unix_ns(start), table as usize),
            stats: Stats::default(),
            window: None,
            packets: [encode_request(0); BATCH],
            recv: RecvBatch::default(),
            batch: cfg.batch.clamp(1, BATCH),
            next_socket: 0,
            table: table as usize,
            nts: None,
            nts_summary: None,
            nts_packets: Vec::with_capacity(BATCH),
        })
    }

    /// Sends up to [`SEND_ROUNDS`] batches, round-robin over the sockets. A
    /// request's send time is the clock read just before its `sendmmsg` call:
    /// the earliest it can have left, so T2 − send is never negative for a
    /// correct server. (Interpolating inside the call is wrong on loopback,
    /// where the call may also run the softirq work that delivers packets.)
    fn send(&mut self, socks: &[UdpSocket], mono_now: i64) {
        let (mut budget, skipped) = self.pacer.budget(mono_now, self.tracker.outstanding());
        if self.window.is_some() {
            self.stats.counters.schedule_skipped += skipped;
        }
        for _ in 0..SEND_ROUNDS {
            if budget == 0 {
                break;
            }
            let mut n = (budget as usize).min(self.batch);
            let first = self.tracker.next_seq();
            for (i, p) in self.packets[..n].iter_mut().enumerate() {
                write_request(p, self.tracker.stamp(first + i as u64));
            }
            if let Some(nts) = self.nts.as_mut() {
                // Each socket's own sessions sign its requests; a socket whose
                // jars are empty is passed over, and if all are, nothing is sent.
                self.nts_packets.clear();
                for _ in 0..socks.len() {
                    for i in 0..n {
                        match nts.build(self.next_socket, first + i as u64, &self.packets[i]) {
                            Some(p) => self.nts_packets.push(p),
                            None => break,
                        }
                    }
                    if !self.nts_packets.is_empty() {
                        break;
                    }
                    self.next_socket = (self.next_socket + 1) % socks.len();
                }
                if self.nts_packets.is_empty() {
                    if self.window.is_some() {
                        self.stats.nts.no_cookie += 1;
                    }
                    break;
                }
                n = self.nts_packets.len();
            }
            let sock = &socks[self.next_socket];
            self.next_socket = (self.next_socket + 1) % socks.len();
            let t0 = now_ns();
            let sent = if self.nts.is_some() {
                sys::send_batch(sock.as_raw_fd(), &mut self.nts_packets[..n])
            } else {
                sys::send_batch(sock.as_raw_fd(), &mut self.packets[..n])
            };
            match sent {
                Ok(k) => {
                    for _ in 0..k {
                        self.tracker.record_sent(t0);
                    }
                    self.pacer.sent(k as u64);
                    budget -= k as u64;
                    if k < n {
                        self.stats.counters.send_blocked += 1;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.counters.send_blocked += 1;
                    break;
                }
                Err(_) => {
                    self.stats.counters.send_errors += 1;
                    break;
                }
            }
        }
    }

    /// Drains one readable socket (bounded, so sending is not starved).
    fn receive(&mut self, sock: &UdpSocket) {
        for _ in 0..RECV_ROUNDS {
            let n = match self.recv.recv(sock.as_raw_fd()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.stats.counters.recv_errors += 1;
                    return;
                }
            };
            let fallback = now_ns();
            for i in 0..n {
                let (data, rx) = self.recv.get(i);
                let counting = self.window.is_some();
                if rx.is_none() && counting {
                    self.stats.counters.no_kernel_timestamp += 1;
                }
                let rx = rx.unwrap_or(fallback);
                let reply = match parse_reply(data) {
                    Ok(r) => r,
                    Err(_) => {
                        if counting {
                            self.stats.counters.malformed += 1;
                        }
                        continue;
                    }
                };
                let mut authentic = true;
                if let Some(nts) = self.nts.as_mut() {
                    let mut scratch = crate::nts::NtsCounters::default();
                    let counters = if counting { &mut self.stats.nts } else { &mut scratch };
                    let verdict = nts.verify(self.tracker.seq_of(reply.origin), data, counters);
                    // Failed ones still retire their request (it counts as lost,
                    // not matched), so the closed loop does not stall on them.
                    authentic = matches!(verdict, Verdict::Ok | Verdict::Unknown);
                }
                let c = &mut self.stats.counters;
                match (self.tracker.on_reply(reply.origin), self.window) {
                    (Outcome::Matched { .. }, Some(_)) if !authentic => {}
                    (_, None) => {}
                    (Outcome::Matched { seq, send_ns }, Some(w)) => {
                        if rx >= w.start_ns && rx < w.end_ns {
                            c.replies_in_window += 1;
                        }
                        if w.measures(seq) {
                            self.stats.record_matched(send_ns, rx, &reply);
                        }
                    }
                    (Outcome::Late { .. }, Some(_)) => c.late += 1,
                    (Outcome::Duplicate { .. }, Some(_)) => c.duplicate += 1,
                    (Outcome::Unmatched, Some(_)) => c.unmatched += 1,
                }
            }
            if n < BATCH {
                return;
            }
        }
    }

    fn finish(mut self) -> RunResult {
        let w = self.window.unwrap_or(Window { start_ns: 0, end_ns: 0, first_seq: 0, end_seq: Some(0) });
        let end_seq = w.end_seq.unwrap_or_else(|| self.tracker.next_seq());
        self.stats.counters.sent = end_seq - w.first_seq;
        RunResult {
            stats: self.stats,
            window: Duration::from_nanos((w.end_ns - w.start_ns).max(0) as u64),
            nts: self.nts_summary,
        }
    }
}
