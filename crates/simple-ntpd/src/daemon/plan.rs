//! Where served time comes from, decided from the configuration: a local
//! reference, the host clock as the kernel describes it, or upstream
//! sources through the synchronisation loop. A reload restarts the time
//! source when the new plan differs from the running one in anything.

use std::sync::Arc;

use ntp_config::{Config, Upstream};
use tracing::{info, warn};

use super::sources_dir::merged;
use crate::clock::SystemClock;
use crate::refclock::devices::Devices;
use crate::refclock::spec::RefclockSpec;
use crate::security::keys::SymmetricKeys;
use crate::served::leap::announce;
use crate::served::local::{unsynchronised, LocalReference};
use crate::served::{Correction, Snapshot, StateCell};
use crate::status::{StatusHub, SyncReport};
use crate::sync::broadcast::BroadcastSpec;
use crate::sync::drivers::{choose, Steering};
use crate::sync::host;
use crate::sync::task::{SyncHandle, SyncSettings};

/// Where served time comes from. Compared whole on reload (derived
/// equality: a new setting can not be forgotten).
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No sources: this host's clock at a configured stratum.
    Local(LocalReference),
    /// `discipline = "none"`: the host clock as the kernel describes it.
    Host {
        /// Advertised stratum.
        stratum: u8,
    },
    /// Upstream sources through the synchronisation engine.
    Sync(Box<SyncSettings>),
}

impl Plan {
    /// The plan for `config` with the clock's measured `precision`, the
    /// keys the sources may name (see `preflight`) and the sources listed in
    /// `[sources] directory` (see `sources_dir`).
    pub fn from_config(config: &Config, precision: i8, source_keys: &SymmetricKeys, directory: &[Upstream]) -> Plan {
        let (discipline, why) = choose(config.clock.discipline);
        if discipline == Steering::None {
            if !config.is_local_reference() {
                warn!("clock.discipline = \"none\": the configured sources are not used; serving the host clock as the kernel describes it");
            }
            if config.server.leap_smear.enabled {
                warn!("server.leap_smear has no effect with clock.discipline = \"none\": leap seconds are announced instead");
            }
            return Plan::Host { stratum: config.ntp_server.stratum };
        }
        if config.is_local_reference() {
            if config.server.leap_smear.enabled {
                warn!("server.leap_smear has no effect with a local reference (no upstream sources or reference clocks): leap seconds are announced instead");
            }
            return Plan::Local(LocalReference { stratum: config.ntp_server.stratum, precision });
        }
        info!(discipline = discipline.name(), reason = why, "clock discipline");
        // A PPS with nothing to name the seconds keeps the host clock as the
        // local reference it was without it (served until the pulses are used).
        let pps_on_local_clock = config.pps_on_local_clock();
        let local = &config.server.local;
        let local_fallback =
            local.enabled.then_some(local.stratum).or(pps_on_local_clock.then_some(config.ntp_server.stratum));
        Plan::Sync(Box::new(SyncSettings {
            upstreams: merged(config, directory),
            discipline,
            makestep: (config.server.makestep.threshold, config.server.makestep.limit),
            panic_threshold: config.clock.panic_threshold,
            min_sources: config.clock.min_sources,
            local_fallback,
            driftfile: config.server.driftfile.clone(),
            keys: source_keys.clone(),
            precision,
            refclocks: crate::refclock::spec::refclocks(config, precision),
            pps_on_local_clock,
            broadcast: BroadcastSpec::from_config(config),
        }))
    }

    /// The same plan with the directory's sources `directory` in place of
    /// the ones it had (the configured ones stay).
    pub fn with_directory_sources(&self, config: &Config, directory: &[Upstream]) -> Plan {
        match self {
            Plan::Sync(s) => {
                Plan::Sync(Box::new(SyncSettings { upstreams: merged(config, directory), ..(**s).clone() }))
            }
            other => other.clone(),
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            Plan::Local(l) => format!("local reference stratum {}", l.stratum),
            Plan::Host { stratum } => format!("host clock (discipline none) at stratum {stratum}"),
            Plan::Sync(s) => format!(
                "{} source(s), {} refclock(s), {} broadcast client(s), discipline {}",
                s.upstreams.len(),
                s.refclocks.len(),
                s.broadcast.len(),
                s.discipline.name()
            ),
        }
    }

    /// The reference clocks it reads.
    pub fn refclocks(&self) -> &[RefclockSpec] {
        match self {
            Plan::Sync(s) => &s.refclocks,
            _ => &[],
        }
    }

    /// The discipline as the API names it.
    pub fn discipline_name(&self) -> &'static str {
        match self {
            Plan::Local(_) => "local",
            Plan::Host { .. } => "none",
            Plan::Sync(s) => s.discipline.name(),
        }
    }

    /// Warns when the plan steers the system clock but the process gave up
    /// CAP_SYS_TIME at start (a reload cannot get it back).
    pub fn warn_if_time_cannot_be_set(&self) {
        if self.steers_system_clock() && !crate::security::privileges::can_set_time() {
            warn!(
                "discipline \"system\" needs CAP_SYS_TIME, which this process no longer has (dropped at start): \
                 clock adjustments will fail until simple-ntpd is restarted"
            );
        }
    }

    /// True when the plan steers the system clock (needs CAP_SYS_TIME).
    pub fn steers_system_clock(&self) -> bool {
        matches!(self, Plan::Sync(s) if s.discipline == Steering::System)
    }

    /// What to serve from the first reply on, before the time source runs:
    /// a local reference and the host clock are known before the event loop
    /// starts (no reply should say unsynchronised); sources start
    /// unsynchronised.
    pub fn initial_snapshot(&self, precision: i8) -> Snapshot {
        match self {
            Plan::Local(l) => l.snapshot(SystemClock.now()),
            Plan::Host { stratum } => host::snapshot(*stratum, precision),
            Plan::Sync(_) => unsynchronised(precision),
        }
    }

    /// Starts the time source; a virtual clock continues from `previous`;
    /// `devices` are the running drivers of [`Self::refclocks`].
    pub fn start(
        &self,
        state: &StateCell,
        hub: &Arc<StatusHub>,
        precision: i8,
        previous: Option<Correction>,
        devices: Option<Arc<Devices>>,
    ) -> Running {
        hub.set_sync(SyncReport { discipline: self.discipline_name().into(), ..SyncReport::default() });
        hub.set_sync_debug(None);
        match self {
            Plan::Local(l) => {
                let now = SystemClock.now();
                state.publish(announce(l.snapshot(now), &state.leap(), now));
                Running::Local(*l)
            }
            Plan::Host { stratum } => {
                state.publish(announce(host::snapshot(*stratum, precision), &state.leap(), SystemClock.now()));
                Running::Host { stratum: *stratum }
            }
            Plan::Sync(settings) => {
                if previous.is_none() {
                    state.publish(unsynchronised(precision));
                }
                Running::Sync(crate::sync::task::start(
                    (**settings).clone(),
                    state.clone(),
                    hub.clone(),
                    previous,
                    devices,
                ))
            }
        }
    }
}

/// The running time source.
pub enum Running {
    /// Republished every second.
    Local(LocalReference),
    /// Republished every second from the kernel's view.
    Host {
        /// Advertised stratum.
        stratum: u8,
    },
    /// The synchronisation loop.
    Sync(SyncHandle),
}

impl Running {
    /// Stops it; a virtual clock's correction is handed back for a successor.
    pub async fn stop(self) -> Option<Correction> {
        match self {
            Running::Sync(h) => h.stop().await,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntp_proto::auth::{KeyType, SymmetricKey};

    fn sync_plan() -> SyncSettings {
        let mut c = Config::default();
        c.sources.servers.push(ntp_config::ServerSource {
            address: "192.0.2.1".parse().unwrap(),
            iburst: true,
            prefer: false,
            minpoll: 4,
            maxpoll: 6,
            key: None,
            nts: false,
            ca: None,
            xleave: false,
        });
        SyncSettings {
            upstreams: c.upstreams(),
            discipline: Steering::Virtual,
            makestep: (1.0, 3),
            panic_threshold: 1000.0,
            min_sources: 1,
            local_fallback: None,
            driftfile: None,
            keys: SymmetricKeys::new(),
            precision: -20,
            refclocks: Vec::new(),
            pps_on_local_clock: false,
            broadcast: Vec::new(),
        }
    }

    #[test]
    fn every_setting_of_a_plan_counts_on_reload() {
        let base = Plan::Sync(Box::new(sync_plan()));
        let key = SymmetricKey::new(1, KeyType::Aes128, vec![1; 16]).unwrap();
        type Change = Box<dyn Fn(&mut SyncSettings)>;
        let changes: Vec<(&str, Change)> = vec![
            ("upstreams", Box::new(|s| s.upstreams[0].maxpoll = 7)),
            ("discipline", Box::new(|s| s.discipline = Steering::System)),
            ("makestep", Box::new(|s| s.makestep.1 = 4)),
            ("panic_threshold", Box::new(|s| s.panic_threshold = 10.0)),
            ("min_sources", Box::new(|s| s.min_sources = 2)),
            ("local_fallback", Box::new(|s| s.local_fallback = Some(10))),
            ("driftfile", Box::new(|s| s.driftfile = Some("/var/lib/x".into()))),
            ("keys", Box::new(move |s| drop(s.keys.insert(1, key.clone())))),
            ("precision", Box::new(|s| s.precision = -24)),
            ("pps_on_local_clock", Box::new(|s| s.pps_on_local_clock = true)),
            (
                "broadcast",
                Box::new(|s| {
                    s.broadcast.push(BroadcastSpec {
                        interface: "vlan-10".into(),
                        server: None,
                        port: 123,
                        key: None,
                        prefer: false,
                    })
                }),
            ),
        ];
        for (name, change) in changes {
            let mut s = sync_plan();
            change(&mut s);
            assert_ne!(Plan::Sync(Box::new(s)), base, "a change of {name} must restart the time source");
        }
        let local = Plan::Local(LocalReference { stratum: 3, precision: -20 });
        assert_ne!(local, Plan::Local(LocalReference { stratum: 3, precision: -24 }));
        assert_eq!(base, Plan::Sync(Box::new(sync_plan())));
    }
}
