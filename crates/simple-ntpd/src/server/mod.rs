//! The NTP server: a set of listeners, each one listen address served by
//! `workers` threads with one SO_REUSEPORT socket each.
//!
//! [`Server::reconfigure`] applies a new configuration without a service gap:
//! listeners whose settings did not change keep running; new or changed
//! ones are bound and started first (SO_REUSEPORT lets old and new sockets
//! share the port), and only then are the old ones stopped.

pub mod broadcast;
pub mod client_log;
pub mod control;
pub mod policy;
pub mod stats;
pub mod transmit_calibration;
pub mod worker;

pub use worker::WorkerOptions as ServingOptions;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{bail, Context};
use ntp_proto::server::InterleaveTable;
use tracing::{info, warn};

use crate::interfaces::InterfaceCell;
use crate::net::listen::{ensure_address_free, is_ipv6_unavailable, open_serving_socket, SocketOptions};
use crate::security::PolicyCell;
use crate::served::StateCell;
use client_log::ClientLog;
use stats::{StatsRegistry, WorkerStats};
use worker::{Worker, WorkerOptions};

/// Clients remembered for interleaved mode per listener (40 bytes each,
/// taken zero-filled: the kernel backs pages only as clients land in them).
const INTERLEAVE_SLOTS: usize = 16_384;

/// What the server needs to start.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSettings {
    /// Addresses to serve on.
    pub listen: Vec<SocketAddr>,
    /// Worker threads per listen address.
    pub workers: usize,
    /// Per-worker serving options (cpu is assigned per worker from `cpu_affinity`).
    pub worker: WorkerOptions,
    /// Cores to pin workers to, round-robin; empty = no pinning.
    pub cpu_affinity: Vec<usize>,
    /// Socket options.
    pub socket: SocketOptions,
    /// Client-log slots per worker (0 = off).
    pub client_log_size: usize,
    /// True when `listen` is the built-in default, where a missing IPv6
    /// stack is not an error.
    pub default_listen: bool,
    /// Other processes may join our SO_REUSEPORT groups (`network.share_port`);
    /// otherwise a new listener's address must be free.
    pub share_port: bool,
}

impl ServerSettings {
    /// Everything except the address list: a listener restarts when this
    /// changes.
    fn listener_params(&self) -> (usize, &WorkerOptions, &[usize], &SocketOptions, usize) {
        (self.workers, &self.worker, &self.cpu_affinity, &self.socket, self.client_log_size)
    }
}

/// Client logs, each tagged with the id of the listener that owns it.
type TaggedLogs = Vec<(u64, Arc<ClientLog>)>;

/// The live client logs, for the management API.
#[derive(Clone, Default)]
pub struct ClientLogs(Arc<Mutex<TaggedLogs>>);

impl ClientLogs {
    /// The logs of every running worker.
    pub fn logs(&self) -> Vec<Arc<ClientLog>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, l)| l.clone()).collect()
    }

    fn add(&self, listener: u64, log: Arc<ClientLog>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((listener, log));
    }

    fn remove_listener(&self, listener: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != listener);
    }
}

struct Listener {
    id: u64,
    configured: SocketAddr,
    bound: SocketAddr,
    shutdown: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// A running server.
pub struct Server {
    listeners: Vec<Listener>,
    settings: ServerSettings,
    state: StateCell,
    policy: PolicyCell,
    interfaces: InterfaceCell,
    stats: StatsRegistry,
    clients: ClientLogs,
    next_id: u64,
}

impl Server {
    /// Binds every socket, then starts the workers. Fails without leaving
    /// anything running if a configured address cannot be bound. Workers
    /// serve under `policy` and the per-interface policies of `interfaces`.
    pub fn start(
        settings: &ServerSettings,
        state: StateCell,
        policy: PolicyCell,
        interfaces: InterfaceCell,
    ) -> anyhow::Result<Server> {
        let mut server = Server {
            listeners: Vec::new(),
            settings: settings.clone(),
            state,
            policy,
            interfaces,
            stats: StatsRegistry::default(),
            clients: ClientLogs::default(),
            next_id: 0,
        };
        let mut started = Vec::new();
        for &addr in &settings.listen {
            let ours = holds_port(&started, addr);
            match server.start_listener(addr, settings, ours) {
                Ok(Some(l)) => started.push(l),
                Ok(None) => {}
                Err(e) => {
                    server.stop_listeners(started);
                    return Err(e);
                }
            }
        }
        if started.is_empty() {
            bail!("no listen address could be bound");
        }
        server.listeners = started;
        Ok(server)
    }

    /// Applies new settings: unchanged listeners keep serving, new and
    /// changed ones start before the old ones stop. On error nothing changes.
    pub fn reconfigure(&mut self, settings: &ServerSettings) -> anyhow::Result<()> {
        let params_changed = settings.listener_params() != self.settings.listener_params();
        let mut keep = Vec::new();
        let mut retire = Vec::new();
        for l in std::mem::take(&mut self.listeners) {
            if !params_changed && settings.listen.contains(&l.configured) {
                keep.push(l);
            } else {
                retire.push(l);
            }
        }
        let mut started = Vec::new();
        for &addr in &settings.listen {
            if keep.iter().any(|l| l.configured == addr) {
                continue;
            }
            let ours = holds_port(&keep, addr) || holds_port(&retire, addr) || holds_port(&started, addr);
            match self.start_listener(addr, settings, ours) {
                Ok(Some(l)) => started.push(l),
                Ok(None) => {}
                Err(e) => {
                    self.stop_listeners(started);
                    keep.extend(retire);
                    self.listeners = keep;
                    return Err(e);
                }
            }
        }
        if keep.is_empty() && started.is_empty() {
            keep.extend(retire);
            self.listeners = keep;
            bail!("the new configuration has no listen address that could be bound");
        }
        for l in &retire {
            info!(address = %l.bound, "stopping listener");
        }
        self.stop_listeners(retire);
        keep.extend(started);
        self.listeners = keep;
        self.settings = settings.clone();
        Ok(())
    }

    /// Opens `addr`'s sockets and starts its workers. Unless this server
    /// already holds the port (`ours`: a listener being replaced, or a
    /// specific address next to our own wildcard), the address must be free.
    fn start_listener(
        &mut self,
        addr: SocketAddr,
        settings: &ServerSettings,
        ours: bool,
    ) -> anyhow::Result<Option<Listener>> {
        let mut sockets = Vec::new();
        let mut bound = addr;
        for i in 0..settings.workers.max(1) {
            let opened = if i == 0 && !ours && !settings.share_port {
                ensure_address_free(addr).and_then(|()| open_serving_socket(bound, &settings.socket))
            } else {
                open_serving_socket(bound, &settings.socket)
            };
            match opened {
                Ok(s) => {
                    if i == 0 {
                        // Port 0 binds an ephemeral port; the other workers join it.
                        bound = s.local_addr()?.as_socket().context("bound socket has no IP address")?;
                    }
                    sockets.push(s);
                }
                Err(e) if settings.default_listen && is_ipv6_unavailable(addr, &e) => {
                    warn!(address = %addr, error = %e, "IPv6 is not available here; not serving on it");
                    return Ok(None);
                }
                Err(e) => {
                    let hint = match e.kind() {
                        std::io::ErrorKind::PermissionDenied => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                        std::io::ErrorKind::AddrInUse => {
                            " (another process serves this address: is another simple-ntpd, chronyd or ntpd running?)"
                        }
                        _ => "",
                    };
                    bail!("cannot listen on {addr}: {e}{hint}");
                }
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let seed = listener_seed(id);
        // One interleaved-mode table for all of this listener's workers:
        // SO_REUSEPORT spreads a client's requests over them by source port.
        let interleave = settings.worker.interleaved.then(|| {
            Arc::new(InterleaveTable::from_zeroed(crate::zeroed::table(INTERLEAVE_SLOTS), seed.rotate_left(17)))
        });
        for (n, socket) in sockets.into_iter().enumerate() {
            let worker_stats = Arc::new(WorkerStats::default());
            self.stats.register(bound, worker_stats.clone());
            let clients = Arc::new(ClientLog::new(settings.client_log_size, seed ^ n as u64));
            self.clients.add(id, clients.clone());
            let mut options = settings.worker.clone();
            if !settings.cpu_affinity.is_empty() {
                options.cpu = Some(settings.cpu_affinity[n % settings.cpu_affinity.len()]);
            }
            options.broadcasts = n == 0 && broadcasts_from(&settings.listen, addr);
            let worker = Worker::new(
                socket,
                bound,
                self.state.clone(),
                self.policy.clone(),
                self.interfaces.clone(),
                worker_stats,
                clients,
                options,
                interleave.clone(),
                seed.rotate_left(n as u32 + 7),
            );
            let flag = shutdown.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ntp-worker-{id}-{n}"))
                .spawn(move || worker.run(&flag))
                .context("cannot start a worker thread")?;
            threads.push(handle);
        }
        info!(address = %bound, workers = threads.len(), "serving NTP");
        Ok(Some(Listener { id, configured: addr, bound, shutdown, threads }))
    }

    fn stop_listeners(&self, listeners: Vec<Listener>) {
        for l in &listeners {
            l.shutdown.store(true, Ordering::Relaxed);
        }
        for l in listeners {
            for t in l.threads {
                let _ = t.join();
            }
            self.clients.remove_listener(l.id);
        }
    }

    /// The addresses actually bound (ephemeral ports resolved).
    pub fn bound_addresses(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.bound).collect()
    }

    /// The settings in force.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// Live counters, summed over workers when read (stopped workers' counts
    /// are kept so counters never go backwards).
    pub fn stats(&self) -> StatsRegistry {
        self.stats.clone()
    }

    /// The running workers' client logs.
    pub fn client_logs(&self) -> ClientLogs {
        self.clients.clone()
    }

    /// Stops every worker and waits for them; returns the final counters.
    pub fn stop(mut self) -> StatsRegistry {
        let listeners = std::mem::take(&mut self.listeners);
        self.stop_listeners(listeners);
        self.stats.clone()
    }
}

fn listener_seed(id: u64) -> u64 {
    crate::random::u64() ^ id
}

/// True when the listener of `addr` sends its family's broadcasts: the
/// wildcard listener of the family, or else the first configured one.
fn broadcasts_from(listen: &[SocketAddr], addr: SocketAddr) -> bool {
    let family = |a: &&SocketAddr| a.is_ipv4() == addr.is_ipv4();
    let chosen = listen.iter().filter(family).find(|a| a.ip().is_unspecified()).or(listen.iter().find(family));
    chosen == Some(&addr)
}

/// True when one of `listeners` is bound to `addr`'s port in the same family.
fn holds_port(listeners: &[Listener], addr: SocketAddr) -> bool {
    listeners.iter().any(|l| l.bound.port() == addr.port() && l.bound.is_ipv4() == addr.is_ipv4())
}
