//! One simulated run: the real upstream `Association`s and `Engine` against
//! the model clock, servers and network, driven by an event queue in true
//! time exactly as the daemon drives them (`poll_timeout` → `handle_timeout`
//! → `poll_transmit`; T1 from the kernel's transmit timestamp through
//! `handle_transmit_timestamp`; `handle_datagram` with the kernel receive
//! timestamp, a little later → events), with the daemon's latencies between
//! those steps ([`crate::timestamping`]). The clock's true error is sampled
//! at every whole true second (when the frequency wander also takes its
//! step, as in clknetsim).

use crate::clock::{seconds, SimClock};
use crate::credentials::Credentials;
use crate::events::{Event, Queue};
use crate::faults::{FaultResult, Faults, RESOLVE_FIRST_BACKOFF, RESOLVE_MAX_BACKOFF};
use crate::refclocks::SimRefclocks;
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::server::ServerTables;
use crate::timestamping::T1Source;
use ntp_proto::association::{Association, Event as AssociationEvent};
use ntp_proto::source::SourceConfig;
use ntp_proto::NtpTimestamp;
use ntp_sync::{Clock, ClockAction, Engine, SelectionState, SourceId, SourceParams};

/// Housekeeping tick interval when the engine asks for none sooner, s.
const TICK_EVERY: f64 = 16.0;

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// RMS of the true clock error over the measured window, s.
    pub rms: f64,
    /// Mean of the true clock error over the measured window, s (a bias).
    pub mean: f64,
    /// Largest |error| over the measured window, s.
    pub max_abs: f64,
    /// First second from which |error| stayed below the sync threshold to
    /// the end (the duration if it never did), s.
    pub sync_time: f64,
    /// True if a falseticker was ever selected or combined.
    pub falseticker_selected: bool,
    /// Requests sent, all sources.
    pub requests: u64,
    /// Samples the engine accepted.
    pub samples: u64,
    /// Of those, interleaved ones (the server's real transmit time).
    pub interleaved_samples: u64,
    /// Clock steps (a leap second applied is not one).
    pub steps: u32,
    /// Leap seconds the client's clock applied.
    pub leaps: u32,
    /// Mean interval between requests per source, s.
    pub mean_poll_interval: f64,
    /// What each injected fault did (chaos scenarios).
    pub faults: Vec<FaultResult>,
}

struct Source {
    assoc: Association,
    id: SourceId,
    gen: u64,
    /// Its name resolved (always, unless lookups fail at the start).
    resolved: bool,
}

struct Sim<'a> {
    sc: &'a Scenario,
    rng: Rng,
    /// The servers' randomness (NTS nonces), apart from `rng` so plain runs
    /// draw exactly the same numbers whatever the protection.
    server_rng: Rng,
    credentials: Credentials,
    /// Each server's interleaved-mode state.
    tables: ServerTables,
    clock: SimClock,
    engine: Engine,
    sources: Vec<Source>,
    queue: Queue,
    tick_gen: u64,
    falseticker_selected: bool,
    samples: u64,
    interleaved_samples: u64,
    refclocks: Option<SimRefclocks>,
    refclock_gen: u64,
    faults: Faults,
    config: SourceConfig,
}

/// Runs `sc` once with random stream `index` of `seed`.
pub fn run(sc: &Scenario, seed: u64, index: u64) -> RunResult {
    let mut rng = Rng::new(seed, index);
    let clock = SimClock::new(sc.initial_error, sc.initial_drift).starting_at(sc.start);
    let mut engine = Engine::new(sc.engine);
    if let Some(leap) = sc.leap.filter(|l| l.table) {
        engine.set_leap_table(Some(leap.table()));
    }
    let config = SourceConfig {
        poll: sc.poll,
        local_precision: sc.engine.precision,
        xleave: sc.xleave,
        ..SourceConfig::default()
    };
    let mut credentials = Credentials::new(sc.auth);
    let mut sources = Vec::new();
    let faults = Faults::new(&sc.faults);
    let resolved = !faults.dns_down(sc.start);
    for (i, _) in sc.servers.iter().enumerate() {
        let id =
            engine.add_source(SourceParams { address: Some([192, 0, 2, i as u8 + 1].into()), ..Default::default() });
        let first = rng.range(0.0, 1.0);
        let assoc = Association::new(config, credentials.client(), clock.now(), first);
        sources.push(Source { assoc, id, gen: 0, resolved });
    }
    let refclocks = sc.receiver.map(|r| SimRefclocks::new(&r, &mut engine, &clock, sc.engine.precision));
    let mut sim = Sim {
        sc,
        rng,
        server_rng: Rng::new(seed, index ^ 0x5EED_5E4E),
        credentials,
        tables: sc.servers.iter().map(|s| s.table()).collect(),
        clock,
        engine,
        sources,
        queue: Queue::default(),
        tick_gen: 0,
        falseticker_selected: false,
        samples: 0,
        interleaved_samples: 0,
        refclocks,
        refclock_gen: 0,
        faults,
        config,
    };
    for i in 0..sim.sources.len() {
        sim.schedule_timer(i);
        if !resolved {
            sim.queue.push(sc.start, Event::Resolve { src: i, backoff: RESOLVE_FIRST_BACKOFF });
        }
    }
    let steps: Vec<(f64, f64)> = sim.faults.host_steps().collect();
    for (at, by) in steps {
        sim.queue.push(at, Event::HostStep { by });
    }
    sim.schedule_receiver(sc.start + 1.0);
    sim.schedule_refclock_poll();
    sim.schedule_tick();
    sim.run()
}

impl Sim<'_> {
    fn at_local(&self, ts: NtpTimestamp) -> f64 {
        let t = self.clock.true_time_of(seconds(ts)) + 1e-7;
        t.max(self.clock.true_time())
    }

    /// (Re)arms source `i`'s one timer at its association's `poll_timeout`.
    fn schedule_timer(&mut self, i: usize) {
        let s = &mut self.sources[i];
        s.gen += 1;
        if !s.resolved {
            return;
        }
        if let Some(at) = s.assoc.poll_timeout() {
            let (src, gen) = (i, s.gen);
            let t = self.at_local(at);
            self.queue.push(t, Event::Timer { src, gen });
        }
    }

    fn schedule_tick(&mut self) {
        self.tick_gen += 1;
        let housekeeping = self.clock.true_time() + TICK_EVERY;
        let t = self.engine.next_tick_at().map_or(housekeeping, |at| self.at_local(at).min(housekeeping));
        self.queue.push(t, Event::Tick { gen: self.tick_gen });
    }

    /// Queues true second `second`'s pulse and first sentence.
    fn schedule_receiver(&mut self, second: f64) {
        let Some(model) = self.sc.receiver else { return };
        if model.pps {
            if let Some(t) = model.pulse(second, &mut self.rng) {
                self.queue.push(t, Event::Pulse { second });
            }
        }
        let t = model.sentence(second, &mut self.rng);
        self.queue.push(t, Event::Sentence { second });
    }

    fn schedule_refclock_poll(&mut self) {
        let Some(at) = self.refclocks.as_ref().and_then(SimRefclocks::next_poll_at) else { return };
        self.refclock_gen += 1;
        let t = self.at_local(at);
        self.queue.push(t, Event::RefclockPoll { gen: self.refclock_gen });
    }

    /// After every engine update: associations and refclocks follow a step, the
    /// refclocks' waiting samples a frequency change.
    fn after_update(&mut self, action: Option<&ClockAction>) {
        let step = action.map_or(0.0, ClockAction::clock_jump);
        if step != 0.0 {
            for s in &mut self.sources {
                s.assoc.clock_stepped(step);
            }
        }
        if let Some(rc) = self.refclocks.as_mut() {
            rc.clock_changed(&self.clock, step);
        }
    }

    fn check_falsetickers(&mut self) {
        if self.sc.servers.iter().all(|s| !s.is_falseticker()) {
            return;
        }
        let now = self.clock.now();
        for (r, server) in self.engine.sources(now).iter().zip(&self.sc.servers) {
            if server.is_falseticker() && matches!(r.state, SelectionState::Selected | SelectionState::Combined) {
                self.falseticker_selected = true;
            }
        }
    }

    fn run(mut self) -> RunResult {
        let sc = self.sc;
        let (mut sum, mut sum_sq, mut n, mut max_abs) = (0.0, 0.0, 0u64, 0.0f64);
        let mut last_bad = sc.start;
        let mut second = sc.start;
        let end = sc.start + sc.duration;
        while second <= end {
            let next_event = self.queue.peek_time().unwrap_or(f64::INFINITY);
            if next_event > second {
                // Whole seconds first: measure, then let the frequency wander.
                self.clock.advance_to(second);
                // Against UTC: after a leap it lags true elapsed time.
                let e = self.clock.error() + sc.leap.map_or(0.0, |l| l.lag(second));
                // The instant a leap second takes effect is skipped: UTC is
                // discontinuous there (both sides are right).
                let at_leap = sc.leap.is_some_and(|l| second == l.at);
                if !at_leap {
                    self.faults.measure(second, e, sc.sync_threshold);
                }
                if second >= sc.start + sc.settle && !at_leap {
                    sum += e;
                    sum_sq += e * e;
                    n += 1;
                    max_abs = max_abs.max(e.abs());
                }
                if e.abs() >= sc.sync_threshold && !at_leap {
                    last_bad = second + 1.0;
                }
                if sc.wander > 0.0 {
                    let w = sc.wander * self.rng.normal();
                    self.clock.wander(w);
                }
                second += 1.0;
                continue;
            }
            let Some((t, event)) = self.queue.pop() else { break };
            self.clock.advance_to(t);
            self.handle(t, event);
        }
        let requests: u64 = self.sources.iter().map(|s| s.assoc.status().requests).sum();
        RunResult {
            rms: if n > 0 { (sum_sq / n as f64).sqrt() } else { 0.0 },
            mean: if n > 0 { sum / n as f64 } else { 0.0 },
            max_abs,
            sync_time: (last_bad - sc.start).min(sc.duration),
            falseticker_selected: self.falseticker_selected,
            requests,
            samples: self.samples + self.refclocks.as_ref().map_or(0, |r| r.samples),
            interleaved_samples: self.interleaved_samples,
            steps: self.clock.steps,
            leaps: self.clock.leaps,
            mean_poll_interval: sc.duration * self.sources.len() as f64 / requests.max(1) as f64,
            faults: self.faults.results(),
        }
    }

    fn handle(&mut self, t: f64, event: Event) {
        match event {
            Event::Timer { src, gen } => {
                if gen != self.sources[src].gen {
                    return;
                }
                let now = self.clock.now();
                let s = &mut self.sources[src];
                s.assoc.handle_timeout(now);
                let mut sent = s.assoc.poll_transmit(now, &mut self.rng);
                if sent.is_none() && s.assoc.awaiting_keys() {
                    // The key exchange is not simulated: new keys at once.
                    while s.assoc.poll_event().is_some() {}
                    let (keys, cookies) = self.credentials.session();
                    s.assoc.set_nts_session(keys, cookies);
                    sent = s.assoc.poll_transmit(now, &mut self.rng);
                }
                if let Some(transmit) = sent {
                    self.engine.update_reach(s.id, s.assoc.reach());
                    let path = self.sc.timestamping;
                    let leaves = t + path.send_latency;
                    if path.t1 == T1Source::BeforeSend {
                        self.queue
                            .push(leaves - path.t1_lead(), Event::StampBeforeSend { src, origin: transmit.origin });
                    }
                    let (packet, origin) = (transmit.payload, transmit.origin);
                    self.queue.push(leaves, Event::RequestLeaves { src, packet, origin });
                }
                self.schedule_timer(src);
            }
            Event::StampBeforeSend { src, origin } => {
                let now = self.clock.now();
                self.sources[src].assoc.handle_transmit_timestamp(origin, now);
            }
            Event::RequestLeaves { src, packet, origin } => {
                if self.sc.timestamping.t1 == T1Source::Kernel {
                    let now = self.clock.now();
                    self.sources[src].assoc.handle_transmit_timestamp(origin, now);
                }
                if let Some(d) = self.sc.network.delay(t, true, &mut self.rng) {
                    if !self.faults.all_lost(t) {
                        self.queue.push(t + d, Event::ServerRx { src, packet });
                    }
                }
            }
            Event::ServerRx { src, packet } => {
                if self.faults.server_silent(src, t) {
                    return;
                }
                if let Some((reply, leaves)) = self.sc.servers[src].answer(
                    &packet,
                    t,
                    self.sc.leap.as_ref(),
                    &mut self.credentials,
                    self.tables[src].as_ref(),
                    &mut self.server_rng,
                ) {
                    if let Some(d) = self.sc.network.delay(leaves, false, &mut self.rng) {
                        if !self.faults.all_lost(leaves) {
                            self.queue.push(leaves + d, Event::ClientRx { src, packet: reply });
                        }
                    }
                }
            }
            Event::ClientRx { src, packet } => {
                let t4 = self.clock.now();
                self.queue.push(t + self.sc.timestamping.receive_latency, Event::ReplyHandled { src, packet, t4 });
            }
            Event::ReplyHandled { src, packet, t4 } => self.on_reply(src, &packet, t4),
            Event::Tick { gen } => {
                if gen != self.tick_gen {
                    return;
                }
                let action = self.engine.tick(&mut self.clock);
                self.after_update(action.as_ref());
                self.check_falsetickers();
                self.schedule_tick();
            }
            Event::Pulse { .. } => {
                if let Some(rc) = self.refclocks.as_mut() {
                    rc.on_pulse(&self.clock);
                }
            }
            Event::Sentence { second } => {
                if let Some(rc) = self.refclocks.as_mut() {
                    rc.on_sentence(second, &self.clock);
                }
                self.schedule_receiver(second + 1.0);
            }
            Event::Resolve { src, backoff } => self.resolve(t, src, backoff),
            Event::HostStep { by } => self.clock.jump(by),
            Event::RefclockPoll { gen } => {
                if gen != self.refclock_gen {
                    return;
                }
                let Some(mut rc) = self.refclocks.take() else { return };
                let actions = rc.poll(&mut self.engine, &mut self.clock);
                self.refclocks = Some(rc);
                for a in &actions {
                    let jump = a.clock_jump();
                    if jump != 0.0 {
                        for s in &mut self.sources {
                            s.assoc.clock_stepped(jump);
                        }
                    }
                }
                self.schedule_refclock_poll();
                for i in 0..self.sources.len() {
                    self.schedule_timer(i);
                }
                self.schedule_tick();
            }
        }
    }

    /// A name lookup for source `src` at true time `t`: while lookups fail,
    /// retried after `backoff` (doubling, as the daemon does); once it
    /// succeeds the source starts polling as it would have at the start.
    fn resolve(&mut self, t: f64, src: usize, backoff: f64) {
        if self.faults.dns_down(t) {
            let next = (backoff * 2.0).min(RESOLVE_MAX_BACKOFF);
            self.queue.push(t + backoff, Event::Resolve { src, backoff: next });
            return;
        }
        let first = self.rng.range(0.0, 1.0);
        let assoc = Association::new(self.config, self.credentials.client(), self.clock.now(), first);
        let s = &mut self.sources[src];
        s.assoc = assoc;
        s.resolved = true;
        self.schedule_timer(src);
    }

    fn on_reply(&mut self, src: usize, packet: &[u8], t4: NtpTimestamp) {
        let now = self.clock.now();
        let s = &mut self.sources[src];
        s.assoc.handle_datagram(packet, t4, now);
        self.engine.update_reach(s.id, s.assoc.reach());
        let mut sample = None;
        while let Some(event) = self.sources[src].assoc.poll_event() {
            match event {
                AssociationEvent::Sample(s) => sample = Some(s),
                AssociationEvent::KeyExchangeNeeded(_) => {
                    let (keys, cookies) = self.credentials.session();
                    self.sources[src].assoc.set_nts_session(keys, cookies);
                }
                AssociationEvent::Demobilised(_) => {
                    self.engine.remove_source(self.sources[src].id);
                }
                AssociationEvent::Rejected(_) => {}
            }
        }
        let Some(sample) = sample else { return };
        let id = self.sources[src].id;
        let update = self.engine.on_sample(id, &sample, &mut self.clock);
        self.sources[src].assoc.advise_poll(update.poll_advice);
        if update.accepted {
            self.samples += 1;
            self.interleaved_samples += u64::from(sample.interleaved);
            self.faults.sample_accepted(self.clock.true_time());
        }
        self.after_update(update.action.as_ref());
        for i in 0..self.sources.len() {
            self.schedule_timer(i);
        }
        self.schedule_refclock_poll();
        self.check_falsetickers();
        self.schedule_tick();
    }
}
