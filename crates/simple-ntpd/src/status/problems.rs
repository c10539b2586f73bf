//! Ongoing problems with what the daemon depends on — the drift file cannot
//! be written (disk full, read-only), the NTS key directory cannot be read
//! or written, a source's name does not resolve. Retried work would
//! otherwise log the same warning at every attempt (and at every reload);
//! here each problem is logged once when it starts and once when it ends,
//! and shown as a health warning in `status` while it lasts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tracing::{info, warn};

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// The drift file cannot be written.
    DriftFile,
    /// NTS cookie key maintenance (reading, writing or rotating the key
    /// directory) fails.
    NtsKeys,
    /// This source host name does not resolve.
    Lookup(String),
}

impl Problem {
    fn what(&self) -> String {
        match self {
            Problem::DriftFile => "cannot write the drift file".into(),
            Problem::NtsKeys => "NTS cookie key maintenance failed".into(),
            Problem::Lookup(host) => format!("cannot resolve source {host}"),
        }
    }
}

/// Problems of sources a reload removed, kept (unlisted) so that a reload
/// that adds the source back does not log the same warning again; beyond
/// this many they are forgotten.
const DORMANT_MAX: usize = 64;

#[derive(Debug, Default)]
struct Table {
    /// In force, with the latest message.
    active: BTreeMap<Problem, String>,
    /// Logged, not recovered, but about sources no longer configured.
    dormant: BTreeMap<Problem, String>,
}

/// The problems in force, with their latest message.
#[derive(Debug, Default)]
pub struct Problems(Mutex<Table>);

impl Problems {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `problem` happened (again): logged at warning level only when it was
    /// not already in force (nor logged and left unrecovered when a reload
    /// removed its source). Returns whether it was logged.
    pub fn failed(&self, problem: Problem, error: &str) -> bool {
        let what = problem.what();
        let mut t = self.lock();
        let known = t.dormant.remove(&problem).is_some();
        let new = t.active.insert(problem, error.to_owned()).is_none() && !known;
        if new {
            warn!(error, "{what} (logged once; shown in status until it recovers)");
        }
        new
    }

    /// The work `problem` is about succeeded: logged when that ends it.
    pub fn succeeded(&self, problem: Problem) {
        let mut t = self.lock();
        let was = t.active.remove(&problem).is_some() | t.dormant.remove(&problem).is_some();
        if was {
            info!("recovered: {} no more", problem.what());
        }
    }

    /// A lookup of source `host` succeeded (`error` None) or failed.
    pub fn lookup(&self, host: &str, error: Option<String>) {
        match error {
            None => self.succeeded(Problem::Lookup(host.to_owned())),
            Some(e) => _ = self.failed(Problem::Lookup(host.to_owned()), &e),
        }
    }

    /// Unlists lookup problems of hosts no longer configured (after a
    /// reload removed them); they are remembered, unlisted, in case a later
    /// reload adds the host back while its name still does not resolve.
    pub fn keep_lookups(&self, hosts: &[String]) {
        let mut t = self.lock();
        let gone: Vec<Problem> =
            t.active.keys().filter(|p| matches!(p, Problem::Lookup(h) if !hosts.contains(h))).cloned().collect();
        for p in gone {
            if let Some(e) = t.active.remove(&p) {
                t.dormant.insert(p, e);
            }
        }
        if t.dormant.len() > DORMANT_MAX {
            t.dormant.clear();
        }
    }

    /// One line per problem in force, for the health reasons.
    pub fn reasons(&self) -> Vec<String> {
        self.lock().active.iter().map(|(p, e)| format!("{}: {e}", p.what())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_listed_until_it_recovers_with_its_latest_error() {
        let p = Problems::default();
        assert!(p.reasons().is_empty());
        p.failed(Problem::DriftFile, "No space left on device");
        p.failed(Problem::DriftFile, "Read-only file system");
        p.failed(Problem::NtsKeys, "Permission denied");
        assert_eq!(
            p.reasons(),
            vec![
                "cannot write the drift file: Read-only file system".to_owned(),
                "NTS cookie key maintenance failed: Permission denied".to_owned()
            ]
        );
        p.succeeded(Problem::DriftFile);
        p.succeeded(Problem::DriftFile);
        assert_eq!(p.reasons().len(), 1);
        p.failed(Problem::Lookup("a.example".into()), "no such host");
        p.failed(Problem::Lookup("b.example".into()), "no such host");
        p.keep_lookups(&["b.example".to_owned()]);
        assert_eq!(p.reasons()[1], "cannot resolve source b.example: no such host");
        assert_eq!(p.reasons().len(), 2);
    }

    /// A reload that removes a failing source and a later one that adds it
    /// back (the soak's alternating configurations) must not log the same
    /// warning again: it never recovered.
    #[test]
    fn a_source_removed_and_added_back_is_not_reported_again() {
        let p = Problems::default();
        let a = || Problem::Lookup("a.example".into());
        assert!(p.failed(a(), "no such host"), "logged when it starts");
        assert!(!p.failed(a(), "no such host"), "not again while it lasts");
        p.keep_lookups(&[]);
        assert!(p.reasons().is_empty(), "not listed while not configured");
        assert!(!p.failed(a(), "no such host"), "added back, still failing: not logged again");
        assert_eq!(p.reasons().len(), 1, "listed again once configured again");
        p.keep_lookups(&[]);
        p.lookup("a.example", None);
        assert!(p.reasons().is_empty());
        assert!(p.failed(a(), "no such host"), "after recovering, a new failure is new");
        for i in 0..=DORMANT_MAX {
            p.failed(Problem::Lookup(format!("h{i}.example")), "no such host");
        }
        p.keep_lookups(&[]);
        assert!(p.lock().dormant.is_empty(), "bounded");
    }
}
