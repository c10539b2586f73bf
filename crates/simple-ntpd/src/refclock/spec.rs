//! The reference clocks the configuration asks for, resolved for the
//! drivers and the engine: `Config::refclocks()` (the `[[sources.refclocks]]`
//! list plus seed 002's hardware shorthands) with reference ids, locks as
//! positions, and chrony's defaults filled in.

use std::path::PathBuf;

use ntp_config::{Config, PpsEdge, RefclockDriver, RefclockSource};
use ntp_proto::refclock::{PulseConfig, RefclockConfig};
use ntp_proto::ReferenceId;

/// What a driver opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverSpec {
    /// NTP shared memory, key 0x4e545030 + `unit`, created with `perm`.
    Shm {
        /// Segment unit.
        unit: u32,
        /// Permissions if the daemon creates it.
        perm: u32,
    },
    /// chrony's refclock socket at `path`.
    Sock {
        /// Socket path.
        path: PathBuf,
    },
    /// NMEA sentences from the serial port `path` at `baud`.
    Nmea {
        /// Device.
        path: PathBuf,
        /// Speed.
        baud: u32,
    },
    /// Linux PPS device.
    Pps {
        /// Device (`/dev/ppsN`).
        path: PathBuf,
        /// Capture the clear edge instead of assert.
        clear: bool,
    },
}

impl DriverSpec {
    /// The driver's name.
    pub fn driver_name(&self) -> &'static str {
        match self {
            DriverSpec::Shm { .. } => "SHM",
            DriverSpec::Sock { .. } => "SOCK",
            DriverSpec::Nmea { .. } => "NMEA",
            DriverSpec::Pps { .. } => "PPS",
        }
    }

    /// What it reads, for status displays (`SHM 0`, `/dev/pps0`).
    pub fn device(&self) -> String {
        match self {
            DriverSpec::Shm { unit, .. } => format!("SHM {unit}"),
            DriverSpec::Sock { path } | DriverSpec::Nmea { path, .. } | DriverSpec::Pps { path, .. } => {
                path.display().to_string()
            }
        }
    }
}

/// One reference clock.
#[derive(Clone, Debug, PartialEq)]
pub struct RefclockSpec {
    /// Its reference id as text (`GPS`).
    pub name: String,
    /// The device side.
    pub driver: DriverSpec,
    /// The sans-IO side.
    pub clock: RefclockConfig,
    /// Position of the clock a PPS takes its seconds from.
    pub lock: Option<usize>,
    /// Selection options.
    pub prefer: bool,
    /// Never selected.
    pub noselect: bool,
    /// Outvoted only by other trusted sources.
    pub trust: bool,
}

impl RefclockSpec {
    fn from_source(r: &RefclockSource, all: &[RefclockSource], system_precision: f64) -> RefclockSpec {
        let name = r.refid.clone().unwrap_or_default();
        let driver = match r.driver {
            RefclockDriver::Shm => DriverSpec::Shm { unit: r.unit.unwrap_or(0), perm: r.perm_bits() },
            RefclockDriver::Sock => DriverSpec::Sock { path: r.path.clone().unwrap_or_default() },
            RefclockDriver::Nmea => {
                DriverSpec::Nmea { path: r.path.clone().unwrap_or_default(), baud: r.baud.unwrap_or(9600) }
            }
            RefclockDriver::Pps => {
                DriverSpec::Pps { path: r.path.clone().unwrap_or_default(), clear: r.edge == Some(PpsEdge::Clear) }
            }
        };
        let pulse =
            (r.driver == RefclockDriver::Pps).then(|| PulseConfig { rate: r.rate.unwrap_or(1), max_lock_age: 2 });
        RefclockSpec {
            clock: RefclockConfig {
                reference_id: ReferenceId::from_ascii(&name),
                poll: r.poll,
                filter: r.filter as usize,
                offset: r.offset,
                delay: r.delay,
                precision: r.precision.unwrap_or(0.0).max(system_precision),
                stratum: r.stratum,
                max_dispersion: 0.0,
                pulse,
            },
            lock: r.lock.as_ref().and_then(|l| all.iter().position(|o| o.refid.as_deref() == Some(l.as_str()))),
            prefer: r.prefer,
            noselect: r.noselect,
            trust: r.trust,
            name,
            driver,
        }
    }
}

/// Every reference clock of `config`; `precision` is the system clock's
/// (log2 s). With only unlocked PPS clocks and no other source
/// ([`Config::pps_on_local_clock`]) the pulses steer the host clock's phase
/// at the local reference's stratum: their stratum is set one below it.
pub fn refclocks(config: &Config, precision: i8) -> Vec<RefclockSpec> {
    let all = config.refclocks();
    let system_precision = 2f64.powi(i32::from(precision));
    let mut out: Vec<RefclockSpec> = all.iter().map(|r| RefclockSpec::from_source(r, &all, system_precision)).collect();
    if config.pps_on_local_clock() {
        for s in &mut out {
            s.clock.stratum = s.clock.stratum.max(config.ntp_server.stratum.saturating_sub(1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_and_list_resolve() {
        let mut c = Config::default();
        c.sources.hardware.gps.enabled = true;
        c.sources.hardware.pps.enabled = true;
        let mut nmea = RefclockSource::new(RefclockDriver::Nmea);
        nmea.path = Some("/dev/ttyUSB0".into());
        nmea.offset = 0.2;
        nmea.precision = Some(1e-3);
        c.sources.refclocks.push(nmea);
        let s = refclocks(&c, -20);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].driver, DriverSpec::Nmea { path: "/dev/ttyUSB0".into(), baud: 9600 });
        assert_eq!((s[0].name.as_str(), s[0].clock.offset, s[0].clock.precision), ("NME0", 0.2, 1e-3));
        assert_eq!(s[1].driver, DriverSpec::Shm { unit: 0, perm: 0o600 });
        assert_eq!(s[1].clock.reference_id, ReferenceId::from_ascii("GPS"));
        assert_eq!(s[2].driver, DriverSpec::Pps { path: "/dev/pps0".into(), clear: false });
        assert_eq!(s[2].lock, Some(1), "the PPS takes its seconds from the GPS");
        assert_eq!(s[2].clock.pulse, Some(PulseConfig { rate: 1, max_lock_age: 2 }));
        assert_eq!(s[2].clock.stratum, 0);
        assert!((s[2].clock.precision - 2f64.powi(-20)).abs() < 1e-12, "at least the system precision");
    }

    #[test]
    fn a_lone_pps_serves_at_the_local_stratum() {
        let mut c = Config::default();
        c.sources.hardware.pps.enabled = true;
        c.ntp_server.stratum = 8;
        let s = refclocks(&c, -20);
        assert_eq!((s[0].clock.stratum, s[0].lock), (7, None));
    }
}
