//! One source inside the engine: its settings, estimator, latest sample,
//! reachability and selection state, and how it presents itself to
//! selection (its correctness interval).

use crate::config::SourceParams;
use crate::estimate::SourceEstimator;
use crate::select::Candidate;
use crate::state::{SelectionState, SourceId, SourceReport};
use ntp_proto::source::{Reach, Sample, PHI};

/// The engine's record of a source.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    /// Handle.
    pub id: SourceId,
    /// Settings.
    pub params: SourceParams,
    /// The estimator.
    pub estimator: SourceEstimator,
    /// Reachability, from the poller.
    pub reach: Reach,
    /// The latest accepted sample.
    pub last: Option<Sample>,
    /// Engine time of that sample.
    pub last_t: f64,
    /// Selection state after the last selection.
    pub state: SelectionState,
    /// Samples skipped as spikes.
    pub outliers: u64,
    /// The last poll advice.
    pub poll_advice: i8,
}

impl SourceEntry {
    /// A new source.
    pub fn new(id: SourceId, params: SourceParams, estimator: SourceEstimator, poll: i8) -> Self {
        SourceEntry {
            id,
            params,
            estimator,
            reach: Reach::new(),
            last: None,
            last_t: 0.0,
            state: if params.noselect { SelectionState::NoSelect } else { SelectionState::Pending },
            outliers: 0,
            poll_advice: poll,
        }
    }

    /// True when this source counts towards the majority: selectable, and
    /// reachable or not yet polled enough to tell.
    pub fn counts(&self) -> bool {
        !self.params.noselect && !self.reach.is_unreachable()
    }

    /// Root distance at engine time `t`: half the total round trip to the
    /// primary reference (with the filter's minimum delay), the server's
    /// root dispersion, the sample's own dispersion grown at PHI since it
    /// was taken, the estimate's standard deviation and the jitter. (The
    /// RFC 5905 filter dispersion, which counts empty filter stages as 16 s,
    /// is shown per source but not used here: it would make a new source
    /// unselectable until it has four samples.)
    pub fn distance(&self, t: f64) -> Option<f64> {
        let s = self.last.as_ref()?;
        let e = self.estimator.estimate_at(t)?;
        let age = (t - self.last_t).max(0.0);
        let f = s.filter;
        Some(
            (s.root_delay + f.delay) / 2.0
                + s.root_dispersion
                + s.dispersion
                + PHI * age
                + e.offset_var.sqrt()
                + f.jitter.max(self.estimator.jitter()),
        )
    }

    /// The selection candidate at engine time `t`, or the state explaining
    /// why this source is not one.
    pub fn candidate(&self, t: f64, max_distance: f64) -> Result<Candidate, SelectionState> {
        if self.params.noselect {
            return Err(SelectionState::NoSelect);
        }
        if self.reach.is_unreachable() {
            return Err(SelectionState::Unreachable);
        }
        let (Some(s), Some(e), Some(distance)) = (self.last.as_ref(), self.estimator.estimate_at(t), self.distance(t))
        else {
            return Err(SelectionState::Pending);
        };
        if distance.is_nan() || distance > max_distance {
            return Err(SelectionState::TooFar);
        }
        Ok(Candidate {
            offset: e.offset,
            offset_var: e.offset_var,
            rate: e.rate,
            rate_var: e.rate_var,
            distance,
            jitter: s.filter.jitter.max(self.estimator.jitter()),
            server_error: s.root_delay / 2.0 + s.root_dispersion,
            stratum: s.stratum,
            prefer: self.params.prefer,
            trust: self.params.trust,
            leap: s.leap,
        })
    }

    /// The status report at engine time `t`.
    pub fn report(&self, t: f64) -> SourceReport {
        let e = self.estimator.estimate_at(t);
        SourceReport {
            id: self.id,
            state: self.state,
            offset: e.map_or(0.0, |e| e.offset),
            offset_sd: e.map_or(0.0, |e| e.offset_var.sqrt()),
            frequency_ppm: e.map_or(0.0, |e| -e.rate * 1e6),
            frequency_sd_ppm: e.map_or(0.0, |e| e.rate_var.max(0.0).sqrt() * 1e6),
            delay: self.last.map_or(0.0, |s| s.filter.delay),
            jitter: self.estimator.jitter(),
            distance: self.distance(t).unwrap_or(f64::INFINITY),
            wander_ppb_per_s: self.estimator.wander().sqrt() * 1e9,
            samples: self.estimator.samples(),
            outliers: self.outliers,
            poll_advice: self.poll_advice,
            stratum: self.last.map_or(0, |s| s.stratum),
        }
    }
}
