//! The scenarios, mirroring chrony's published clknetsim comparison. Every
//! scenario starts the client clock 0.1 s and 100 ppm off (chrony's test
//! defaults) and measures only after its settling period; servers are
//! stratum 1 on true time unless a falseticker; the network has a 100 µs
//! base delay each way plus exponential jitter of the given mean. The
//! `chaos-*` scenarios ([`crate::chaos`]) add injected faults.

use crate::credentials::AuthMode;
use crate::faults::Fault;
use crate::leap::LeapModel;
use crate::network::{Network, Outages};
use crate::receiver::Receiver;
use crate::server::SimServer;
use crate::timestamping::Timestamping;
use ntp_proto::source::PollConfig;
use ntp_sync::{EngineConfig, MakeStep};

/// Names accepted by `--scenario` (and the `chaos-*` of [`crate::chaos::NAMES`]).
pub const NAMES: [&str; 14] = [
    "stable",
    "wander",
    "intermittent",
    "falseticker",
    "startup",
    "lossy",
    "quiet",
    "quiet-predicted-transmit",
    "gps-pps",
    "gps-nmea",
    "leap-insert",
    "leap-delete",
    "busy-server",
    "busy-server-xleave",
];

/// Everything one scenario fixes.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name.
    pub name: &'static str,
    /// One line saying what it models.
    pub description: &'static str,
    /// The upstream servers.
    pub servers: Vec<SimServer>,
    /// The path to each server (same model for all).
    pub network: Network,
    /// The client's poll settings per source.
    pub poll: PollConfig,
    /// The client asks for interleaved mode (`xleave = true`).
    pub xleave: bool,
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Frequency random walk: standard deviation of the per-second step,
    /// s/s (1e-9 = "1 ppb/s").
    pub wander: f64,
    /// Initial clock error, s (reading minus true time).
    pub initial_error: f64,
    /// Initial frequency error, s/s.
    pub initial_drift: f64,
    /// True time at which a run starts, s after the simulation's zero
    /// (0, except to reach a date such as a month's end).
    pub start: f64,
    /// Simulated time per run, s.
    pub duration: f64,
    /// Errors before this long after the start are not counted in RMS and
    /// maximum, s.
    pub settle: f64,
    /// "Synchronised" means |error| below this, s.
    pub sync_threshold: f64,
    /// A GNSS receiver attached to the client (reference clocks).
    pub receiver: Option<Receiver>,
    /// How the client's requests are protected (plain unless `--auth`).
    pub auth: AuthMode,
    /// Where the client takes T1 and T4 (the daemon's path unless
    /// `--timestamps`).
    pub timestamping: Timestamping,
    /// A leap second in the run.
    pub leap: Option<LeapModel>,
    /// Injected faults, in order of their start (none outside `chaos-*`).
    pub faults: Vec<Fault>,
}

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// The quiet LAN of `quiet` and `busy-server`: 25 µs each way, the clock
/// 50 ms and 10 ppm off, 0.1 ppb/s wander, slews as fast as the virtual
/// clock allows, an hour.
fn quiet_lan(s: &mut Scenario) {
    s.network.base_delay = 25e-6;
    s.engine.makestep = MakeStep { threshold: 1.0, limit: 3 };
    s.engine.max_slew_ppm = 83_333.0;
    s.initial_error = 0.05;
    s.initial_drift = 10e-6;
    s.wander = 1e-10;
    s.duration = HOUR;
}

/// The scenario `name` with network jitter `jitter` (s) and, if given, a
/// different duration (the settling period shrinks with it, to at most a
/// quarter of the run) and a different settling period.
pub fn scenario(name: &str, jitter: f64, duration: Option<f64>, settle: Option<f64>) -> Result<Scenario, String> {
    if !(jitter.is_finite() && jitter >= 0.0) {
        return Err(format!("jitter must be a non-negative number of seconds, not {jitter}"));
    }
    let network = Network { base_delay: 1e-4, jitter, asymmetry: 0.0, loss: 0.0, outages: None };
    let engine = EngineConfig { precision: -24, ..EngineConfig::default() };
    let one = vec![SimServer::GOOD];
    let default_poll = PollConfig { minpoll: 6, maxpoll: 10, ..PollConfig::default() };
    let mut s = Scenario {
        name: "stable",
        description: "one server, default polling (minpoll 6, maxpoll 10), 1 ppb/s wander",
        servers: one.clone(),
        network,
        poll: default_poll,
        xleave: false,
        engine,
        wander: 1e-9,
        initial_error: 0.1,
        initial_drift: 1e-4,
        start: 0.0,
        duration: 4.0 * DAY,
        settle: 12.0 * HOUR,
        sync_threshold: 1e-3,
        receiver: None,
        auth: AuthMode::None,
        timestamping: Timestamping::DAEMON,
        leap: None,
        faults: Vec::new(),
    };
    match name {
        "stable" => {}
        "wander" => {
            s.name = "wander";
            s.description = "one server, poll fixed at 64 s, 10 ppb/s wander";
            s.poll = PollConfig { minpoll: 6, maxpoll: 6, ..PollConfig::default() };
            s.wander = 1e-8;
            s.duration = 2.0 * DAY;
            s.settle = 6.0 * HOUR;
        }
        "intermittent" => {
            s.name = "intermittent";
            s.description = "one server, default polling, 1 ppb/s wander, network up 30 min per 24 h";
            s.network.outages = Some(Outages { period: DAY, up: 30.0 * 60.0 });
            s.duration = 10.0 * DAY;
            s.settle = DAY;
        }
        "falseticker" => {
            s.name = "falseticker";
            s.description = "four servers, one of them 1 s off, default polling, 1 ppb/s wander";
            s.servers =
                vec![SimServer::GOOD, SimServer::GOOD, SimServer::GOOD, SimServer { offset: 1.0, ..SimServer::GOOD }];
            s.duration = 2.0 * DAY;
            s.settle = 6.0 * HOUR;
        }
        "startup" => {
            s.name = "startup";
            s.description = "one server, iburst, clock 0.1 s and 100 ppm off: synchronised within 60 s?";
            s.poll.iburst = true;
            s.engine.makestep = MakeStep { threshold: s.engine.makestep.threshold, limit: 3 };
            s.duration = HOUR;
            s.settle = 60.0;
        }
        "lossy" => {
            s.name = "lossy";
            s.description = "one server, default polling, 30 % loss each way, the way out 200 µs slower than back";
            s.network.loss = 0.3;
            s.network.asymmetry = 2e-4;
            s.duration = 2.0 * DAY;
            s.settle = 6.0 * HOUR;
        }
        "quiet" => {
            s.name = "quiet";
            s.description = "one server on a quiet LAN (25 µs each way), polled every second, clock 50 ms and 10 ppm off, 0.1 ppb/s wander";
            s.poll = PollConfig { minpoll: 0, maxpoll: 0, ..PollConfig::default() };
            quiet_lan(&mut s);
            s.settle = 300.0;
        }
        "quiet-predicted-transmit" => {
            s.name = "quiet-predicted-transmit";
            s.description = "the quiet LAN of `quiet`, but the server writes each reply's predicted departure, right on average (a send latency corrected by its median, as simple-ntpd's batched sends and the accuracy benchmark's reference did): its transmit timestamp scatters 1 µs (sd) around the true one";
            s.servers = vec![SimServer { transmit_noise: 1e-6, ..SimServer::GOOD }];
            s.poll = PollConfig { minpoll: 0, maxpoll: 0, ..PollConfig::default() };
            quiet_lan(&mut s);
            s.settle = 300.0;
        }
        "gps-pps" => {
            s.name = "gps-pps";
            s.description = "no servers; a GNSS receiver: PPS locked to NMEA (100 ms late, 20 ms sd, offset 0.1), pulse jitter = --jitter, 1 % of pulses missing";
            s.servers = Vec::new();
            s.receiver = Some(Receiver {
                pulse_jitter: jitter,
                pulse_missing: 0.01,
                nmea_latency: 0.1,
                nmea_jitter: 0.02,
                nmea_offset: 0.1,
                pps: true,
            });
            s.duration = 2.0 * HOUR;
            s.settle = 600.0;
        }
        "gps-nmea" => {
            s.name = "gps-nmea";
            s.description = "no servers; a GNSS receiver read by NMEA alone (100 ms late, --jitter sd, offset 0.1)";
            s.servers = Vec::new();
            s.receiver = Some(Receiver {
                pulse_jitter: 0.0,
                pulse_missing: 0.0,
                nmea_latency: 0.1,
                nmea_jitter: jitter,
                nmea_offset: 0.1,
                pps: false,
            });
            s.duration = 2.0 * HOUR;
            s.settle = 600.0;
            s.sync_threshold = 1e-2;
        }
        "leap-insert" | "leap-delete" => {
            let insert = name == "leap-insert";
            s.name = if insert { "leap-insert" } else { "leap-delete" };
            s.description = if insert {
                "one server, default polling; a leap second inserted at the end of 2023-11-30, known from a leap second table"
            } else {
                "one server, default polling; a leap second deleted at the end of 2023-11-30, known only from the server's leap indicator"
            };
            s.leap = Some(LeapModel { at: LeapModel::MONTH_END, insert, table: insert });
            // Starts two days before the leap; measured from a day before
            // it to a day after it.
            s.start = LeapModel::MONTH_END - 2.0 * DAY;
            s.duration = 3.0 * DAY;
            s.settle = DAY;
        }
        "busy-server" | "busy-server-xleave" => {
            let xleave = name == "busy-server-xleave";
            s.name = if xleave { "busy-server-xleave" } else { "busy-server" };
            s.description = if xleave {
                "the quiet LAN, polled every 2 s, but the server's replies leave 100 µs (50 fixed + exp. 50) after their transmit timestamp; the client uses interleaved mode, the server offers it"
            } else {
                "the quiet LAN, polled every 2 s, but the server's replies leave 100 µs (50 fixed + exp. 50) after their transmit timestamp; basic mode"
            };
            s.servers = vec![SimServer { send_delay: 100e-6, interleaved: true, ..SimServer::GOOD }];
            s.xleave = xleave;
            s.poll = PollConfig { minpoll: 1, maxpoll: 1, ..PollConfig::default() };
            quiet_lan(&mut s);
            s.settle = 600.0;
        }
        chaos if chaos.starts_with("chaos-") => crate::chaos::apply(chaos, &mut s)?,
        other => {
            return Err(format!(
                "unknown scenario {other:?}; one of {}, {}",
                NAMES.join(", "),
                crate::chaos::NAMES.join(", ")
            ))
        }
    }
    if let Some(d) = duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(format!("duration must be a positive number of seconds, not {d}"));
        }
        s.settle = s.settle.min(d / 4.0);
        s.duration = d;
    }
    if let Some(t) = settle {
        if !(t.is_finite() && t >= 0.0 && t < s.duration) {
            return Err(format!(
                "settle must be a number of seconds from 0 to below the duration ({}), not {t}",
                s.duration
            ));
        }
        s.settle = t;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_unknown_names_fail() {
        for n in NAMES.into_iter().chain(crate::chaos::NAMES) {
            let s = scenario(n, 1e-4, None, None).unwrap();
            assert_eq!(s.name, n);
            assert!(s.settle < s.duration);
        }
        assert!(scenario("nope", 1e-4, None, None).is_err());
        assert!(scenario("stable", -1.0, None, None).is_err());
        assert_eq!(scenario("stable", 1e-4, Some(4000.0), None).unwrap().settle, 1000.0);
        assert_eq!(
            scenario("falseticker", 1e-4, None, None).unwrap().servers.iter().filter(|s| s.is_falseticker()).count(),
            1
        );
    }
}
