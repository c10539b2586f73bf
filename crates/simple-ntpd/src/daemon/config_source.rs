//! Where the daemon's configuration comes from (files, environment,
//! command-line overrides), to load it at start and again on every reload,
//! and the serving settings a configuration from there asks for.

use std::path::PathBuf;

use ntp_config::{Config, Loaded, Overrides};

use crate::net::listen::SocketOptions;
use crate::server::{ServerSettings, ServingOptions};

/// Where the configuration came from, to load it again on reload.
pub struct ConfigSource {
    /// Files in merge order.
    pub files: Vec<PathBuf>,
    /// Command-line overrides.
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Loads files + environment + overrides.
    ///
    /// On a thread of its own that ends with the load: reading and checking
    /// a configuration allocates and frees thousands of small blocks, and
    /// glibc keeps the last freed blocks of every size in a per-thread cache
    /// that nothing but the thread's end empties, holding heap pages that
    /// could otherwise be handed back (measured on the static binary at
    /// idle: heap 420 kB → 260–390 kB, varying from run to run with how the
    /// threads' allocations interleave).
    ///
    /// The thread's stack, as deep as the load went, is handed back before
    /// the thread ends: glibc keeps a finished thread's stack for the next
    /// thread it starts (the log writer, at start) and leaves 16 kB below the
    /// last frame resident, which the next thread then carries for its life
    /// (measured: the log writer's stack 20 kB at idle instead of 8).
    pub fn load(&self) -> Result<Loaded, ntp_config::ConfigError> {
        std::thread::scope(|s| {
            let load = || {
                let loaded = ntp_config::load(&self.files, std::env::vars(), &self.overrides);
                // Best effort: after the user switch (reloads) the stack's
                // mapping cannot be looked up, and nothing is released.
                let _ = crate::stack_pages::release_below_caller();
                loaded
            };
            match std::thread::Builder::new().name("config-load".into()).spawn_scoped(s, load) {
                Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had (a process limit): load here.
                Err(_) => load(),
            }
        })
    }

    /// Server settings for `config` (loaded from here: a `--listen` on the
    /// command line means the default listen address is not in force).
    pub fn server_settings(&self, config: &Config) -> ServerSettings {
        ServerSettings {
            listen: config.listen_sockets(),
            workers: config.worker_threads(),
            worker: ServingOptions {
                max_packet_size: config.performance.max_packet_size,
                recv_batch: config.performance.recv_batch,
                batch_send: config.performance.batch_send,
                interleaved: config.ntp_server.interleaved,
                cpu: None,
                broadcasts: false,
            },
            cpu_affinity: config.performance.cpu_affinity.clone(),
            socket: SocketOptions {
                recv_buffer: config.performance.socket_receive_buffer,
                send_buffer: config.performance.socket_send_buffer,
                ..SocketOptions::default()
            },
            client_log_size: config.monitoring.client_log_size,
            default_listen: self.overrides.listen.is_none()
                && config.network.listen_address == ntp_config::NetworkConfig::default().listen_address,
            share_port: config.network.share_port,
        }
    }
}
