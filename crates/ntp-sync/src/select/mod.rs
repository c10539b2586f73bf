//! Source selection: which sources tell the truth, and what they say
//! together.
//!
//! 1. [`intersect`]: Marzullo intersection of the candidates' correctness
//!    intervals; candidates outside it are falsetickers.
//! 2. The agreement rule: the survivors must number at least
//!    `max(min_sources, ⌊N/2⌋ + 1)`, N being every source that counts
//!    (reachable, or not yet polled enough to tell — see
//!    [`ntp_proto::source::Reach`]). So one source is used alone; two must
//!    agree (two that disagree cannot both be trusted, and nothing says
//!    which one lies); three need two; four need three. A source that has
//!    not answered yet still counts, so a falseticker that answers first is
//!    never selected alone.
//! 3. [`cluster`]: drop survivors far from the others.
//! 4. `prefer`: if a preferred source survives, only preferred ones are
//!    combined.
//!
//! `trust` (chrony's option, for reference clocks one relies on): when
//! trusted candidates exist, the intersection and the majority are those
//! of the trusted ones alone; an untrusted candidate then survives only if
//! its whole interval lies inside the trusted intersection (so it cannot
//! pull the result out of it), is kept as a plain candidate if it merely
//! overlaps, and is a falseticker otherwise. A trusted source is thus
//! rejected only when other trusted sources disagree with it.
//! 5. [`combine`]: weighted combination.
//! 6. [`peer`]: the system peer (whose stratum and reference id we
//!    advertise): the combined source with the smallest root distance, each
//!    stratum above the lowest counting as 1 ms more, and the current peer
//!    kept unless another is better by more than 100 µs.

pub mod cluster;
pub mod combine;
pub mod intersect;
pub mod peer;

use combine::{Combined, Contribution};
use ntp_proto::LeapIndicator;

/// A source offered to selection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Offset estimate, s.
    pub offset: f64,
    /// Its variance.
    pub offset_var: f64,
    /// Offset rate estimate, s/s.
    pub rate: f64,
    /// Its variance.
    pub rate_var: f64,
    /// Root distance (half-width of the correctness interval), s.
    pub distance: f64,
    /// Jitter, s.
    pub jitter: f64,
    /// The server's own uncertainty (root delay / 2 + root dispersion), s.
    pub server_error: f64,
    /// The server's stratum (0 for a reference clock).
    pub stratum: u8,
    /// Configured `prefer`.
    pub prefer: bool,
    /// Configured `trust`.
    pub trust: bool,
    /// The server's leap indicator.
    pub leap: LeapIndicator,
}

/// What selection made of one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Outside the majority's intersection.
    Falseticker,
    /// Survived the intersection but dropped by clustering or `prefer`.
    Candidate,
    /// Combined into the system estimate.
    Combined,
    /// Combined, and the system peer.
    SystemPeer,
}

/// Why nothing was selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSelection {
    /// No candidate at all.
    NoCandidates,
    /// Too few candidates agree.
    NoMajority {
        /// The largest group that agrees.
        agreeing: usize,
        /// How many are needed.
        needed: usize,
    },
}

/// The outcome of selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// One verdict per candidate, in input order.
    pub verdicts: Vec<Verdict>,
    /// The combined estimate and the system peer's index, or why not.
    pub result: Result<(Combined, usize), NoSelection>,
}

/// Sources that must agree out of `population` counting sources.
pub fn needed(population: usize, min_sources: usize) -> usize {
    (population / 2 + 1).max(min_sources).max(1)
}

/// The candidates that survive the intersection (and the untrusted ones
/// that only overlap a trusted intersection), or why too few agree.
fn survivors(candidates: &[Candidate], needed: usize) -> Result<(Vec<usize>, Vec<usize>), NoSelection> {
    let trusted: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].trust).collect();
    let voters: Vec<usize> = if trusted.is_empty() { (0..candidates.len()).collect() } else { trusted.clone() };
    let needed = if trusted.is_empty() { needed } else { trusted.len() / 2 + 1 };
    let intervals: Vec<(f64, f64)> = voters.iter().map(|&i| (candidates[i].offset, candidates[i].distance)).collect();
    let Some((low, high)) = intersect::intersect(&intervals) else {
        return Err(NoSelection::NoMajority { agreeing: 0, needed });
    };
    let overlaps = |c: &Candidate| c.offset - c.distance <= high && c.offset + c.distance >= low;
    let agreeing: Vec<usize> = voters.iter().copied().filter(|&i| overlaps(&candidates[i])).collect();
    if agreeing.len() < needed {
        return Err(NoSelection::NoMajority { agreeing: agreeing.len(), needed });
    }
    if trusted.is_empty() {
        return Ok((agreeing, Vec::new()));
    }
    let (mut inside, mut overlapping) = (agreeing, Vec::new());
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| !c.trust) {
        if c.offset - c.distance >= low && c.offset + c.distance <= high {
            inside.push(i);
        } else if overlaps(c) {
            overlapping.push(i);
        }
    }
    inside.sort_unstable();
    Ok((inside, overlapping))
}

/// Runs selection over `candidates`, `population` sources counting towards
/// the majority (at least `candidates.len()`); `current_peer` is the
/// candidate that is the system peer now, if one is.
pub fn select(
    candidates: &[Candidate],
    population: usize,
    min_sources: usize,
    current_peer: Option<usize>,
) -> Selection {
    let n = candidates.len();
    let needed = needed(population.max(n), min_sources);
    let mut verdicts = vec![Verdict::Falseticker; n];
    if n == 0 {
        return Selection { verdicts, result: Err(NoSelection::NoCandidates) };
    }
    let (survivors, overlapping) = match survivors(candidates, needed) {
        Ok(s) => s,
        Err(e) => return Selection { verdicts, result: Err(e) },
    };
    for &i in &overlapping {
        verdicts[i] = Verdict::Candidate;
    }
    let points: Vec<(f64, f64)> = survivors.iter().map(|&i| (candidates[i].offset, candidates[i].jitter)).collect();
    let keep = cluster::cluster(&points);
    let mut chosen: Vec<usize> = survivors.iter().zip(&keep).filter(|(_, &k)| k).map(|(&i, _)| i).collect();
    for &i in &survivors {
        verdicts[i] = Verdict::Candidate;
    }
    if chosen.iter().any(|&i| candidates[i].prefer) {
        chosen.retain(|&i| candidates[i].prefer);
    }
    let parts: Vec<Contribution> = chosen
        .iter()
        .map(|&i| {
            let c = &candidates[i];
            Contribution {
                offset: c.offset,
                offset_var: c.offset_var + c.server_error * c.server_error,
                measurement_var: c.offset_var,
                rate: c.rate,
                rate_var: c.rate_var,
                leap: c.leap,
            }
        })
        .collect();
    let Some(combined) = combine::combine(&parts) else {
        return Selection { verdicts, result: Err(NoSelection::NoCandidates) };
    };
    for &i in &chosen {
        verdicts[i] = Verdict::Combined;
    }
    let peer = peer::system_peer(candidates, &chosen, current_peer);
    verdicts[peer] = Verdict::SystemPeer;
    Selection { verdicts, result: Ok((combined, peer)) }
}

#[cfg(test)]
mod tests;
