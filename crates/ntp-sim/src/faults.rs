//! Injected faults (chaos): servers that go silent and come back, total
//! loss on every path, name lookups that fail, and steps of the host clock
//! made behind the engine's back. A [`Fault`] is a window of true time; the
//! run consults [`Faults`] on every packet and records, per fault, how far
//! the clock strayed while it lasted (holdover) and how long after its end
//! the error stayed above the scenario's threshold (recovery).

/// What goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// These servers (indices) receive nothing and answer nothing.
    ServersDown(Vec<usize>),
    /// Every packet on every path is lost.
    TotalLoss,
    /// Names do not resolve: sources not yet resolved stay unresolved,
    /// retried with the daemon's backoff ([`RESOLVE_FIRST_BACKOFF`] doubling
    /// to [`RESOLVE_MAX_BACKOFF`]).
    DnsFailure,
    /// At the window's start the host clock is stepped by this many seconds
    /// by someone else (an administrator, a VM resumed): the engine is not
    /// told.
    HostStep(f64),
}

impl FaultKind {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            FaultKind::ServersDown(s) => format!("servers {s:?} down"),
            FaultKind::TotalLoss => "100 % loss".into(),
            FaultKind::DnsFailure => "name lookups fail".into(),
            FaultKind::HostStep(x) => format!("host clock stepped {x:+} s"),
        }
    }
}

/// First wait after a failed lookup (the daemon's `sync::task` starts each
/// source's lookups with the same backoff, `sync/task/admit.rs`).
pub const RESOLVE_FIRST_BACKOFF: f64 = 2.0;
/// Longest wait between lookups (the daemon's `sync::source::MAX_BACKOFF`).
pub const RESOLVE_MAX_BACKOFF: f64 = 600.0;

/// One fault: `kind` from true time `start` to `end` (s after the
/// simulation's zero).
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// When it starts, s.
    pub start: f64,
    /// When it ends, s (equal to `start` for an instant such as a step).
    pub end: f64,
}

impl Fault {
    fn active(&self, t: f64) -> bool {
        self.start <= t && t < self.end
    }
}

/// What one fault did to one run.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultResult {
    /// The fault's name.
    pub name: String,
    /// Largest |clock error| while it lasted (from its start to its end), s.
    pub max_abs_during: f64,
    /// How long after its end the error last was at or above the sync
    /// threshold (0 if it never was), s — measured up to the next fault's
    /// start or the run's end.
    pub recovery: f64,
    /// How long after its end the engine accepted its first sample, s
    /// (`None`: none before the run ended).
    pub first_sample_after: Option<f64>,
}

/// The faults of a run and their bookkeeping.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    faults: Vec<Fault>,
    results: Vec<FaultResult>,
}

impl Faults {
    /// The bookkeeping for `faults` (in order of their start).
    pub fn new(faults: &[Fault]) -> Self {
        let results = faults
            .iter()
            .map(|f| FaultResult { name: f.kind.name(), max_abs_during: 0.0, recovery: 0.0, first_sample_after: None })
            .collect();
        Faults { faults: faults.to_vec(), results }
    }

    /// True when server `src` neither hears nor answers at true time `t`.
    pub fn server_silent(&self, src: usize, t: f64) -> bool {
        self.faults.iter().any(|f| f.active(t) && matches!(&f.kind, FaultKind::ServersDown(s) if s.contains(&src)))
    }

    /// True when every packet sent at true time `t` is lost.
    pub fn all_lost(&self, t: f64) -> bool {
        self.faults.iter().any(|f| f.active(t) && f.kind == FaultKind::TotalLoss)
    }

    /// True when a name lookup at true time `t` fails.
    pub fn dns_down(&self, t: f64) -> bool {
        self.faults.iter().any(|f| f.active(t) && f.kind == FaultKind::DnsFailure)
    }

    /// The host clock steps: (when, by how much).
    pub fn host_steps(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.faults.iter().filter_map(|f| match f.kind {
            FaultKind::HostStep(x) => Some((f.start, x)),
            _ => None,
        })
    }

    /// Records the clock error `e` measured at true second `t` against the
    /// sync threshold `threshold`.
    pub fn measure(&mut self, t: f64, e: f64, threshold: f64) {
        for (i, f) in self.faults.iter().enumerate() {
            let r = &mut self.results[i];
            if f.start <= t && t <= f.end {
                r.max_abs_during = r.max_abs_during.max(e.abs());
            }
            let next_start = self.faults.get(i + 1).map_or(f64::INFINITY, |n| n.start);
            if t >= f.end && t < next_start && e.abs() >= threshold {
                r.recovery = t + 1.0 - f.end;
            }
        }
    }

    /// The engine accepted a sample at true time `t`.
    pub fn sample_accepted(&mut self, t: f64) {
        for (f, r) in self.faults.iter().zip(&mut self.results) {
            if t >= f.end && r.first_sample_after.is_none() {
                r.first_sample_after = Some(t - f.end);
            }
        }
    }

    /// What each fault did.
    pub fn results(self) -> Vec<FaultResult> {
        self.results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_select_what_fails_and_recovery_counts_from_the_end() {
        let faults = [
            Fault { kind: FaultKind::ServersDown(vec![1]), start: 10.0, end: 20.0 },
            Fault { kind: FaultKind::TotalLoss, start: 30.0, end: 40.0 },
            Fault { kind: FaultKind::HostStep(0.5), start: 50.0, end: 50.0 },
        ];
        let mut f = Faults::new(&faults);
        assert!(f.server_silent(1, 10.0) && !f.server_silent(0, 15.0) && !f.server_silent(1, 20.0));
        assert!(f.all_lost(35.0) && !f.all_lost(29.9) && !f.dns_down(35.0));
        assert_eq!(f.host_steps().collect::<Vec<_>>(), vec![(50.0, 0.5)]);
        for t in 0..60 {
            let t = f64::from(t);
            // Bad from 15 s to 24 s (ends 4 s after the first fault) and at 50–52 s.
            let e = if (15.0..25.0).contains(&t) || (50.0..53.0).contains(&t) { 0.01 } else { 1e-5 };
            f.measure(t, e, 1e-3);
        }
        f.sample_accepted(45.0);
        let r = f.results();
        assert_eq!(r[0].first_sample_after, Some(25.0));
        assert_eq!(r[1].first_sample_after, Some(5.0));
        assert_eq!(r[2].first_sample_after, None);
        assert_eq!((r[0].max_abs_during, r[0].recovery), (0.01, 5.0));
        assert_eq!((r[1].max_abs_during, r[1].recovery), (1e-5, 0.0), "the first fault's tail is not the second's");
        assert_eq!(r[2].recovery, 3.0);
    }
}
