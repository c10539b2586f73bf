//! `[sources] directory`: the servers DHCP client hooks write there,
//! re-read every second; a change of the list restarts the time source
//! with the new sources (the virtual clock continues, the served state is
//! held as on reload). Problems in the files are logged once each time
//! they change, with file and line.

use std::path::PathBuf;

use ntp_config::{read_directory, Config, Upstream};
use tracing::{info, warn};

/// The directory and what it listed last.
#[derive(Default)]
pub struct SourcesDirectory {
    dir: Option<PathBuf>,
    listed: Vec<Upstream>,
    problems: Vec<String>,
}

impl SourcesDirectory {
    /// Watches `config`'s directory (if any), read once now.
    pub fn new(config: &Config) -> Self {
        let mut d = Self { dir: config.sources.directory.clone(), ..Self::default() };
        d.refresh();
        d
    }

    /// The sources listed at the last read.
    pub fn sources(&self) -> &[Upstream] {
        &self.listed
    }

    /// Follows a reloaded configuration; true when the list changed.
    pub fn reconfigure(&mut self, config: &Config) -> bool {
        if self.dir != config.sources.directory {
            self.dir = config.sources.directory.clone();
            self.problems.clear();
        }
        self.refresh()
    }

    /// Reads the directory again; true when the list of sources changed.
    pub fn refresh(&mut self) -> bool {
        let Some(dir) = &self.dir else {
            return !std::mem::take(&mut self.listed).is_empty();
        };
        let read = read_directory(dir);
        if read.problems != self.problems {
            for p in &read.problems {
                warn!("sources directory: {p}");
            }
            self.problems = read.problems;
        }
        if read.upstreams == self.listed {
            return false;
        }
        let names: Vec<String> = read.upstreams.iter().map(|u| format!("{}:{}", u.host, u.port)).collect();
        info!(directory = %dir.display(), files = read.files.len(), sources = ?names, "sources directory changed");
        self.listed = read.upstreams;
        true
    }
}

/// The configured sources followed by the directory's, without the ones
/// already configured (same host and port).
pub fn merged(config: &Config, directory: &[Upstream]) -> Vec<Upstream> {
    let mut out = config.upstreams();
    for u in directory {
        if !out.iter().any(|c| c.host == u.host && c.port == u.port) {
            out.push(u.clone());
        }
    }
    out
}
