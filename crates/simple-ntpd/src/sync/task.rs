//! The synchronisation loop: resolves sources (pools too), polls each with
//! its `SourcePoller`, feeds samples to the `ntp_sync::Engine`, steers the
//! chosen clock and publishes the result — the snapshot every reply carries
//! and the report the API shows. Runs on the daemon's event loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_proto::auth::SymmetricKey;
use ntp_proto::extension::Trailer;
use ntp_proto::kod::KissCode;
use ntp_proto::packet::LeapIndicator;
use ntp_proto::server::ServerState;
use ntp_proto::source::{PollConfig, PollerState, Reject, SourceConfig, SourcePoller};
use ntp_proto::{NtpDuration, NtpTimestamp};
use ntp_sync::{ClockAction, Engine, EngineConfig, MakeStep, SelectionState, SourceId, SourceParams, SyncStatus};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::background::{self, Done, DoneSender};
use super::driftfile;
use super::drivers::{Discipline, DriverClock, KernelDriver, VirtualDriver};
use super::net::{Incoming, UpstreamSocket};
use super::nts_client::NtsSession;
use super::refclocks::RefclockSources;
use super::spec::SourceSpec;
use crate::api::model::{Source, SourceState};
use crate::refclock::devices::Devices;
use crate::refclock::spec::RefclockSpec;
use crate::state::local::LocalReference;
use crate::state::{Correction, Snapshot, StateCell};
use crate::status::{StatusHub, SyncReport};
use ntp_proto::nts::ef::{client_request as nts_request, client_verify_reply, NtsError};

/// Everything the loop needs from the configuration.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Sources.
    pub specs: Vec<SourceSpec>,
    /// Resolved discipline (system or virtual).
    pub discipline: Discipline,
    /// makestep threshold (s) and limit (updates).
    pub makestep: (f64, u32),
    /// Panic threshold, s (0 = off).
    pub panic_threshold: f64,
    /// Fewest agreeing sources.
    pub min_sources: usize,
    /// Local fallback stratum.
    pub local_fallback: Option<u8>,
    /// Drift file.
    pub driftfile: Option<PathBuf>,
    /// Keys for sources with `key`.
    pub keys: HashMap<u32, SymmetricKey>,
    /// Measured clock precision.
    pub precision: i8,
    /// Reference clocks (their drivers are started by the daemon).
    pub refclocks: Vec<RefclockSpec>,
    /// Only unlocked PPS clocks: the host clock names the seconds.
    pub pps_on_local_clock: bool,
}

/// A running loop.
pub struct SyncHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Option<Correction>>,
}

impl SyncHandle {
    /// Stops the loop (writing the drift file) and returns the virtual
    /// clock's correction, so a successor can continue it.
    pub async fn stop(mut self) -> Option<Correction> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.ok().flatten()
    }
}

/// Starts the loop on the current runtime; `devices` are the running
/// drivers of `settings.refclocks`.
pub fn start(
    settings: SyncSettings,
    state: StateCell,
    hub: Arc<StatusHub>,
    previous: Option<Correction>,
    devices: Option<Arc<Devices>>,
) -> SyncHandle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(settings, state, hub, previous, devices, stop_rx));
    SyncHandle { stop: Some(stop_tx), task }
}

struct Upstream {
    key: u64,
    name: String,
    spec: usize,
    addr: SocketAddr,
    poller: SourcePoller,
    id: SourceId,
    socket: UpstreamSocket,
    mac: Option<SymmetricKey>,
    sent_at: Option<NtpTimestamp>,
    reachable: bool,
    /// NTS session, for `nts = true` sources.
    nts: Option<NtsSession>,
    /// Unique identifier of the outstanding NTS request.
    nts_uid: [u8; 32],
    /// The session must be renewed (NAK, or no cookies left).
    rekey: bool,
    /// A renewal is running in the background.
    rekey_in_flight: bool,
    /// No renewal before this (after a failed one).
    rekey_retry_at: Instant,
    /// Wait after the next failed renewal.
    rekey_backoff: Duration,
}

/// First wait after a failed NTS session renewal.
const REKEY_FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between attempts to resolve or key a source.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

struct Pending {
    spec: usize,
    next_try: Instant,
    backoff: Duration,
}

const DRIFT_WRITE_EVERY: Duration = Duration::from_secs(3600);
const POOL_CHECK_EVERY: Duration = Duration::from_secs(600);

fn to_duration(d: NtpDuration) -> Duration {
    Duration::from_secs_f64(d.to_seconds().clamp(0.0, 3600.0))
}

fn cookie() -> NtpTimestamp {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        // No randomness: a time-derived cookie still matches replies.
        return crate::clock::Clock::now(&crate::clock::SystemClock);
    }
    NtpTimestamp::from_bits(u64::from_ne_bytes(b))
}

struct Loop {
    settings: SyncSettings,
    clock: Box<dyn DriverClock>,
    engine: Engine,
    ups: Vec<Upstream>,
    pending: Vec<Pending>,
    tx: mpsc::Sender<Incoming>,
    next_key: u64,
    state: StateCell,
    hub: Arc<StatusHub>,
    last_status: Option<SyncStatus>,
    last_peer: Option<SourceId>,
    /// The leap indicator last published while synchronised.
    last_leap: LeapIndicator,
    /// Pool members dropped as dead or refusing, and when: a re-resolved
    /// pool does not hand the same address straight back.
    retired: Vec<(SocketAddr, Instant)>,
    /// Where background lookups and key exchanges report back.
    done_tx: DoneSender,
    /// What was served when this loop replaced another (a reload), and
    /// until when it may stand in while the new engine has not synchronised
    /// yet: clients see holdover, not a gap of leap-3 replies.
    held: Option<(ServerState, Instant)>,
    /// Reference clocks.
    refclocks: RefclockSources,
}

/// The longest a reload may serve the previous state (its root dispersion
/// keeps growing at PHI meanwhile) before the new sources have synchronised.
const HOLD_ACROSS_RELOAD: Duration = Duration::from_secs(300);

/// How long a retired pool member is not taken again.
const RETIRED_FOR: Duration = Duration::from_secs(3600);

async fn run(
    settings: SyncSettings,
    state: StateCell,
    hub: Arc<StatusHub>,
    previous: Option<Correction>,
    devices: Option<Arc<Devices>>,
    mut stop: oneshot::Receiver<()>,
) -> Option<Correction> {
    let drift = settings.driftfile.as_deref().and_then(driftfile::read);
    if let (Some((f, _)), Some(p)) = (drift, &settings.driftfile) {
        info!(frequency_ppm = f, file = %p.display(), "read drift file");
    }
    let clock: Box<dyn DriverClock> = match settings.discipline {
        Discipline::System => Box::new(KernelDriver::new()),
        _ => Box::new(VirtualDriver::new(previous)),
    };
    let serving = state.load();
    let held = serving.server.is_synchronised().then(|| (serving.server, Instant::now() + HOLD_ACROSS_RELOAD));
    drop(serving);
    if held.is_some() {
        info!(
            "serving the previous state until the new sources synchronise (at most {} s)",
            HOLD_ACROSS_RELOAD.as_secs()
        );
    }
    let mut engine = Engine::new(EngineConfig {
        makestep: MakeStep { threshold: settings.makestep.0, limit: settings.makestep.1 },
        panic_threshold: (settings.panic_threshold > 0.0).then_some(settings.panic_threshold),
        min_sources: settings.min_sources.max(1),
        initial_frequency_ppm: if previous.is_some() { None } else { drift.map(|d| d.0) },
        initial_frequency_sd_ppm: drift.map(|d| d.1.max(0.05)).unwrap_or(100.0),
        precision: settings.precision,
        // The kernel's frequency interface stops at 500 ppm; a virtual clock
        // can slew as fast as chrony's default maximum (83333 ppm).
        max_slew_ppm: if settings.discipline == Discipline::System { 500.0 } else { 83_333.0 },
        ..EngineConfig::default()
    });
    let (refclocks, mut refclock_rx) =
        RefclockSources::new(devices, settings.pps_on_local_clock, &mut engine, clock.as_ref());
    let (tx, mut rx) = mpsc::channel(256);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let pending = (0..settings.specs.len())
        .map(|spec| Pending { spec, next_try: Instant::now(), backoff: Duration::from_secs(2) })
        .collect();
    let mut l = Loop {
        settings,
        clock,
        engine,
        ups: Vec::new(),
        pending,
        tx,
        next_key: 0,
        state,
        hub,
        last_status: None,
        last_peer: None,
        last_leap: LeapIndicator::NoWarning,
        retired: Vec::new(),
        done_tx,
        held,
        refclocks,
    };
    let mut last_tick = Instant::now();
    let mut last_drift = Instant::now();
    let mut last_pool_check = Instant::now();
    loop {
        l.resolve_due();
        l.rekey_due();
        let now = l.clock.now();
        l.poll_due(now);
        for action in l.refclocks.poll_due(&mut l.engine, l.clock.as_mut()) {
            l.on_action(Some(action));
        }
        if last_tick.elapsed() >= Duration::from_secs(1)
            || l.engine.next_tick_at().is_some_and(|t| now.since(t).to_bits() >= 0)
        {
            last_tick = Instant::now();
            let action = l.engine.tick(l.clock.as_mut());
            l.on_action(action);
            let status = l.engine.clock_status(l.clock.now());
            l.clock.set_status(&status);
        }
        if last_pool_check.elapsed() >= POOL_CHECK_EVERY {
            last_pool_check = Instant::now();
            l.replace_dead_pool_members();
        }
        if last_drift.elapsed() >= DRIFT_WRITE_EVERY {
            last_drift = Instant::now();
            l.write_drift();
        }
        l.publish();
        let sleep = l.next_wakeup();
        tokio::select! {
            _ = &mut stop => break,
            msg = rx.recv() => if let Some(msg) = msg { l.on_datagram(msg) },
            done = done_rx.recv() => if let Some(done) = done { l.on_done(done) },
            ev = refclock_rx.recv() => if let Some(ev) = ev { l.refclocks.on_event(ev, l.clock.as_ref(), &l.engine) },
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    l.write_drift();
    // A slew in progress is the engine's temporary extra frequency: the
    // successor's engine would not know to remove it. Hand over the base.
    if l.engine.next_tick_at().is_some() {
        let base = l.engine.system_state().frequency_ppm;
        if let Err(e) = l.clock.set_frequency(base) {
            warn!(error = %e, "cannot end the running slew before stopping");
        }
    }
    (l.clock.discipline() == Discipline::Virtual).then(|| l.clock.correction())
}

impl Loop {
    /// Starts lookups (or NTS key exchanges) for sources whose retry time
    /// has come; their results arrive through [`Loop::on_done`].
    fn resolve_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.next_try <= now);
        self.pending = later;
        for p in due {
            let spec = &self.settings.specs[p.spec];
            if spec.nts {
                background::key_exchange_new(&self.done_tx, p.spec, spec, p.backoff);
            } else {
                background::resolve(&self.done_tx, p.spec, spec, p.backoff);
            }
        }
    }

    /// Starts NTS key exchanges for running sources that need new cookies,
    /// one at a time per source, backing off after failures.
    fn rekey_due(&mut self) {
        let now = Instant::now();
        for u in &mut self.ups {
            if u.rekey && !u.rekey_in_flight && u.rekey_retry_at <= now {
                u.rekey_in_flight = true;
                background::rekey(&self.done_tx, u.key, &self.settings.specs[u.spec]);
            }
        }
    }

    /// Takes in a finished lookup or key exchange.
    fn on_done(&mut self, done: Done) {
        match done {
            Done::Resolved { spec: idx, backoff, result } => {
                let spec = self.settings.specs[idx].clone();
                let wanted = spec.pool.unwrap_or(1) as usize;
                let mut added = self.ups.iter().filter(|u| u.spec == idx).count();
                match result {
                    Ok(addrs) => {
                        for addr in addrs {
                            if added >= wanted {
                                break;
                            }
                            if self.ups.iter().any(|u| u.addr == addr) || self.retired.iter().any(|(a, _)| *a == addr) {
                                continue;
                            }
                            match self.add_upstream(idx, &spec, addr, None) {
                                Ok(()) => added += 1,
                                Err(e) => {
                                    warn!(source = %spec.host, address = %addr, error = %e, "cannot open a socket for source")
                                }
                            }
                        }
                    }
                    Err(e) => {
                        warn!(source = %spec.host, error = %e, retry_s = backoff.as_secs(), "cannot resolve source")
                    }
                }
                if added < wanted {
                    self.retry_later(idx, backoff);
                }
            }
            Done::KeyExchanged { spec: idx, backoff, result } => {
                let spec = self.settings.specs[idx].clone();
                match result {
                    Ok(session) => {
                        let addr = session.ntp_addr;
                        if let Err(e) = self.add_upstream(idx, &spec, addr, Some(session)) {
                            warn!(source = %spec.host, error = %e, "cannot open a socket for source");
                            self.retry_later(idx, backoff);
                        }
                    }
                    Err(e) => {
                        warn!(source = %spec.host, error = %format!("{e:#}"), retry_s = backoff.as_secs(), "NTS key exchange failed");
                        self.retry_later(idx, backoff);
                    }
                }
            }
            Done::Rekeyed { upstream, result } => {
                // The source may have been replaced meanwhile.
                let Some(u) = self.ups.iter_mut().find(|u| u.key == upstream) else { return };
                u.rekey_in_flight = false;
                match result {
                    Ok(session) => {
                        if session.ntp_addr != u.addr {
                            warn!(source = %u.name, "NTS-KE now names another NTP address; keeping {}", u.addr);
                        }
                        info!(source = %u.name, "NTS session renewed");
                        u.nts = Some(session);
                        u.rekey = false;
                        u.rekey_backoff = REKEY_FIRST_BACKOFF;
                    }
                    Err(e) => {
                        warn!(source = %u.name, error = %format!("{e:#}"), retry_s = u.rekey_backoff.as_secs(), "NTS key exchange failed");
                        u.rekey_retry_at = Instant::now() + u.rekey_backoff;
                        u.rekey_backoff = (u.rekey_backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    /// Tries spec `idx` again after `backoff`, doubling it for the time after.
    fn retry_later(&mut self, idx: usize, backoff: Duration) {
        let next = (backoff * 2).min(MAX_BACKOFF);
        self.pending.push(Pending { spec: idx, next_try: Instant::now() + backoff, backoff: next });
    }

    fn add_upstream(
        &mut self,
        spec_idx: usize,
        spec: &SourceSpec,
        addr: SocketAddr,
        nts: Option<NtsSession>,
    ) -> std::io::Result<()> {
        let mac = match spec.key {
            Some(id) => match self.settings.keys.get(&id) {
                Some(k) => Some(k.clone()),
                None => {
                    error!(source = %spec.host, key = id, "source names a key that is not configured; not polling it");
                    return Ok(());
                }
            },
            None => None,
        };
        let key = self.next_key;
        self.next_key += 1;
        let socket = UpstreamSocket::open(addr, key, self.tx.clone())?;
        let poll = PollConfig {
            minpoll: spec.minpoll,
            maxpoll: spec.maxpoll.max(spec.minpoll),
            iburst: spec.iburst,
            ..PollConfig::default()
        }
        .sanitised();
        let now = self.clock.now();
        let poller = SourcePoller::new(
            SourceConfig { poll, version: 4, response_timeout: 1.0, local_precision: self.settings.precision },
            now,
            // Spread the first polls of many sources a little.
            (key % 8) as f64 * 0.05,
        );
        let id = self.engine.add_source(SourceParams {
            address: Some(addr.ip()),
            prefer: spec.prefer,
            ..SourceParams::default()
        });
        info!(source = %spec.host, address = %addr, authenticated = mac.is_some(), nts = nts.is_some(), "source added");
        self.ups.push(Upstream {
            key,
            name: spec.host.clone(),
            spec: spec_idx,
            addr,
            poller,
            id,
            socket,
            mac,
            sent_at: None,
            reachable: false,
            nts,
            nts_uid: [0; 32],
            rekey: false,
            rekey_in_flight: false,
            rekey_retry_at: Instant::now(),
            rekey_backoff: REKEY_FIRST_BACKOFF,
        });
        Ok(())
    }

    fn poll_due(&mut self, now: NtpTimestamp) {
        let mut buf = [0u8; 128];
        for u in &mut self.ups {
            if u.poller.timeout_at().is_some_and(|t| now.since(t).to_bits() >= 0) {
                u.poller.handle_timeout(now);
            }
            if u.poller.next_poll_at().is_some_and(|t| now.since(t).to_bits() >= 0) {
                if u.rekey {
                    continue;
                }
                let t1 = self.clock.now();
                let Some(mut n) = u.poller.build_request(t1, cookie(), &mut buf) else { continue };
                if let Some(k) = &u.mac {
                    match k.append_mac(&mut buf, n, k.packet_digest_len(4)) {
                        Some(len) => n = len,
                        None => continue,
                    }
                }
                u.sent_at = Some(t1);
                let sent = match &mut u.nts {
                    Some(session) => match session.take_cookie() {
                        Some((c, placeholders)) => {
                            let _ = getrandom::getrandom(&mut u.nts_uid);
                            let mut nonce = [0u8; 16];
                            let nlen = session.keys.aead.nonce_len().min(16);
                            let _ = getrandom::getrandom(&mut nonce[..nlen]);
                            let mut header = [0u8; 48];
                            header.copy_from_slice(&buf[..48]);
                            match nts_request(&header, &u.nts_uid, &c, placeholders, &session.keys, &nonce[..nlen]) {
                                Ok(packet) => u.socket.send(&packet, u.addr),
                                Err(e) => {
                                    debug!(source = %u.name, error = ?e, "cannot build an NTS request");
                                    continue;
                                }
                            }
                        }
                        None => {
                            info!(source = %u.name, "NTS cookies used up; renewing the key exchange");
                            u.rekey = true;
                            continue;
                        }
                    },
                    None => u.socket.send(&buf[..n], u.addr),
                };
                if let Err(e) = sent {
                    debug!(source = %u.name, error = %e, "send failed");
                }
                self.engine.update_reach(u.id, u.poller.reach());
            }
            let reachable = u.poller.reach().is_reachable();
            if reachable != u.reachable {
                u.reachable = reachable;
                if reachable {
                    info!(source = %u.name, address = %u.addr, "source reachable");
                } else {
                    warn!(source = %u.name, address = %u.addr, "source unreachable");
                }
            }
        }
    }

    fn on_datagram(&mut self, msg: Incoming) {
        let Some(i) = self.ups.iter().position(|u| u.key == msg.key) else { return };
        let t4 = self.clock.correction().apply(msg.rx_system);
        let now = self.clock.now();
        let u = &mut self.ups[i];
        if let Some(k) = &u.mac {
            let ok = match ntp_proto::Header::decode(&msg.data)
                .ok()
                .and_then(|h| Trailer::parse(&msg.data, h.version).ok())
                .and_then(|t| t.mac())
            {
                Some(mac) if mac.key_id == k.id() && !mac.is_crypto_nak() => {
                    k.verify(&msg.data[..msg.data.len() - 4 - mac.digest.len()], mac.digest)
                }
                _ => false,
            };
            if !ok {
                debug!(source = %u.name, "reply without a valid MAC ignored");
                return;
            }
        }
        if let Some(session) = &mut u.nts {
            match client_verify_reply(&msg.data, &u.nts_uid, &session.keys) {
                Ok(cookies) => session.add_cookies(cookies),
                Err(NtsError::ReceivedNak) => {
                    warn!(source = %u.name, "NTS NAK: renewing the key exchange");
                    u.rekey = true;
                    return;
                }
                Err(e) => {
                    debug!(source = %u.name, error = ?e, "reply failed NTS verification; ignored");
                    return;
                }
            }
        }
        let t1 = u.sent_at.unwrap_or(now);
        match u.poller.handle_response(&msg.data, t1, t4, now) {
            Ok(sample) => {
                let id = u.id;
                self.engine.update_reach(id, u.poller.reach());
                let update = self.engine.on_sample(id, &sample, self.clock.as_mut());
                if let Some(u) = self.ups.iter_mut().find(|u| u.id == id) {
                    u.poller.advise_poll(update.poll_advice);
                }
                self.on_action(update.action);
            }
            // The poller has demobilised the source (later replies are
            // rejected as Demobilised, so this happens once): its last
            // estimate must not be selected or counted any more.
            Err(Reject::Kiss(code @ (KissCode::Deny | KissCode::Restricted))) => {
                warn!(source = %u.name, address = %u.addr, kiss_code = ?code, "the source refuses us (kiss-o'-death): no longer polled or used");
                let id = u.id;
                self.engine.remove_source(id);
            }
            Err(reject) => debug!(source = %u.name, reason = ?reject, "reply rejected"),
        }
    }

    fn on_action(&mut self, action: Option<ClockAction>) {
        let step = match action {
            Some(ClockAction::Stepped { offset }) => offset,
            _ => 0.0,
        };
        self.refclocks.clock_changed(self.clock.as_ref(), step);
        match action {
            Some(ClockAction::Stepped { offset }) => {
                warn!(offset_s = offset, discipline = self.clock.discipline().name(), "clock stepped");
                for u in &mut self.ups {
                    u.poller.clock_stepped(offset);
                }
            }
            Some(ClockAction::PanicRefused { offset }) => {
                error!(offset_s = offset, threshold_s = self.settings.panic_threshold, "offset beyond the panic threshold refused: not steering towards it (check the sources, or raise [clock] panic_threshold)");
            }
            Some(ClockAction::Failed(e)) => error!(error = %e, "the clock refused an adjustment"),
            Some(ClockAction::Slewed { offset, duration }) => {
                debug!(offset_s = offset, duration_s = duration, "slewing")
            }
            None => {}
        }
    }

    fn replace_dead_pool_members(&mut self) {
        let dead: Vec<usize> = self
            .ups
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                self.settings.specs[u.spec].pool.is_some()
                    && ((u.poller.reach().bits() == 0 && u.poller.reach().sent() >= 8)
                        || matches!(u.poller.status().state, PollerState::Demobilised(_)))
            })
            .map(|(i, _)| i)
            .collect();
        let now = Instant::now();
        self.retired.retain(|(_, at)| now.duration_since(*at) < RETIRED_FOR);
        for i in dead.into_iter().rev() {
            let u = self.ups.remove(i);
            self.retired.push((u.addr, now));
            self.engine.remove_source(u.id);
            warn!(pool = %u.name, address = %u.addr, "replacing an unreachable pool member");
            if !self.pending.iter().any(|p| p.spec == u.spec) {
                self.pending.push(Pending { spec: u.spec, next_try: Instant::now(), backoff: Duration::from_secs(2) });
            }
        }
    }

    fn write_drift(&self) {
        let Some(path) = &self.settings.driftfile else { return };
        let st = self.engine.system_state();
        if st.updates == 0 {
            return;
        }
        if let Err(e) = driftfile::write(path, st.frequency_ppm, st.frequency_sd_ppm) {
            warn!(file = %path.display(), error = %e, "cannot write the drift file");
        }
    }

    fn next_wakeup(&self) -> Duration {
        let now = self.clock.now();
        let mut next = Duration::from_secs(1);
        for u in &self.ups {
            for t in [u.poller.next_poll_at(), u.poller.timeout_at()].into_iter().flatten() {
                next = next.min(to_duration(t.since(now)));
            }
        }
        for t in self.engine.next_tick_at().into_iter().chain(self.refclocks.next_poll_at()) {
            next = next.min(to_duration(t.since(now)));
        }
        next.max(Duration::from_millis(1))
    }

    fn publish(&mut self) {
        let now = self.clock.now();
        let st = self.engine.system_state().clone();
        let synced = matches!(st.status, SyncStatus::Synchronised);
        // Only while the new engine is still starting, and not for ever.
        if !matches!(st.status, SyncStatus::Starting) || self.held.is_some_and(|(_, until)| Instant::now() >= until) {
            self.held = None;
        }
        let server = match (&self.held, self.settings.local_fallback) {
            (Some((previous, _)), _) => *previous,
            (None, Some(stratum)) if !synced => {
                LocalReference { stratum, precision: self.settings.precision }.snapshot(now).server
            }
            _ => self.engine.server_state(),
        };
        self.state.publish(Snapshot { server, correction: self.clock.correction() });
        if self.last_status != Some(st.status) {
            match st.status {
                SyncStatus::Synchronised => info!(stratum = st.stratum, offset_s = st.offset, "synchronised"),
                SyncStatus::Starting => {}
                other => {
                    warn!(status = ?other, local_fallback = ?self.settings.local_fallback, "not synchronised to any source")
                }
            }
            self.last_status = Some(st.status);
        }
        if synced && st.leap != self.last_leap {
            match st.leap {
                LeapIndicator::Insert => {
                    warn!("the sources announce a leap second: the last minute of the UTC day has 61 seconds")
                }
                LeapIndicator::Delete => {
                    warn!("the sources announce a leap second: the last minute of the UTC day has 59 seconds")
                }
                _ => info!("no leap second is announced any more"),
            }
            self.last_leap = st.leap;
        }
        if self.last_peer != st.system_peer {
            if let Some(u) = st.system_peer.and_then(|p| self.ups.iter().find(|u| u.id == p)) {
                info!(source = %u.name, address = %u.addr, "selected source changed");
            } else if let Some(name) = st.system_peer.and_then(|p| self.refclocks.name_of(p)) {
                info!(refclock = %name, "selected source changed");
            }
            self.last_peer = st.system_peer;
        }
        let reports = self.engine.sources(now);
        let mut sources: Vec<Source> = self
            .ups
            .iter()
            .map(|u| {
                let r = reports.iter().find(|r| r.id == u.id);
                let status = u.poller.status();
                Source {
                    name: u.name.clone(),
                    address: Some(u.addr.to_string()),
                    stratum: r.map(|r| r.stratum).unwrap_or(0),
                    reachability: u.poller.reach().bits(),
                    poll_seconds: 2f64.powi(i32::from(u.poller.poll())),
                    offset_seconds: r.map(|r| r.offset).unwrap_or(0.0),
                    delay_seconds: r.map(|r| r.delay).unwrap_or(0.0).max(0.0),
                    jitter_seconds: r.map(|r| r.jitter).unwrap_or(0.0).max(0.0),
                    state: r.map(|r| map_state(r.state)).unwrap_or(SourceState::Pending),
                    last_response_seconds_ago: status.last_sample.map(|t| now.since(t).to_seconds().max(0.0)),
                    refclock: None,
                }
            })
            .collect();
        for p in &self.pending {
            let spec = &self.settings.specs[p.spec];
            if !self.ups.iter().any(|u| u.spec == p.spec) {
                sources.push(Source {
                    name: spec.host.clone(),
                    address: None,
                    stratum: 0,
                    reachability: 0,
                    poll_seconds: 0.0,
                    offset_seconds: 0.0,
                    delay_seconds: 0.0,
                    jitter_seconds: 0.0,
                    state: SourceState::Unreachable,
                    last_response_seconds_ago: None,
                    refclock: None,
                });
            }
        }
        sources.extend(self.refclocks.report(&reports, now));
        self.hub.set_sync(SyncReport {
            offset: if synced { st.offset } else { 0.0 },
            jitter: st.jitter.max(0.0),
            frequency_ppm: self.clock.frequency_ppm(),
            discipline: self.clock.discipline().name().to_owned(),
            sources,
            local_fallback: self.settings.local_fallback.is_some() && !synced,
        });
    }
}

pub(crate) fn map_state(s: SelectionState) -> SourceState {
    match s {
        SelectionState::Selected => SourceState::Selected,
        SelectionState::Combined => SourceState::Combined,
        SelectionState::Candidate => SourceState::Candidate,
        SelectionState::Falseticker => SourceState::Falseticker,
        SelectionState::TooFar => SourceState::Outlier,
        SelectionState::Unreachable => SourceState::Unreachable,
        SelectionState::Pending => SourceState::Pending,
        SelectionState::NoSelect => SourceState::Outlier,
    }
}
