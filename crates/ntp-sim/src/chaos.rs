//! Chaos scenarios: the `stable` client (one of chrony's comparison
//! scenarios, 100 µs jitter by default) put through faults a time server
//! meets in its life — upstreams that vanish and come back, a network that
//! loses everything for ten minutes, name lookups that fail while the host
//! comes up, and the host clock stepped behind the daemon's back. Each
//! fault's holdover and recovery are measured ([`crate::faults`]).

use crate::faults::{Fault, FaultKind};
use crate::scenario::Scenario;
use crate::server::SimServer;

/// Names of the chaos scenarios (all start with `chaos-`).
pub const NAMES: [&str; 4] = ["chaos-upstreams", "chaos-blackout", "chaos-dns", "chaos-step"];

const HOUR: f64 = 3600.0;

fn good(n: usize) -> Vec<SimServer> {
    vec![SimServer::GOOD; n]
}

/// Turns `s` (the `stable` scenario) into chaos scenario `name`, or says
/// it does not exist.
pub fn apply(name: &str, s: &mut Scenario) -> Result<(), String> {
    s.duration = 24.0 * HOUR;
    s.settle = 4.0 * HOUR;
    match name {
        "chaos-upstreams" => {
            s.name = "chaos-upstreams";
            s.description = "three good servers and one 1 s off; one good server vanishes for 2 h (a majority remains), later two for 1 h (one good server against the falseticker: no majority, holdover)";
            s.servers = good(3);
            s.servers.push(SimServer { offset: 1.0, ..SimServer::GOOD });
            s.faults = vec![
                Fault { kind: FaultKind::ServersDown(vec![0]), start: 6.0 * HOUR, end: 8.0 * HOUR },
                Fault { kind: FaultKind::ServersDown(vec![1, 2]), start: 12.0 * HOUR, end: 13.0 * HOUR },
            ];
        }
        "chaos-blackout" => {
            s.name = "chaos-blackout";
            s.description = "three servers; every packet lost for 10 minutes, twice (once while polling fast, once at the longest poll)";
            s.servers = good(3);
            s.faults = vec![
                Fault { kind: FaultKind::TotalLoss, start: 1.0 * HOUR, end: 1.0 * HOUR + 600.0 },
                Fault { kind: FaultKind::TotalLoss, start: 10.0 * HOUR, end: 10.0 * HOUR + 600.0 },
            ];
        }
        "chaos-dns" => {
            s.name = "chaos-dns";
            s.description = "three servers by name; lookups fail for the first 20 minutes (the resolver comes up late), then once more for 2 h while nothing needs them";
            s.servers = good(3);
            s.settle = 2.0 * HOUR;
            s.faults = vec![
                Fault { kind: FaultKind::DnsFailure, start: 0.0, end: 1200.0 },
                Fault { kind: FaultKind::DnsFailure, start: 6.0 * HOUR, end: 8.0 * HOUR },
            ];
        }
        "chaos-step" => {
            s.name = "chaos-step";
            s.description = "three servers; the host clock is stepped 50 ms forward, later 50 ms backward, behind the daemon's back";
            s.servers = good(3);
            s.faults = vec![
                Fault { kind: FaultKind::HostStep(0.05), start: 6.0 * HOUR, end: 6.0 * HOUR },
                Fault { kind: FaultKind::HostStep(-0.05), start: 12.0 * HOUR, end: 12.0 * HOUR },
            ];
        }
        other => return Err(format!("unknown chaos scenario {other:?}")),
    }
    Ok(())
}
