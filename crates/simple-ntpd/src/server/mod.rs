//! The NTP server: opens the listen sockets, runs one worker thread per
//! (listen address, worker) pair and stops them on shutdown.

pub mod stats;
pub mod worker;

pub use worker::WorkerOptions as ServingOptions;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{bail, Context};
use tracing::{info, warn};

use crate::net::listen::{is_ipv6_unavailable, open_serving_socket, SocketOptions};
use crate::state::StateCell;
use stats::{StatsRegistry, WorkerStats};
use worker::{Worker, WorkerOptions};

/// What the server needs to start.
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
    /// True when `listen` is the built-in default, where a missing IPv6
    /// stack is not an error.
    pub default_listen: bool,
}

/// A running server.
pub struct Server {
    threads: Vec<JoinHandle<()>>,
    stats: StatsRegistry,
    bound: Vec<SocketAddr>,
}

impl Server {
    /// Binds every socket, then starts the workers. Fails without starting
    /// anything if a configured address cannot be bound.
    pub fn start(settings: &ServerSettings, state: StateCell, shutdown: Arc<AtomicBool>) -> anyhow::Result<Server> {
        let mut sockets = Vec::new();
        let mut bound = Vec::new();
        for &addr in &settings.listen {
            let mut addr_actual = addr;
            for i in 0..settings.workers.max(1) {
                match open_serving_socket(addr_actual, &settings.socket) {
                    Ok(s) => {
                        if i == 0 {
                            // Port 0 binds an ephemeral port; the other workers join it.
                            addr_actual = s.local_addr()?.as_socket().context("bound socket has no IP address")?;
                            bound.push(addr_actual);
                        }
                        sockets.push((addr_actual, s));
                    }
                    Err(e) if settings.default_listen && is_ipv6_unavailable(addr, &e) => {
                        warn!(address = %addr, error = %e, "IPv6 is not available here; not serving on it");
                        break;
                    }
                    Err(e) => {
                        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                        } else {
                            ""
                        };
                        bail!("cannot listen on {addr}: {e}{hint}");
                    }
                }
            }
        }
        if sockets.is_empty() {
            bail!("no listen address could be bound");
        }
        let stats = StatsRegistry::default();
        let mut threads = Vec::new();
        for (n, (addr, socket)) in sockets.into_iter().enumerate() {
            let worker_stats = Arc::new(WorkerStats::default());
            stats.register(worker_stats.clone());
            let mut options = settings.worker.clone();
            if !settings.cpu_affinity.is_empty() {
                options.cpu = Some(settings.cpu_affinity[n % settings.cpu_affinity.len()]);
            }
            let worker = Worker::new(socket, addr, state.clone(), worker_stats, options);
            let shutdown = shutdown.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ntp-worker-{n}"))
                .spawn(move || worker.run(&shutdown))
                .context("cannot start a worker thread")?;
            threads.push(handle);
        }
        for addr in &bound {
            info!(address = %addr, workers = settings.workers, "serving NTP");
        }
        Ok(Server { threads, stats, bound })
    }

    /// The addresses actually bound (ephemeral ports resolved).
    pub fn bound_addresses(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// Live counters, summed over workers when read.
    pub fn stats(&self) -> &StatsRegistry {
        &self.stats
    }

    /// Waits for every worker to finish (after shutdown was requested).
    pub fn join(self) -> StatsRegistry {
        for t in self.threads {
            let _ = t.join();
        }
        self.stats
    }
}
