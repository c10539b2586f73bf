//! The leap second table while the daemon runs: loaded at start and on
//! reload, re-checked every minute (a list expires; a file may be replaced
//! by a package update), logged when its state changes, and published in
//! the `StateCell` for whichever time source runs.

use ntp_config::Config;
use ntp_sync::leap::{unix_seconds, utc_date};
use tracing::{info, warn};

use crate::clock::SystemClock;
use crate::served::leap::{load, LeapSettings, LeapState, TableState};
use crate::served::StateCell;

/// Keeps the published leap second state current.
pub struct LeapWatch {
    settings: LeapSettings,
    /// What was last logged: state and problem.
    logged: Option<(TableState, Option<String>)>,
}

impl LeapWatch {
    /// For `config`; nothing is loaded until [`Self::refresh`].
    pub fn new(config: &Config) -> Self {
        LeapWatch { settings: LeapSettings::from_config(config), logged: None }
    }

    /// Takes the settings of a reloaded configuration and loads them.
    pub fn reconfigure(&mut self, config: &Config, state: &StateCell) {
        let settings = LeapSettings::from_config(config);
        if settings != self.settings {
            self.settings = settings;
            self.logged = None;
        }
        self.refresh(state);
    }

    /// Loads the table again, publishes it and logs a change of its state.
    pub fn refresh(&mut self, state: &StateCell) {
        let now = SystemClock.now();
        let leap = load(&self.settings, now);
        let key = (leap.state, leap.problem.clone());
        if self.logged.as_ref() != Some(&key) {
            log(&leap, now);
            self.logged = Some(key);
        }
        state.set_leap(leap);
    }
}

fn log(leap: &LeapState, now: ntp_proto::NtpTimestamp) {
    let next = leap
        .next_leap(now)
        .map(|e| format!("{} at the end of {}", if e.insert { "insertion" } else { "deletion" }, utc_date(e.at - 1)));
    match leap.state {
        TableState::None => {}
        TableState::Ok => info!(
            source = %leap.source,
            expires = leap.expires.map(utc_date).unwrap_or_else(|| "never".into()),
            next_leap = next.as_deref().unwrap_or("none known"),
            tai_offset = leap.tai_offset(now),
            "leap second table loaded"
        ),
        TableState::Expired | TableState::Invalid => warn!(
            source = %leap.source,
            problem = leap.problem.as_deref().unwrap_or(""),
            "leap second table not used; leap seconds come from the sources' leap indicators"
        ),
    }
    if let Some(e) = leap.expires.filter(|_| leap.state == TableState::Ok) {
        let left_days = (unix_seconds(e) - unix_seconds(ntp_sync::leap::era_seconds(now))) / 86_400;
        if left_days < 28 {
            warn!(source = %leap.source, days = left_days, "the leap second table expires soon: install a current one");
        }
    }
}
