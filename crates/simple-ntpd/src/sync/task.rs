//! The synchronisation loop: resolves sources (pools too) and runs their
//! NTS key exchanges off the loop, drives each source's association
//! (`ntp_proto::association`, the same type the simulator drives) with a
//! socket and the clock, feeds the samples to the `ntp_sync::Engine`, steers
//! the chosen clock and publishes the result — the snapshot every reply
//! carries and the report the API shows. Runs on the daemon's event loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntp_config::Upstream;
use ntp_proto::association::{Event, RekeyReason};
use ntp_proto::server::ServerState;
use ntp_proto::source::PollerState;
use ntp_proto::NtpDuration;
use ntp_sync::{ClockAction, Engine, EngineConfig, MakeStep, SyncStatus};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::background::{self, Done, DoneSender};
use super::broadcast::{BroadcastListeners, BroadcastSpec};
use super::debug::sync_debug;
use super::driftfile;
use super::drivers::{DriverClock, KernelDriver, Steering, VirtualDriver};
use super::net::{Incoming, Report};
use super::refclocks::RefclockSources;
use super::report::{sync_report, ChangeLog, Peer};
use super::source::RunningSource;
use crate::random::Csprng;
use crate::refclock::devices::Devices;
use crate::refclock::spec::RefclockSpec;
use crate::security::keys::SymmetricKeys;
use crate::served::local::LocalReference;
use crate::served::{Correction, Snapshot, StateCell};
use crate::status::StatusHub;

mod admit;
mod broadcast_client;

/// Everything the loop needs from the configuration. Compared whole on
/// reload: any difference restarts the loop.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncSettings {
    /// Sources (`Config::upstreams()`).
    pub upstreams: Vec<Upstream>,
    /// Resolved discipline (system or virtual).
    pub discipline: Steering,
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
    pub keys: SymmetricKeys,
    /// Measured clock precision.
    pub precision: i8,
    /// Reference clocks (their drivers are started by the daemon).
    pub refclocks: Vec<RefclockSpec>,
    /// Only unlocked PPS clocks: the host clock names the seconds.
    pub pps_on_local_clock: bool,
    /// Broadcast servers to follow (`[[sources.broadcast]]`).
    pub broadcast: Vec<BroadcastSpec>,
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

/// A configured source with nothing running yet: when to look it up (or
/// run its NTS key exchange) again.
struct Pending {
    upstream: usize,
    next_try: Instant,
    backoff: Duration,
}

const DRIFT_WRITE_EVERY: Duration = Duration::from_secs(3600);
const POOL_CHECK_EVERY: Duration = Duration::from_secs(600);

fn to_duration(d: NtpDuration) -> Duration {
    Duration::from_secs_f64(d.to_seconds().clamp(0.0, 3600.0))
}

struct Loop {
    settings: SyncSettings,
    clock: Box<dyn DriverClock>,
    engine: Engine,
    ups: Vec<RunningSource>,
    pending: Vec<Pending>,
    tx: mpsc::Sender<Incoming>,
    next_key: u64,
    state: StateCell,
    hub: Arc<StatusHub>,
    /// What was last logged about the system state.
    logged: ChangeLog,
    /// Pool members dropped as dead or refusing, and when: a re-resolved
    /// pool does not hand the same address straight back.
    retired: Vec<(SocketAddr, Instant)>,
    /// Where background lookups and key exchanges report back.
    done_tx: DoneSender,
    /// What was served when this loop replaced another (a reload), and
    /// until when it may stand in while the new engine has not synchronised
    /// yet: clients see holdover, not a gap of leap-3 replies.
    held: Option<(ServerState, Instant)>,
    /// Transmit cookies, NTS unique ids and nonces.
    rng: Csprng,
    /// Reference clocks.
    refclocks: RefclockSources,
    /// Configured sources refused (clients-only VLAN), and how often.
    refusals: std::collections::HashMap<usize, u32>,
    /// Where broadcasts are listened for.
    broadcast: BroadcastListeners,
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
        Steering::System => Box::new(KernelDriver::new()),
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
        max_slew_ppm: if settings.discipline == Steering::System { 500.0 } else { 83_333.0 },
        ..EngineConfig::default()
    });
    let (refclocks, mut refclock_rx) =
        RefclockSources::new(devices, settings.pps_on_local_clock, &mut engine, clock.as_ref());
    let (tx, mut rx) = mpsc::channel(256);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (broadcast_tx, mut broadcast_rx) = mpsc::channel(64);
    if !settings.broadcast.is_empty() {
        hub.interfaces().set_broadcast_sink(Some(broadcast_tx.clone()));
    }
    let broadcast = BroadcastListeners::new(settings.broadcast.clone(), broadcast_tx);
    hub.problems().keep_lookups(&settings.upstreams.iter().map(|u| u.host.clone()).collect::<Vec<_>>());
    let pending = (0..settings.upstreams.len())
        .map(|upstream| Pending { upstream, next_try: Instant::now(), backoff: Duration::from_secs(2) })
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
        logged: ChangeLog::default(),
        retired: Vec::new(),
        done_tx,
        held,
        rng: crate::random::csprng(),
        refclocks,
        refusals: std::collections::HashMap::new(),
        broadcast,
    };
    let mut last_tick = Instant::now();
    let mut last_drift = Instant::now();
    let mut last_pool_check = Instant::now();
    loop {
        l.engine.set_leap_table(l.state.leap().table.clone());
        l.resolve_due();
        l.rekey_due();
        l.broadcast.open_due(&l.hub.interfaces().load(), &l.hub.listen());
        l.poll_due();
        for action in l.refclocks.poll_due(&mut l.engine, l.clock.as_mut()) {
            l.on_action(Some(action));
        }
        let now = l.clock.now();
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
            msg = rx.recv() => if let Some(msg) = msg { l.on_report(msg) },
            b = broadcast_rx.recv() => if let Some(b) = b { l.on_broadcast(b) },
            done = done_rx.recv() => if let Some(done) = done { l.on_done(done) },
            ev = refclock_rx.recv() => if let Some(ev) = ev { l.refclocks.on_event(ev, l.clock.as_ref(), &l.engine) },
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    l.hub.interfaces().set_broadcast_sink(None);
    l.write_drift();
    // A slew in progress is the engine's temporary extra frequency: the
    // successor's engine would not know to remove it. Hand over the base.
    if l.engine.next_tick_at().is_some() {
        let base = l.engine.system_state().frequency_ppm;
        if let Err(e) = l.clock.set_frequency(base) {
            warn!(error = %e, "cannot end the running slew before stopping");
        }
    }
    (l.clock.discipline() == Steering::Virtual).then(|| l.clock.correction())
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
            let upstream = &self.settings.upstreams[p.upstream];
            if upstream.nts {
                background::key_exchange_new(&self.done_tx, p.upstream, upstream, p.backoff);
            } else {
                background::resolve(&self.done_tx, p.upstream, upstream, p.backoff);
            }
        }
    }

    /// Starts NTS key exchanges for running sources whose association asked
    /// for one, one at a time per source, backing off after failures.
    fn rekey_due(&mut self) {
        let now = Instant::now();
        for u in &mut self.ups {
            if u.rekey_due(now) {
                u.rekey_in_flight = true;
                background::rekey(&self.done_tx, u.key, &self.settings.upstreams[u.upstream]);
            }
        }
    }

    /// Takes in a finished lookup or key exchange.
    fn on_done(&mut self, done: Done) {
        match done {
            Done::Resolved { upstream: idx, backoff, result } => {
                let wanted = self.settings.upstreams[idx].pool.unwrap_or(1) as usize;
                let host = self.settings.upstreams[idx].host.clone();
                let mut added = self.ups.iter().filter(|u| u.upstream == idx).count();
                self.hub.problems().lookup(&host, result.as_ref().err().map(ToString::to_string));
                match result {
                    Ok(addrs) => {
                        for addr in addrs {
                            if added >= wanted {
                                break;
                            }
                            if self.ups.iter().any(|u| u.addr == addr) || self.retired.iter().any(|(a, _)| *a == addr) {
                                continue;
                            }
                            match self.add_source(idx, addr, None) {
                                Ok(()) => added += 1,
                                Err(e) => {
                                    warn!(source = %host, address = %addr, error = %e, "cannot open a socket for source")
                                }
                            }
                        }
                    }
                    Err(e) => debug!(source = %host, error = %e, retry_s = backoff.as_secs(), "cannot resolve source"),
                }
                if added < wanted {
                    self.retry_later(idx, backoff);
                }
            }
            Done::KeyExchanged { upstream: idx, backoff, result } => {
                let host = self.settings.upstreams[idx].host.clone();
                match result {
                    Ok(session) => {
                        let addr = session.ntp_addr;
                        if let Err(e) = self.add_source(idx, addr, Some(session)) {
                            warn!(source = %host, error = %e, "cannot open a socket for source");
                            self.retry_later(idx, backoff);
                        }
                    }
                    Err(e) => {
                        warn!(source = %host, error = %format!("{e:#}"), retry_s = backoff.as_secs(), "NTS key exchange failed");
                        self.retry_later(idx, backoff);
                    }
                }
            }
            Done::Rekeyed { source, result } => {
                // The source may have been replaced meanwhile.
                let Some(u) = self.ups.iter_mut().find(|u| u.key == source) else { return };
                match result {
                    Ok(session) => {
                        if session.ntp_addr != u.addr {
                            warn!(source = %u.name, "NTS-KE now names another NTP address; keeping {}", u.addr);
                        }
                        info!(source = %u.name, "NTS session renewed");
                        u.assoc.set_nts_session(session.keys, session.cookies);
                        u.rekeyed();
                    }
                    Err(e) => {
                        warn!(source = %u.name, error = %format!("{e:#}"), retry_s = u.rekey_backoff.as_secs(), "NTS key exchange failed");
                        u.rekey_failed();
                    }
                }
            }
        }
    }

    /// Sends every request that is due.
    fn poll_due(&mut self) {
        for i in 0..self.ups.len() {
            let now = self.clock.now();
            let u = &mut self.ups[i];
            let clock = self.clock.as_ref();
            if u.poll(now, &|| clock.now(), &mut self.rng) {
                self.engine.update_reach(u.id, u.assoc.reach());
            }
            u.log_reachability();
            self.handle_events(i);
        }
    }

    /// Takes in what a source's socket reported: a datagram from the
    /// server, or the kernel's transmit time of our request.
    fn on_report(&mut self, msg: Incoming) {
        let Some(i) = self.ups.iter().position(|u| u.key == msg.key) else { return };
        match msg.report {
            Report::Datagram { data, rx_system } => {
                // Hooks: the `drop_source` test fault, the statistics logs.
                if self.hub.faults().drops(&self.ups[i].name, self.ups[i].addr) {
                    return;
                }
                self.hub.statistics().reply(self.ups[i].addr, &data);
                let t4 = self.clock.correction().apply(rx_system);
                let now = self.clock.now();
                self.ups[i].assoc.handle_datagram(&data, t4, now);
                self.handle_events(i);
            }
            Report::Transmitted { id, tx_system } => {
                let t1 = self.clock.correction().apply(tx_system);
                self.ups[i].on_transmitted(id, t1);
            }
        }
    }

    /// Acts on what source `i`'s association reports.
    fn handle_events(&mut self, i: usize) {
        while let Some(event) = self.ups[i].assoc.poll_event() {
            let u = &mut self.ups[i];
            match event {
                Event::Sample(sample) => {
                    let id = u.id;
                    self.engine.update_reach(id, u.assoc.reach());
                    let update = self.engine.on_sample(id, &sample, self.clock.as_mut());
                    self.hub.statistics().sample(self.ups[i].addr, id, &sample, &update, &self.engine);
                    self.ups[i].assoc.advise_poll(update.poll_advice);
                    self.on_action(update.action);
                }
                Event::KeyExchangeNeeded(why) => {
                    match why {
                        RekeyReason::CookiesUsedUp => {
                            info!(source = %u.name, "NTS cookies used up; renewing the key exchange")
                        }
                        RekeyReason::Nak => warn!(source = %u.name, "NTS NAK: renewing the key exchange"),
                        RekeyReason::BadSession => {
                            warn!(source = %u.name, "NTS session unusable; renewing the key exchange")
                        }
                    }
                    u.rekey = true;
                }
                // The association sends nothing more; its last estimate must
                // not be selected or counted any more.
                Event::Demobilised(code) => {
                    warn!(source = %u.name, address = %u.addr, kiss_code = ?code, "the source refuses us (kiss-o'-death): no longer polled or used");
                    let id = u.id;
                    self.engine.remove_source(id);
                }
                Event::Rejected(reason) => debug!(source = %u.name, reason = %reason, "reply rejected"),
            }
        }
    }

    fn on_action(&mut self, action: Option<ClockAction>) {
        let step = action.as_ref().map_or(0.0, ClockAction::clock_jump);
        self.refclocks.clock_changed(self.clock.as_ref(), step);
        if step != 0.0 {
            self.ups.iter_mut().for_each(|u| u.assoc.clock_stepped(step));
        }
        match action {
            Some(ClockAction::Stepped { offset }) => {
                warn!(offset_s = offset, discipline = self.clock.discipline().name(), "clock stepped");
            }
            Some(ClockAction::LeapSecond { offset }) => {
                let what = if offset < 0.0 { "inserted" } else { "deleted" };
                warn!(discipline = self.clock.discipline().name(), "leap second {what}");
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
                self.settings.upstreams.get(u.upstream).is_some_and(|x| x.pool.is_some())
                    && ((u.assoc.reach().bits() == 0 && u.assoc.reach().sent() >= 8)
                        || matches!(u.assoc.status().state, PollerState::Demobilised(_)))
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
            if !self.pending.iter().any(|p| p.upstream == u.upstream) {
                self.pending.push(Pending {
                    upstream: u.upstream,
                    next_try: Instant::now(),
                    backoff: Duration::from_secs(2),
                });
            }
        }
    }

    fn write_drift(&self) {
        let Some(path) = &self.settings.driftfile else { return };
        let st = self.engine.system_state();
        if st.updates == 0 {
            return;
        }
        driftfile::save(path, st.frequency_ppm, st.frequency_sd_ppm, self.hub.problems());
    }

    fn next_wakeup(&self) -> Duration {
        let now = self.clock.now();
        let mut next = Duration::from_secs(1);
        for t in self.ups.iter().filter_map(|u| u.assoc.poll_timeout()) {
            next = next.min(to_duration(t.since(now)));
        }
        let smear_edges = crate::served::leap::smear_edges(&self.state.leap(), self.engine.leap_events(), now);
        for t in self.engine.next_tick_at().into_iter().chain(self.refclocks.next_poll_at()).chain(smear_edges) {
            next = next.min(to_duration(t.since(now)));
        }
        next.max(Duration::from_millis(1))
    }

    /// Publishes the served state and the report, and logs changes of
    /// status, leap indicator and selected source.
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
        let leap = self.state.leap();
        let (server, correction) = crate::served::leap::serve(
            &leap,
            server,
            self.clock.correction(),
            crate::clock::SystemClock.now(),
            self.engine.leap_events(),
        );
        self.state.publish(Snapshot { server, correction });
        self.logged.log(&st, self.settings.local_fallback, |p| {
            self.ups
                .iter()
                .find(|u| u.id == p)
                .map(|u| Peer::Source { name: u.name.clone(), address: u.addr })
                .or_else(|| self.refclocks.name_of(p).map(|name| Peer::Refclock(name.to_string())))
        });
        // Hooks: the tracking log, the debug endpoint.
        self.hub
            .statistics()
            .published(&self.engine, now, |p| self.ups.iter().find(|u| u.id == p).map(|u| u.addr.ip()));
        let waiting: Vec<&str> = self
            .pending
            .iter()
            .filter(|p| !self.ups.iter().any(|u| u.upstream == p.upstream))
            .map(|p| self.settings.upstreams[p.upstream].host.as_str())
            .collect();
        // Broadcast sources no server has been heard for yet.
        let unicast = self.settings.upstreams.len();
        let listening: Vec<String> = self
            .settings
            .broadcast
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.ups.iter().any(|u| u.upstream == unicast + i))
            .map(|(_, b)| b.name())
            .collect();
        let waiting: Vec<&str> = waiting.into_iter().chain(listening.iter().map(String::as_str)).collect();
        if self.hub.debug_wanted() {
            let (discipline, correction) = (self.clock.discipline().name(), self.clock.correction());
            let debug = sync_debug(&self.engine, &self.ups, waiting.iter().copied(), now, discipline, correction);
            self.hub.set_sync_debug(Some(debug));
        }
        let reports = self.engine.sources(now);
        let refclocks = self.refclocks.report(&reports, now);
        self.hub.set_sync(sync_report(
            &self.engine,
            &reports,
            &self.ups,
            waiting.into_iter(),
            refclocks,
            now,
            self.clock.frequency_ppm(),
            self.clock.discipline().name(),
            self.settings.local_fallback.is_some(),
        ));
    }
}
