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

/// The problems in force, with their latest message.
#[derive(Debug, Default)]
pub struct Problems(Mutex<BTreeMap<Problem, String>>);

impl Problems {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Problem, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `problem` happened (again): logged at warning level only when it was
    /// not already in force.
    pub fn failed(&self, problem: Problem, error: &str) {
        let what = problem.what();
        if self.lock().insert(problem, error.to_owned()).is_none() {
            warn!(error, "{what} (logged once; shown in status until it recovers)");
        }
    }

    /// The work `problem` is about succeeded: logged when that ends it.
    pub fn succeeded(&self, problem: Problem) {
        if self.lock().remove(&problem).is_some() {
            info!("recovered: {} no more", problem.what());
        }
    }

    /// A lookup of source `host` succeeded (`error` None) or failed.
    pub fn lookup(&self, host: &str, error: Option<String>) {
        match error {
            None => self.succeeded(Problem::Lookup(host.to_owned())),
            Some(e) => self.failed(Problem::Lookup(host.to_owned()), &e),
        }
    }

    /// Forgets lookup problems of hosts no longer configured (after a
    /// reload removed them).
    pub fn keep_lookups(&self, hosts: &[String]) {
        self.lock().retain(|p, _| !matches!(p, Problem::Lookup(h) if !hosts.contains(h)));
    }

    /// One line per problem in force, for the health reasons.
    pub fn reasons(&self) -> Vec<String> {
        self.lock().iter().map(|(p, e)| format!("{}: {e}", p.what())).collect()
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
}
