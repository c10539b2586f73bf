//! Where the daemon's configuration comes from (files, environment,
//! command-line overrides), to load it at start and again on every reload.

use std::path::PathBuf;

use ntp_config::{Loaded, Overrides};

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
    /// threads' allocations interleave); the thread's stack, as deep as the
    /// load went, is released with it too.
    pub fn load(&self) -> Result<Loaded, ntp_config::ConfigError> {
        std::thread::scope(|s| {
            let load = || ntp_config::load(&self.files, std::env::vars(), &self.overrides);
            match std::thread::Builder::new().name("config-load".into()).spawn_scoped(s, load) {
                Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had (a process limit): load here.
                Err(_) => load(),
            }
        })
    }
}
