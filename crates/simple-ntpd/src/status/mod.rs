//! What the daemon knows about itself, gathered in one place for the
//! management API, the metrics and the logs: the configuration in force, the
//! published system state, the synchronisation report, the server counters
//! and client logs, reload outcomes.
//!
//! Producers (the run loop, the reload logic, the sync loop) write here;
//! [`views`] turns it into the API documents and [`health`] judges it;
//! [`sampler`] records it into the fixed-size [`history`]. The hub also
//! carries what producers hand on to files and tests: the [`Journals`]
//! (audit and statistics logs), the injected test [`Faults`], the
//! [`problems`] with its own files and, with the debug endpoints on, the
//! sync loop's internals for [`debug`].

pub mod debug;
pub mod health;
pub mod history;
pub mod problems;
pub mod sampler;
pub mod views;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use ntp_config::Config;

use crate::api::model::Source;
use crate::audit::AuditLog;
use crate::faults::Faults;
use crate::interfaces::{InterfaceCell, SlotNames};
use crate::served::StateCell;
use crate::server::stats::StatsRegistry;
use crate::server::ClientLogs;
use crate::statslog::StatisticsLogs;

/// The synchronisation side's report: estimates and sources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Estimated offset of the served clock from true time, seconds.
    pub offset: f64,
    /// Jitter of that estimate, seconds.
    pub jitter: f64,
    /// Frequency correction applied, ppm.
    pub frequency_ppm: f64,
    /// How the clock is disciplined (e.g. `local`, `virtual`, `system`).
    pub discipline: String,
    /// Every configured source.
    pub sources: Vec<Source>,
    /// No source is usable and `[server.local]` time is being served.
    pub local_fallback: bool,
    /// What control (mode 6) queries show of each source beyond its API
    /// entry: `None` for one with nothing running (same order as `sources`).
    pub associations: Vec<Option<AssociationInfo>>,
}

/// A source as an association of mode 6 (`ntpq -p`).
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationInfo {
    /// Its association id, unique while the sync loop runs.
    pub id: u16,
    /// Its requests carry a MAC or NTS.
    pub authenticated: bool,
    /// The reference id its server sent last (dotted quad, or text at stratum 0/1).
    pub reference_id: Option<String>,
    /// The poll exponent (log2 s).
    pub poll: i8,
    /// For a reference clock: its driver (`SHM`, `SOCK`, `NMEA`, `PPS`).
    pub refclock_driver: Option<String>,
    /// The socket address polled (servers).
    pub address: Option<SocketAddr>,
}

/// The files written besides the log: the audit log and the statistics
/// logs, opened at start.
#[derive(Debug, Default)]
pub struct Journals {
    /// `[logging] audit_file`.
    pub audit: AuditLog,
    /// `[logging] statistics`.
    pub statistics: StatisticsLogs,
}

impl Journals {
    /// Opens what `config` asks for.
    pub fn open(config: &ntp_config::LoggingConfig) -> anyhow::Result<Journals> {
        Ok(Journals { audit: AuditLog::open(config.audit_file.as_deref())?, statistics: StatisticsLogs::open(config)? })
    }
}

/// Shared status of the running daemon.
pub struct StatusHub {
    started: Instant,
    config: ArcSwap<Config>,
    state: StateCell,
    stats: StatsRegistry,
    clients: ClientLogs,
    interfaces: InterfaceCell,
    slots: SlotNames,
    listen: ArcSwap<Vec<SocketAddr>>,
    serving: AtomicBool,
    reloads: AtomicU64,
    last_reload_error: Mutex<Option<String>>,
    nts_ke: Mutex<Option<Arc<crate::nts::ke::KeStats>>>,
    history: Mutex<history::History>,
    journals: Journals,
    faults: Faults,
    problems: problems::Problems,
    sync_debug: ArcSwap<Option<debug::SyncDebug>>,
    dns: ArcSwap<Option<crate::api::model::DnsRegistration>>,
}

impl StatusHub {
    /// A hub for a daemon that starts now; `interfaces` and `slots` are
    /// the interface table the workers read and their counter slots,
    /// `journals` the audit and statistics logs opened at start.
    #[allow(clippy::too_many_arguments)] // One call site (the daemon's start); each is a distinct handle.
    pub fn new(
        config: Config,
        state: StateCell,
        stats: StatsRegistry,
        clients: ClientLogs,
        interfaces: InterfaceCell,
        slots: SlotNames,
        journals: Journals,
    ) -> Arc<StatusHub> {
        Arc::new(StatusHub {
            faults: Faults::new(state.clone()),
            problems: problems::Problems::default(),
            journals,
            sync_debug: ArcSwap::from_pointee(None),
            dns: ArcSwap::from_pointee(None),
            started: Instant::now(),
            config: ArcSwap::from_pointee(config),
            state,
            stats,
            clients,
            interfaces,
            slots,
            listen: ArcSwap::from_pointee(Vec::new()),
            serving: AtomicBool::new(false),
            reloads: AtomicU64::new(0),
            last_reload_error: Mutex::new(None),
            nts_ke: Mutex::new(None),
            history: Mutex::new(history::History::new()),
        })
    }

    /// Ongoing problems with the daemon's own files (logged once, shown
    /// in the health reasons).
    pub fn problems(&self) -> &problems::Problems {
        &self.problems
    }

    /// Seconds since start.
    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Replaces the configuration in force (after a successful reload).
    pub fn set_config(&self, config: Config) {
        self.config.store(Arc::new(config));
    }

    /// The published system state.
    pub fn state(&self) -> &StateCell {
        &self.state
    }

    /// The latest synchronisation report.
    pub fn sync(&self) -> Arc<SyncReport> {
        self.state.report()
    }

    /// Publishes a synchronisation report (kept in the served state, where
    /// the workers read it for control queries).
    pub fn set_sync(&self, report: SyncReport) {
        self.state.set_report(report);
    }

    /// Server counters.
    pub fn stats(&self) -> &StatsRegistry {
        &self.stats
    }

    /// Client logs of the running workers.
    pub fn clients(&self) -> &ClientLogs {
        &self.clients
    }

    /// The interface table in force.
    pub fn interfaces(&self) -> &InterfaceCell {
        &self.interfaces
    }

    /// The name of every interface counter slot, by slot.
    pub fn interface_names(&self) -> Vec<String> {
        self.slots.names()
    }

    /// Addresses being served.
    pub fn listen(&self) -> Arc<Vec<SocketAddr>> {
        self.listen.load_full()
    }

    /// Records the addresses being served and that serving is up.
    pub fn set_serving(&self, listen: Vec<SocketAddr>, serving: bool) {
        self.listen.store(Arc::new(listen));
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// True while workers are running.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Records a reload outcome.
    pub fn record_reload(&self, result: Result<(), String>) {
        let mut last = self.last_reload_error.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                *last = None;
            }
            Err(e) => *last = Some(e),
        }
    }

    /// Registers the NTS-KE server's counters (None when NTS is off).
    pub fn set_nts_ke(&self, stats: Option<Arc<crate::nts::ke::KeStats>>) {
        *self.nts_ke.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    /// The NTS-KE server's counters, if it runs.
    pub fn nts_ke(&self) -> Option<Arc<crate::nts::ke::KeStats>> {
        self.nts_ke.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The recent past, fed by [`sampler`].
    pub fn history(&self) -> &Mutex<history::History> {
        &self.history
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.journals.audit
    }

    /// The statistics logs (the sync loop's hooks).
    pub fn statistics(&self) -> &StatisticsLogs {
        &self.journals.statistics
    }

    /// The injected test faults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// True when the sync loop should publish its internals
    /// (`[development] enable_debug_endpoints`).
    pub fn debug_wanted(&self) -> bool {
        self.config.load().development.enable_debug_endpoints
    }

    /// The sync loop's internals, for `/debug/state`.
    pub fn set_sync_debug(&self, debug: Option<debug::SyncDebug>) {
        self.sync_debug.store(Arc::new(debug));
    }

    /// The sync loop's internals as last published.
    pub fn sync_debug(&self) -> Arc<Option<debug::SyncDebug>> {
        self.sync_debug.load_full()
    }

    /// Publishes the DNS registration's state (None: `[dns]` is off).
    pub fn set_dns(&self, dns: Option<crate::api::model::DnsRegistration>) {
        self.dns.store(Arc::new(dns));
    }

    /// The DNS registration's state as last published.
    pub fn dns(&self) -> Arc<Option<crate::api::model::DnsRegistration>> {
        self.dns.load_full()
    }

    /// Successful reloads, and the last failure if the last reload failed.
    pub fn reloads(&self) -> (u64, Option<String>) {
        (self.reloads.load(Ordering::Relaxed), self.last_reload_error.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}
