//! The running daemon: owns the server, the published state, the status hub
//! and the management API, and drives them from one event loop (a
//! current-thread tokio runtime; the NTP workers are plain threads and never
//! wait on it).
//!
//! Events: SIGTERM/SIGINT stop; SIGHUP (and, with
//! `[development] enable_hot_reload`, a change to a configuration file)
//! reload; SIGUSR1 reopens the log files (log rotation); a 1 s tick
//! republishes the local reference, ends test faults whose time is up and
//! updates the service manager's status line; a 5 s tick starts
//! the monitoring API if it is enabled but not running (its port was taken,
//! e.g. by the instance a rolling update replaces); a 60 s tick logs
//! aggregated drop storms.
//!
//! - [`preflight`]: every check made before binding (`config check` too).
//! - [`plan`]: where served time comes from, and starting it.
//! - [`nts_runtime`]: the NTS-KE server and cookie keys while running.
//! - [`leaps`]: the leap second table, loaded, re-checked and published.
//! - [`notify`]: readiness, status and watchdog for systemd (sd_notify).
//! - [`journals`]: log reopening and the audit events of housekeeping.
//! - [`sources_dir`]: the servers DHCP hooks list in `[sources] directory`.
//! - [`config_source`]: where the configuration comes from, and loading it.

pub mod config_source;
pub mod journals;
pub mod leaps;
pub mod notify;
pub mod nts_runtime;
pub mod plan;
pub mod preflight;
pub mod sources_dir;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use ntp_config::{Config, Loaded, MonitoringConfig};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info, warn};

use crate::api::{self, ApiServer};
use crate::audit::Trigger;
use crate::clock::{system::measure_precision, SystemClock};
use crate::interfaces::table::broadcast_client_interfaces;
use crate::interfaces::watch::{self, InterfaceWatch, TableInputs};
use crate::interfaces::{InterfaceCell, SlotNames, VlanPolicies};
use crate::logging::LogHandle;
use crate::refclock::devices::Devices;
use crate::security::{privileges, NtsKeys, PolicyCell, SecurityPolicy};
use crate::served::leap::announce;
use crate::served::StateCell;
use crate::server::stats::Totals;
use crate::server::Server;
use crate::status::problems::Problem;
use crate::status::{Journals, StatusHub};
use crate::sync::host;
pub use config_source::ConfigSource;
use journals::KeyFileState;
use notify::Notifier;
use nts_runtime::NtsRuntime;
use plan::{Plan, Running};
pub use preflight::{describe as describe_preflight_error, preflight, Preflight};

/// Drops of one reason within a minute that make a "storm" worth a log line.
const STORM_THRESHOLD: u64 = 100;

/// Readiness events the event loop takes per turn: its sockets are few (the
/// workers own the serving ones); tokio's default of 1 024 is a 12 kB array.
const IO_EVENTS_PER_TICK: usize = 64;

/// How often an enabled monitoring API that is not running is started again.
const API_RETRY: Duration = Duration::from_secs(5);

struct Daemon {
    source: ConfigSource,
    config: Config,
    hub: Arc<StatusHub>,
    server: Server,
    state: StateCell,
    policy: PolicyCell,
    precision: i8,
    plan: Plan,
    running: Option<Running>,
    /// The reference clock drivers of `plan` (kept across reloads that keep them).
    devices: Option<Arc<Devices>>,
    log: LogHandle,
    api: Option<ApiServer>,
    nts: Option<NtsRuntime>,
    mtimes: Vec<Option<SystemTime>>,
    last_totals: Totals,
    leaps: leaps::LeapWatch,
    interface_watch: InterfaceWatch,
    notifier: Notifier,
    key_file: KeyFileState,
    sources_dir: sources_dir::SourcesDirectory,
    /// `[dns]` registration, when on.
    dns: Option<crate::dns::registrar::Registrar>,
    /// A reload found `enabled = false`: stop.
    disabled: bool,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(source: ConfigSource, loaded: Loaded, log: LogHandle) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_io_events_per_tick(IO_EVENTS_PER_TICK)
        .build()
        .context("cannot start the event loop")?;
    runtime.block_on(main_future(source, loaded, log))
}

/// The daemon's main future, on the heap.
///
/// It is ≈ 10 kB and lives as long as the process. Held in `run`'s frame
/// (twice over: as built, and pinned by `block_on`) it made that frame
/// 22 kB, resident under every frame the idle loop runs in; boxed here, in
/// a frame of its own that has returned before the loop starts, its stack
/// copy lies below the loop and is handed back with the rest of start-up's
/// stack (`stack_pages`). Measured at idle on the static binary: main stack
/// 56 → 32–40 kB, heap 8–12 kB more.
#[inline(never)]
fn main_future(
    source: ConfigSource,
    loaded: Loaded,
    log: LogHandle,
) -> std::pin::Pin<Box<impl std::future::Future<Output = anyhow::Result<()>>>> {
    Box::pin(run_async(source, loaded, log))
}

async fn run_async(source: ConfigSource, loaded: Loaded, log: LogHandle) -> anyhow::Result<()> {
    let config = loaded.config;
    // Watched before anything serves or READY=1 is sent: a signal that
    // arrives as soon as clients (or systemd) see the daemon must not kill it.
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("cannot watch SIGUSR1")?;
    privileges::raise_permitted();
    // Opened with the rights the daemon starts with, before they are dropped.
    let journals = Journals::open(&config.logging)?;
    let Preflight { policy: mut compiled, source_keys, warnings } = match preflight(&config) {
        Ok(p) => p,
        Err(e) => {
            journals.audit.config(Trigger::Start, &source.files, None, Ok(&config), Some(&format!("{e:#}")));
            return Err(e);
        }
    };
    journals.audit.config(Trigger::Start, &source.files, None, Ok(&config), None);
    for w in &warnings {
        warn!("{w}");
    }
    let precision = measure_precision();
    let sources_dir = sources_dir::SourcesDirectory::new(&config);
    let plan = Plan::from_config(&config, precision, &source_keys, sources_dir.sources());
    info!(time_source = %plan.describe(), precision, "time source");
    // The first reply already carries what the plan serves.
    let state = StateCell::new(plan.initial_snapshot(precision));
    let mut leap_watch = leaps::LeapWatch::new(&config);
    leap_watch.refresh(&state);
    state.publish(announce(**state.load(), &state.leap(), SystemClock.now()));
    if config.performance.batch_send {
        debug!("performance.batch_send is on: replies go out in chunks, stamped with their calibrated transmit time");
    }
    // NTS first, so the policy the workers start with already holds its keys.
    let nts = if config.security.nts.enabled {
        let rt = NtsRuntime::start(&config).await?;
        if let Some(dir) = &config.security.nts.key_directory {
            // Best effort: a read-only directory (a Kubernetes Secret, NFS
            // with root_squash) holds pre-provisioned keys and needs no owner.
            if let Err(e) = privileges::hand_over(dir, &config.security.user) {
                warn!(
                    directory = %dir.display(),
                    "{e:#}; the daemon cannot write new cookie keys there after dropping privileges \
                     (fine for pre-provisioned, read-only keys with a long rotation_hours)"
                );
            }
        }
        Some(rt)
    } else {
        None
    };
    compiled.nts = nts.as_ref().map(|n| NtsKeys(n.store.cell()));
    log_security(&compiled);
    // The interfaces and their VLAN policies are known before the first request.
    let (interfaces, slots) = (InterfaceCell::default(), SlotNames::default());
    let table_inputs = TableInputs {
        vlans: VlanPolicies::from_config(&config, &source_keys),
        global_rate: compiled.rate,
        broadcast_clients: broadcast_client_interfaces(&config),
    };
    let host_interfaces = watch::publish_initial(&interfaces, &slots, &table_inputs);
    let policy = PolicyCell::new(compiled);
    let server = Server::start(&source.server_settings(&config), state.clone(), policy.clone(), interfaces.clone())?;
    let interface_watch = InterfaceWatch::start(interfaces.clone(), slots.clone(), host_interfaces, table_inputs);
    let hub = StatusHub::new(
        config.clone(),
        state.clone(),
        server.stats(),
        server.client_logs(),
        interfaces,
        slots,
        journals,
    );
    let history_sampler = crate::status::sampler::spawn(hub.clone());
    hub.set_serving(server.bound_addresses(), true);
    hub.set_nts_ke(nts.as_ref().map(|n| n.stats.clone()));
    hub.faults().set_nts_ke(nts.as_ref().map(|n| n.ke.refusal()));
    if let Some(n) = &nts {
        n.announce(&config, &server);
    }
    let api = start_api(&hub, &log, &config.monitoring, true).await?;
    // Devices and shared memory are opened with root's rights too.
    let devices = Devices::for_config(plan.refclocks(), &config);
    // Start-up is done: hand back what it leaves while still allowed to (before
    // the user switch); the stack first, so its code goes with the program's.
    let stack = crate::stack_pages::release_below_caller();
    match crate::program_pages::release_own() {
        Ok(r) => debug!(bytes = r.bytes, refused = r.refused, "start-up pages handed back"),
        Err(e) => debug!("cannot hand start-up pages back: {e}"),
    }
    crate::heap::trim();
    match stack {
        Ok(bytes) => debug!(bytes, "start-up stack pages handed back"),
        Err(e) => debug!("cannot hand start-up stack pages back: {e}"),
    }
    // Everything privileged (binding) is done: become an ordinary user,
    // keeping CAP_SYS_TIME only when steering the system clock.
    let privileges =
        privileges::drop_privileges(&config.security.user, needs_low_ports(&config), plan.steers_system_clock())?;
    hub.audit().record("privileges", privileges.audit_details());
    let running = Some(plan.start(&state, &hub, precision, None, devices.clone()));
    let dns = crate::dns::registrar::reconcile(None, &config, server.bound_addresses(), &state, &hub).await;
    let mtimes = file_mtimes(&source.files);
    let key_file = KeyFileState::read(&config);
    let mut d = Daemon {
        source,
        config,
        hub,
        server,
        state,
        policy,
        precision,
        plan,
        running,
        devices,
        log,
        api,
        nts,
        mtimes,
        last_totals: Totals::default(),
        disabled: false,
        leaps: leap_watch,
        interface_watch,
        notifier: Notifier::from_env(),
        key_file,
        sources_dir,
        dns,
    };
    d.last_totals = d.hub.stats().totals();
    d.notifier.ready(&d.hub);

    let watchdog_every = d.notifier.watchdog_interval();
    let mut watchdog_tick = tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut storm_tick = tokio::time::interval(Duration::from_secs(60));
    storm_tick.tick().await;
    let mut api_tick = tokio::time::interval(API_RETRY);
    api_tick.tick().await;
    while !d.disabled {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => d.reload("SIGHUP").await,
            _ = usr1.recv() => journals::reopen_logs(&d.log, &d.hub),
            _ = watchdog_tick.tick(), if watchdog_every.is_some() => d.notifier.watchdog(),
            _ = tick.tick() => {
                let now = SystemClock.now();
                let leap = d.state.leap();
                journals::expire_faults(&d.hub);
                match &d.running {
                    Some(Running::Local(l)) => d.state.publish(announce(l.snapshot(now), &leap, now)),
                    Some(Running::Host { stratum }) => {
                        d.state.publish(announce(host::snapshot(*stratum, d.precision), &leap, now))
                    }
                    _ => {}
                }
                if d.config.development.enable_hot_reload {
                    let now = file_mtimes(&d.source.files);
                    if now != d.mtimes {
                        d.mtimes = now;
                        d.reload("configuration file changed").await;
                    }
                }
                if d.sources_dir.refresh() {
                    let plan = d.plan.with_directory_sources(&d.config, d.sources_dir.sources());
                    d.switch_plan(plan, &d.config.clone()).await;
                }
                d.notifier.update(&d.hub);
            }
            _ = api_tick.tick(), if d.api.is_none() && d.config.monitoring.enabled => d.retry_api().await,
            _ = storm_tick.tick() => {
                d.log_drop_storms();
                d.leaps.refresh(&d.state);
                if let Some(n) = &mut d.nts {
                    match n.store.maintain() {
                        Ok(true) => {
                            d.hub.problems().succeeded(Problem::NtsKeys);
                            info!("NTS cookie keys updated");
                            journals::audit_nts_keys(d.hub.audit(), &n.store);
                        }
                        Ok(false) => d.hub.problems().succeeded(Problem::NtsKeys),
                        Err(e) => _ = d.hub.problems().failed(Problem::NtsKeys, &format!("{e:#}")),
                    }
                }
            }
        }
    }
    info!("shutdown requested; stopping workers");
    d.notifier.stopping();
    history_sampler.abort();
    if let Some(dns) = d.dns.take() {
        dns.stop().await;
    }
    if let Some(r) = d.running.take() {
        r.stop().await;
    }
    if let Some(devices) = d.devices.take() {
        devices.stop();
    }
    if let Some(api) = d.api.take() {
        api.stop().await;
    }
    if let Some(n) = d.nts.take() {
        n.ke.stop().await;
    }
    d.hub.set_serving(Vec::new(), false);
    d.interface_watch.stop();
    let totals = d.server.stop().totals();
    info!(
        received = totals.received,
        replied = totals.replied,
        dropped = totals.dropped_total(),
        send_errors = totals.send_errors,
        "simple-ntpd stopped"
    );
    Ok(())
}

/// Starts the API if enabled. With the built-in monitoring settings a busy
/// port (another instance on this host) is a warning; an explicitly
/// configured address that cannot be bound is an error at start.
async fn start_api(
    hub: &Arc<StatusHub>,
    log: &LogHandle,
    m: &MonitoringConfig,
    at_start: bool,
) -> anyhow::Result<Option<ApiServer>> {
    if !m.enabled {
        return Ok(None);
    }
    let allow = m.allow.iter().map(|n| n.net()).collect();
    match api::start(hub.clone(), log.clone(), m.listen, allow, m.token.clone()).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if at_start && m.listen == MonitoringConfig::default().listen => {
            warn!("{e:#}; running without the monitoring API for now, retrying every {} s (or set [monitoring] listen to another address)", API_RETRY.as_secs());
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// True when a configured port needs CAP_NET_BIND_SERVICE to be bound
/// again on reload.
fn needs_low_ports(config: &Config) -> bool {
    let api_low = config.monitoring.enabled && config.monitoring.listen.port() < 1024;
    // A broadcast client binds the broadcast port itself when no serving socket takes the broadcasts.
    let broadcast_low = config.sources.broadcast.iter().any(|b| b.port != 0 && b.port < 1024);
    api_low || broadcast_low || config.listen_sockets().iter().any(|a| a.port() != 0 && a.port() < 1024)
}

fn log_security(p: &SecurityPolicy) {
    info!(rate_limit = p.rate.is_some(), keys = p.keys.len(), deny_kod = p.deny_kod, "security policy in force");
}

fn file_mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

impl Daemon {
    /// Loads and applies the configuration again. A configuration that does
    /// not validate, or listeners that cannot be bound, leave the running
    /// configuration in force.
    async fn reload(&mut self, why: &'static str) {
        info!(trigger = why, "reloading configuration");
        self.notifier.reloading();
        self.apply_reload(why).await;
        self.notifier.reloaded(&self.hub);
    }

    /// The work of [`Self::reload`]; every outcome is audited.
    async fn apply_reload(&mut self, why: &'static str) {
        let trigger = Trigger::Reload(why);
        let loaded = match self.source.load() {
            Ok(l) => l,
            Err(e) => {
                error!("configuration reload refused, the running configuration stays: {e}");
                self.hub.audit().config(trigger, &self.source.files, Some(&self.config), Err(&e.to_string()), None);
                self.hub.record_reload(Err(e.to_string()));
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        for n in &loaded.notes {
            debug!("{n}");
        }
        if !loaded.config.enabled.get() {
            info!("the configuration now says enabled = false: stopping");
            self.hub.record_reload(Ok(()));
            self.disabled = true;
            return;
        }
        let new = loaded.config;
        let (policy, source_keys) = match preflight::policy_and_keys(&new) {
            Ok(Preflight { mut policy, source_keys, warnings }) => {
                for w in &warnings {
                    warn!("{w}");
                }
                policy.nts = self.nts.as_ref().map(|n| NtsKeys(n.store.cell()));
                (policy, source_keys)
            }
            Err(e) => {
                error!("configuration reload refused, the running configuration stays: {e:#}");
                let why = format!("{e:#}");
                self.hub.audit().config(trigger, &self.source.files, Some(&self.config), Ok(&new), Some(&why));
                self.hub.record_reload(Err(why));
                return;
            }
        };
        let settings = self.source.server_settings(&new);
        if &settings != self.server.settings() {
            if let Err(e) = self.server.reconfigure(&settings) {
                error!("configuration reload refused, the running configuration stays: {e:#}");
                let why = format!("{e:#}");
                self.hub.audit().config(trigger, &self.source.files, Some(&self.config), Ok(&new), Some(&why));
                self.hub.record_reload(Err(why));
                return;
            }
        }
        let mut changes = Vec::new();
        if let Some(n) = &self.nts {
            n.announce(&new, &self.server);
            match n.ke.reload_certificates() {
                Ok(()) => changes.push("NTS certificates re-read".to_owned()),
                Err(e) => error!("NTS certificates not reloaded, keeping the current ones: {e:#}"),
            }
        }
        if new.security.nts != self.config.security.nts {
            warn!("security.nts changes other than the certificate files take effect at the next restart");
        }
        if new.security != self.config.security {
            log_security(&policy);
            changes.push("security".to_owned());
        }
        if new.vlan_config != self.config.vlan_config {
            changes.push("vlan_config".to_owned());
        }
        // Rebuilt on every reload: a key file the broadcasts use may have changed.
        self.interface_watch.set_inputs(TableInputs {
            vlans: VlanPolicies::from_config(&new, &source_keys),
            global_rate: policy.rate,
            broadcast_clients: broadcast_client_interfaces(&new),
        });
        self.policy.publish(policy);
        if new.logging.level() != self.config.logging.level() {
            match self.log.set_level(new.logging.level()) {
                Ok(()) => changes.push(format!("log level {}", new.logging.level().as_str())),
                Err(e) => warn!("{e:#}"),
            }
        }
        let l = &self.log.started_with;
        if new.logging.output != l.output
            || new.logging.file != l.file
            || new.logging.log_format != l.log_format
            || new.logging.audit_file != l.audit_file
            || new.logging.statistics_dir != l.statistics_dir
            || new.logging.statistics != l.statistics
        {
            warn!("logging.output, file, log_format, audit_file, statistics_dir and statistics take effect at the next restart");
        }
        if !new.development.enable_test_endpoints {
            for f in self.hub.faults().end_all() {
                warn!(id = f.id, fault = f.request.fault.name(), "test fault ended: test endpoints turned off");
                let details = serde_json::json!({ "fault": f, "reason": "test endpoints turned off" });
                self.hub.audit().record("test_fault_ended", details);
            }
        }
        self.leaps.reconfigure(&new, &self.state);
        self.sources_dir.reconfigure(&new);
        let plan = Plan::from_config(&new, self.precision, &source_keys, self.sources_dir.sources());
        if plan != self.plan {
            changes.push(plan.describe());
            self.switch_plan(plan, &new).await;
        }
        if settings.listen != self.config.listen_sockets() {
            changes.push(format!("listen {:?}", self.server.bound_addresses()));
        }
        if new.monitoring.enabled != self.config.monitoring.enabled
            || new.monitoring.listen != self.config.monitoring.listen
            || new.monitoring.allow != self.config.monitoring.allow
            || new.monitoring.token != self.config.monitoring.token
        {
            // A new address is bound before the old endpoint stops, so a
            // failure leaves the old one answering. The same address must be
            // released first; if the restart fails the old settings return.
            let same_address = new.monitoring.listen == self.config.monitoring.listen;
            if same_address {
                if let Some(api) = self.api.take() {
                    api.stop().await;
                }
            }
            match start_api(&self.hub, &self.log, &new.monitoring, false).await {
                Ok(a) => {
                    if let Some(old) = std::mem::replace(&mut self.api, a) {
                        old.stop().await;
                    }
                    changes.push("monitoring endpoint".to_owned());
                }
                Err(e) if same_address => {
                    error!("monitoring API not restarted with the new settings: {e:#}; restoring the old ones");
                    match start_api(&self.hub, &self.log, &self.config.monitoring, false).await {
                        Ok(a) => self.api = a,
                        Err(e) => error!("monitoring API is down: {e:#}"),
                    }
                }
                Err(e) => error!("monitoring API stays on {}: {e:#}", self.config.monitoring.listen),
            }
        }
        self.hub.set_serving(self.server.bound_addresses(), true);
        let listen = self.server.bound_addresses();
        self.dns = crate::dns::registrar::reconcile(self.dns.take(), &new, listen, &self.state, &self.hub).await;
        self.hub.set_config(new.clone());
        self.hub.audit().config(trigger, &self.source.files, Some(&self.config), Ok(&new), None);
        let key_file = KeyFileState::read(&new);
        self.key_file.audit_change(&key_file, self.hub.audit());
        self.key_file = key_file;
        self.config = new;
        self.hub.record_reload(Ok(()));
        info!(changes = ?changes, "configuration reloaded");
    }

    /// Stops the running time source and starts `plan` in its place (a
    /// virtual clock continues; reference clocks restart only if they
    /// changed).
    async fn switch_plan(&mut self, plan: Plan, config: &Config) {
        plan.warn_if_time_cannot_be_set();
        info!(time_source = %plan.describe(), "time source restarted");
        let previous = if let Some(r) = self.running.take() { r.stop().await } else { None };
        if plan.refclocks() != self.plan.refclocks() {
            self.devices = Devices::restart(self.devices.take(), plan.refclocks(), config);
        }
        self.running = Some(plan.start(&self.state, &self.hub, self.precision, previous, self.devices.clone()));
        self.plan = plan;
    }

    /// Starts the enabled monitoring API that could not bind at start (the
    /// default address was taken: during a rolling update the old instance
    /// holds it until it stops) or after a failed reload.
    async fn retry_api(&mut self) {
        match start_api(&self.hub, &self.log, &self.config.monitoring, false).await {
            Ok(api) => self.api = api,
            Err(e) => tracing::debug!("monitoring API still not started: {e:#}"),
        }
    }

    /// Logs, once a minute and aggregated by reason, drops that exceed
    /// [`STORM_THRESHOLD`] (floods, scans, rate-limit or ACL storms).
    fn log_drop_storms(&mut self) {
        let now = self.hub.stats().totals();
        for ((reason, n), (_, before)) in now.dropped.iter().zip(self.last_totals.dropped.iter()) {
            let delta = n.saturating_sub(*before);
            if delta >= STORM_THRESHOLD {
                warn!(reason = *reason, dropped = delta, "many requests dropped in the last minute");
            }
        }
        self.last_totals = now;
    }
}
