//! Injected test faults (`/test/fault`, `[development]
//! enable_test_endpoints`): operators check their alerting and their clients
//! end to end by making the daemon misbehave on purpose, for a bounded time.
//!
//! - `unsynchronised`: replies, `status`, `/readyz` and the metrics say
//!   unsynchronised (applied in [`crate::served::StateCell`]);
//! - `drop_source`: datagrams from one upstream source are ignored, so it
//!   turns unreachable (checked by the sync loop);
//! - `offset`: served time carries a fixed extra offset (only with the
//!   virtual clock: the system clock is never touched);
//! - `refuse_nts_ke`: the NTS-KE server closes every connection at once.
//!
//! Every fault has a deadline of at most [`MAX_DURATION`] and ends by itself
//! there (each check compares with it; the daemon's one-second tick removes
//! ended faults, logs and audits them). Injection is logged at warning level,
//! and active faults are listed by `status` and `/api/v1/status`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::served::overlay::ServedFaults;
use crate::served::StateCell;

/// The longest a fault may last.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The largest offset a fault may add, s.
pub const MAX_OFFSET: f64 = 3600.0;

/// A switch that is on until a deadline and then off by itself.
#[derive(Clone, Debug, Default)]
pub struct Deadline(Arc<Mutex<Option<Instant>>>);

impl Deadline {
    fn lock(&self) -> MutexGuard<'_, Option<Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// On until `until` (None: off).
    pub fn set(&self, until: Option<Instant>) {
        *self.lock() = until;
    }

    /// True while on.
    pub fn active(&self) -> bool {
        self.lock().is_some_and(|until| Instant::now() < until)
    }
}

/// What to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultName {
    /// Report unsynchronised.
    Unsynchronised,
    /// Ignore an upstream source's replies (`source`).
    DropSource,
    /// Add `offset_seconds` to served time.
    Offset,
    /// Refuse NTS-KE connections.
    RefuseNtsKe,
}

impl FaultName {
    /// The name the API uses.
    pub fn name(self) -> &'static str {
        match self {
            FaultName::Unsynchronised => "unsynchronised",
            FaultName::DropSource => "drop_source",
            FaultName::Offset => "offset",
            FaultName::RefuseNtsKe => "refuse_nts_ke",
        }
    }
}

/// A request to `/test/fault`, and an active fault as the API shows it
/// (with `id`, `started`, `ends` and `remaining_seconds` filled in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// What to break.
    pub fault: FaultName,
    /// For how long, s (1 to 3600).
    pub duration_seconds: f64,
    /// `drop_source`: the source's name as configured, or its address
    /// (`ip` or `ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `offset`: seconds added to served time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_seconds: Option<f64>,
}

/// An active fault as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultView {
    /// Its number, counting from 1 since start.
    pub id: u64,
    /// What is broken, and for how long in all.
    #[serde(flatten)]
    pub request: FaultRequest,
    /// When it started, Unix seconds.
    pub started: f64,
    /// When it ends by itself, Unix seconds.
    pub ends: f64,
    /// Seconds until then.
    pub remaining_seconds: f64,
}

#[derive(Clone, Debug)]
struct Active {
    id: u64,
    request: FaultRequest,
    started: SystemTime,
    until: Instant,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Active {
    fn view(&self, now: Instant) -> FaultView {
        let remaining = self.until.saturating_duration_since(now);
        FaultView {
            id: self.id,
            request: self.request.clone(),
            started: unix(self.started),
            ends: unix(SystemTime::now() + remaining),
            remaining_seconds: remaining.as_secs_f64(),
        }
    }
}

/// Why a fault was not injected (an HTTP 4xx).
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The request is wrong (400).
    Invalid(String),
    /// The daemon cannot do it in its current setup (409).
    NotApplicable(String),
}

/// What the daemon runs, for checking a fault applies.
pub struct Setup<'a> {
    /// The discipline in force (`virtual`, `system`, `local`, `none`).
    pub discipline: &'a str,
    /// The sources running or waiting: (name, address).
    pub sources: Vec<(String, Option<String>)>,
}

/// The active faults.
pub struct Faults {
    active: Mutex<Vec<Active>>,
    next_id: AtomicU64,
    state: StateCell,
    nts_ke: Mutex<Option<Deadline>>,
}

impl Faults {
    /// No faults; served-time faults go to `state`.
    pub fn new(state: StateCell) -> Faults {
        Faults { active: Mutex::new(Vec::new()), next_id: AtomicU64::new(1), state, nts_ke: Mutex::new(None) }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ke_switch(&self) -> Option<Deadline> {
        self.nts_ke.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The running NTS-KE server's refusal switch (None: NTS-KE is off).
    pub fn set_nts_ke(&self, switch: Option<Deadline>) {
        *self.nts_ke.lock().unwrap_or_else(|e| e.into_inner()) = switch;
    }

    /// Starts a fault, or says why not.
    pub fn inject(&self, request: FaultRequest, setup: &Setup<'_>) -> Result<FaultView, Refusal> {
        let d = request.duration_seconds;
        if !(d.is_finite() && (1.0..=MAX_DURATION.as_secs_f64()).contains(&d)) {
            return Err(Refusal::Invalid(format!("duration_seconds must be 1..={}, got {d}", MAX_DURATION.as_secs())));
        }
        let extra = |field: &str, set: bool| {
            if set {
                Err(Refusal::Invalid(format!("{field} does not apply to fault {:?}", request.fault)))
            } else {
                Ok(())
            }
        };
        match request.fault {
            FaultName::Unsynchronised | FaultName::RefuseNtsKe => {
                extra("source", request.source.is_some())?;
                extra("offset_seconds", request.offset_seconds.is_some())?;
            }
            FaultName::DropSource => extra("offset_seconds", request.offset_seconds.is_some())?,
            FaultName::Offset => extra("source", request.source.is_some())?,
        }
        match request.fault {
            FaultName::Unsynchronised => {}
            FaultName::DropSource => {
                let Some(source) = &request.source else {
                    return Err(Refusal::Invalid("drop_source needs `source` (a name or an address)".into()));
                };
                if !setup.sources.iter().any(|(name, addr)| matches_source(source, name, addr.as_deref())) {
                    return Err(Refusal::NotApplicable(format!("no source named or at {source:?}")));
                }
            }
            FaultName::Offset => {
                let Some(offset_seconds) = request.offset_seconds else {
                    return Err(Refusal::Invalid("offset needs `offset_seconds`".into()));
                };
                if !(offset_seconds.is_finite() && offset_seconds.abs() <= MAX_OFFSET) {
                    return Err(Refusal::Invalid(format!("offset_seconds must be within ±{MAX_OFFSET}")));
                }
                if setup.discipline != "virtual" {
                    return Err(Refusal::NotApplicable(format!(
                        "an offset is added only to the virtual clock's served time; the discipline is {:?}",
                        setup.discipline
                    )));
                }
            }
            FaultName::RefuseNtsKe => {
                if self.ke_switch().is_none() {
                    return Err(Refusal::NotApplicable("NTS-KE is not running (security.nts.enabled)".into()));
                }
            }
        }
        let now = Instant::now();
        let active = Active {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            request,
            started: SystemTime::now(),
            until: now + Duration::from_secs_f64(d),
        };
        let view = active.view(now);
        tracing::warn!(
            id = view.id,
            fault = view.request.fault.name(),
            source = ?view.request.source,
            offset_s = ?view.request.offset_seconds,
            seconds = d,
            "test fault injected"
        );
        self.lock().push(active);
        self.apply();
        Ok(view)
    }

    /// The faults in force.
    pub fn active(&self) -> Vec<FaultView> {
        let now = Instant::now();
        self.lock().iter().filter(|a| now < a.until).map(|a| a.view(now)).collect()
    }

    /// Removes the faults whose time is up and returns them (the daemon calls
    /// this every second and logs them).
    pub fn expire(&self) -> Vec<FaultView> {
        let now = Instant::now();
        let ended: Vec<FaultView> = {
            let mut active = self.lock();
            let ended = active.iter().filter(|a| now >= a.until).map(|a| a.view(now)).collect();
            active.retain(|a| now < a.until);
            ended
        };
        if !ended.is_empty() {
            self.apply();
        }
        ended
    }

    /// Ends every fault now; returns them.
    pub fn end_all(&self) -> Vec<FaultView> {
        let now = Instant::now();
        let ended = std::mem::take(&mut *self.lock()).iter().map(|a| a.view(now)).collect();
        self.apply();
        ended
    }

    /// True while replies from the source `name` at `addr` are to be dropped.
    pub fn drops(&self, name: &str, addr: SocketAddr) -> bool {
        let now = Instant::now();
        let addr_text = addr.to_string();
        self.lock().iter().any(|a| {
            now < a.until
                && a.request.fault == FaultName::DropSource
                && a.request.source.as_deref().is_some_and(|s| matches_source(s, name, Some(&addr_text)))
        })
    }

    /// Hands the served-time faults and the NTS-KE switch their deadlines.
    fn apply(&self) {
        let (mut served, mut ke_until) = (ServedFaults::default(), None::<Instant>);
        for a in self.lock().iter() {
            match a.request.fault {
                FaultName::Unsynchronised => {
                    served.unsynchronised_until = served.unsynchronised_until.max(Some(a.until));
                }
                FaultName::Offset => served.offset = a.request.offset_seconds.map(|x| (x, a.until)),
                FaultName::RefuseNtsKe => ke_until = ke_until.max(Some(a.until)),
                FaultName::DropSource => {}
            }
        }
        self.state.set_faults(served);
        if let Some(switch) = self.ke_switch() {
            switch.set(ke_until);
        }
    }
}

/// A source is named by its configured name, its address with port, or its
/// IP address alone.
fn matches_source(wanted: &str, name: &str, addr: Option<&str>) -> bool {
    if wanted == name {
        return true;
    }
    let Some(addr) = addr else { return false };
    wanted == addr || addr.parse::<SocketAddr>().is_ok_and(|a| wanted.parse() == Ok(a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::local::unsynchronised;
    use crate::served::{Correction, Snapshot};

    fn synced() -> Snapshot {
        let mut s = unsynchronised(-20);
        s.server.stratum = 2;
        s.server.leap = ntp_proto::LeapIndicator::NoWarning;
        s.correction = Correction::IDENTITY;
        s
    }

    fn setup() -> Setup<'static> {
        Setup { discipline: "virtual", sources: vec![("ntp.example".into(), Some("192.0.2.1:123".into()))] }
    }

    fn request(json: &str) -> FaultRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_fault_applies_and_ends_by_itself() {
        let state = StateCell::new(synced());
        let faults = Faults::new(state.clone());
        let ke = Deadline::default();
        faults.set_nts_ke(Some(ke.clone()));
        faults.inject(request(r#"{"fault":"unsynchronised","duration_seconds":1}"#), &setup()).unwrap();
        faults.inject(request(r#"{"fault":"offset","offset_seconds":0.5,"duration_seconds":1}"#), &setup()).unwrap();
        faults
            .inject(request(r#"{"fault":"drop_source","source":"192.0.2.1","duration_seconds":1}"#), &setup())
            .unwrap();
        faults.inject(request(r#"{"fault":"refuse_nts_ke","duration_seconds":1}"#), &setup()).unwrap();
        assert!(!state.load().server.is_synchronised());
        assert_eq!(state.load().correction.offset.to_seconds(), 0.5);
        assert!(faults.drops("ntp.example", "192.0.2.1:123".parse().unwrap()));
        assert!(!faults.drops("other", "192.0.2.2:123".parse().unwrap()));
        assert!(ke.active());
        assert_eq!(faults.active().len(), 4);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(faults.expire().len(), 4);
        assert!(faults.active().is_empty());
        assert_eq!(**state.load(), synced());
        assert!(!ke.active());
        assert!(!faults.drops("ntp.example", "192.0.2.1:123".parse().unwrap()));
    }

    #[test]
    fn refusals_say_why() {
        let faults = Faults::new(StateCell::new(synced()));
        let bad = |json: &str, setup: &Setup<'_>| faults.inject(request(json), setup).unwrap_err();
        assert!(matches!(bad(r#"{"fault":"unsynchronised","duration_seconds":0}"#, &setup()), Refusal::Invalid(_)));
        assert!(matches!(bad(r#"{"fault":"unsynchronised","duration_seconds":3601}"#, &setup()), Refusal::Invalid(_)));
        let local = Setup { discipline: "local", sources: Vec::new() };
        assert!(matches!(
            bad(r#"{"fault":"offset","offset_seconds":1,"duration_seconds":5}"#, &local),
            Refusal::NotApplicable(_)
        ));
        assert!(matches!(
            bad(r#"{"fault":"drop_source","source":"nope","duration_seconds":5}"#, &setup()),
            Refusal::NotApplicable(_)
        ));
        assert!(matches!(
            bad(r#"{"fault":"refuse_nts_ke","duration_seconds":5}"#, &setup()),
            Refusal::NotApplicable(_)
        ));
        assert!(serde_json::from_str::<FaultRequest>(r#"{"fault":"melt","duration_seconds":5}"#).is_err());
        assert!(faults.active().is_empty());
        // Ending early.
        faults.inject(request(r#"{"fault":"unsynchronised","duration_seconds":60}"#), &setup()).unwrap();
        assert_eq!(faults.end_all().len(), 1);
        assert!(faults.active().is_empty());
    }
}
