//! The NTPService status as a pure function of what one reconcile saw: the
//! rendering (or why it failed), the problems met while applying, and each
//! pod's `/api/v1/status`. Conditions keep their transition time while
//! their status stays.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;

use crate::render::{RenderError, Rendered};
use crate::resource::{Condition, NtpServiceStatus};

/// The part of a pod's `/api/v1/status` the operator reports.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DaemonStatus {
    /// Serving synchronised time.
    pub synchronised: bool,
    /// The stratum it serves.
    pub stratum: i64,
    /// Its clock's estimated offset, in seconds.
    pub offset_seconds: f64,
    /// Sources that can be selected.
    pub sources_selectable: i64,
    /// Its own health judgement.
    pub health: Health,
}

/// A pod's health judgement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Health {
    /// `ok`, `warning` or `critical`.
    pub state: String,
    /// Why, when not ok.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// One pod of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct PodReport {
    /// The pod's name.
    pub name: String,
    /// Its daemon's status, or why it could not be read.
    pub status: Result<DaemonStatus, String>,
}

/// A problem met while reconciling: a reason (CamelCase) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// E.g. `NTSCertificateMissing`.
    pub reason: String,
    /// What to do about it.
    pub message: String,
}

/// What one reconcile saw.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The resource's `metadata.generation`.
    pub generation: Option<i64>,
    /// The rendering, or why there is none (nothing was applied then).
    pub rendered: Result<&'a Rendered, &'a RenderError>,
    /// Problems met while applying.
    pub problems: Vec<Problem>,
    /// The workload's pods.
    pub pods: Vec<PodReport>,
}

fn reason_of(e: &RenderError) -> &'static str {
    match e {
        RenderError::Name(_) => "InvalidName",
        RenderError::Spec(_) => "InvalidSpec",
        RenderError::Client { .. } => "InvalidNTPClient",
        RenderError::File(_) => "InvalidResource",
    }
}

struct Summary {
    pods: i32,
    synchronised: i32,
    stratum: Option<i64>,
    offset: Option<f64>,
    sources: Option<i64>,
    unreadable: Vec<String>,
    unhealthy: Vec<String>,
}

fn summarise(pods: &[PodReport]) -> Summary {
    let mut s = Summary {
        pods: i32::try_from(pods.len()).unwrap_or(i32::MAX),
        synchronised: 0,
        stratum: None,
        offset: None,
        sources: None,
        unreadable: Vec::new(),
        unhealthy: Vec::new(),
    };
    for p in pods {
        match &p.status {
            Err(e) => s.unreadable.push(format!("{}: {e}", p.name)),
            Ok(d) => {
                if d.health.state != "ok" {
                    s.unhealthy.push(format!("{} is {} ({})", p.name, d.health.state, d.health.reasons.join(", ")));
                }
                if !d.synchronised {
                    continue;
                }
                s.synchronised += 1;
                s.stratum = Some(s.stratum.map_or(d.stratum, |x| x.max(d.stratum)));
                s.sources = Some(s.sources.map_or(d.sources_selectable, |x| x.min(d.sources_selectable)));
                let worse = s.offset.is_none_or(|o| d.offset_seconds.abs() > o.abs());
                if worse {
                    s.offset = Some(d.offset_seconds);
                }
            }
        }
    }
    s
}

/// The new status; `previous` keeps transition times of unchanged conditions.
pub fn status(previous: Option<&NtpServiceStatus>, observed: &Observed<'_>, now: &Time) -> NtpServiceStatus {
    let condition = |type_: &str, ok: Option<bool>, reason: &str, message: String| {
        let status = match ok {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        };
        let since = previous
            .and_then(|p| p.condition(type_))
            .filter(|c| c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            last_transition_time: since,
            observed_generation: observed.generation,
        }
    };
    let rendered = match observed.rendered {
        Ok(r) => r,
        Err(e) => {
            // Nothing was applied: the objects of the last good spec stay.
            let mut kept = previous.cloned().unwrap_or_default();
            let reason = reason_of(e);
            kept.observed_generation = observed.generation;
            kept.conditions = vec![
                condition("Reconciled", Some(false), reason, e.to_string()),
                condition("Ready", None, reason, "the spec cannot be applied; the previous objects stay".to_owned()),
                condition("Degraded", Some(true), reason, e.to_string()),
            ];
            return kept;
        }
    };
    let s = summarise(&observed.pods);
    let reconciled = match observed.problems.first() {
        Some(p) if p.reason == "ApplyFailed" => condition("Reconciled", Some(false), &p.reason, p.message.clone()),
        _ => condition("Reconciled", Some(true), "Applied", format!("{} objects applied", rendered.objects.len())),
    };
    let ready = if !rendered.enabled {
        condition("Ready", Some(false), "Disabled", "spec.enabled is false: no workload runs".to_owned())
    } else if s.pods == 0 {
        condition("Ready", Some(false), "NoPods", "no pod of the workload runs yet".to_owned())
    } else if !s.unreadable.is_empty() && s.synchronised < s.pods {
        condition("Ready", None, "StatusUnavailable", s.unreadable.join("; "))
    } else if s.synchronised < s.pods {
        condition(
            "Ready",
            Some(false),
            "NotSynchronised",
            format!("{} of {} pods serve synchronised time", s.synchronised, s.pods),
        )
    } else {
        condition("Ready", Some(true), "Synchronised", format!("all {} pods serve synchronised time", s.pods))
    };
    let mut degraded: Vec<Problem> = observed.problems.clone();
    if !s.unhealthy.is_empty() {
        degraded.push(Problem { reason: "PodHealth".to_owned(), message: s.unhealthy.join("; ") });
    }
    if !rendered.warnings.is_empty() {
        degraded.push(Problem { reason: "ConfigurationWarnings".to_owned(), message: rendered.warnings.join("; ") });
    }
    let degraded = match degraded.first() {
        Some(first) => {
            let message = degraded.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ");
            condition("Degraded", Some(true), &first.reason, message)
        }
        None => condition("Degraded", Some(false), "AsExpected", String::new()),
    };
    NtpServiceStatus {
        observed_generation: observed.generation,
        conditions: vec![reconciled, ready, degraded],
        objects: rendered.ids(),
        pods: rendered.enabled.then_some(s.pods),
        synchronised: rendered.enabled.then(|| format!("{}/{}", s.synchronised, s.pods)),
        stratum: s.stratum,
        offset_seconds: s.offset,
        sources: s.sources,
    }
}
