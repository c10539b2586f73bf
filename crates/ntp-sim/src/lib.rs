//! `ntp-sim`: a deterministic, faster-than-real-time simulator of one NTP
//! client running the real synchronisation engine (`ntp-sync`) and the real
//! packet code (`ntp-proto`: the client's `Association`, the servers'
//! `server::decide`) against modelled clocks and networks, in the
//! manner of clknetsim.
//!
//! - [`clock`]: the client clock (frequency error, random-walk wander, the
//!   engine's corrections and steps).
//! - [`server`]: servers on true time, optionally offset (falsetickers),
//!   answering with the real server decision.
//! - [`credentials`]: the MAC key or NTS cookies of `--auth mac|nts`.
//! - [`timestamping`]: where the client takes T1 and T4 and its latencies
//!   (the daemon's kernel timestamps, or the older paths).
//! - [`network`]: base delay + exponential jitter per direction, asymmetry,
//!   loss, periodic outages.
//! - [`receiver`], [`refclocks`]: a GNSS receiver with PPS (pulse jitter,
//!   missing pulses, NMEA latency and jitter) and its reference clocks.
//! - [`leap`]: a leap second at a month's end, inserted or deleted.
//! - [`scenario`]: the scenarios of chrony's published comparison, and the
//!   leap second scenarios.
//! - [`faults`], [`chaos`]: injected faults (servers vanishing, total loss,
//!   failing name lookups, host clock steps) and the scenarios built on them.
//! - [`run`]: one run's event loop and its error measurement.
//! - [`stats`], [`report`], [`args`]: aggregation and output.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod chaos;
pub mod clock;
pub mod credentials;
pub mod events;
pub mod faults;
pub mod leap;
pub mod network;
pub mod receiver;
pub mod refclocks;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod timestamping;

/// Runs `runs` runs of `scenario` with `seed` and summarises them.
pub fn simulate(sc: &scenario::Scenario, seed: u64, runs: usize) -> (Vec<run::RunResult>, stats::Summary) {
    let results: Vec<run::RunResult> = (0..runs as u64).map(|i| run::run(sc, seed, i)).collect();
    let summary = stats::summarise(&results);
    (results, summary)
}
