//! `simple-ntpd healthcheck`: the container health probe (Docker
//! `HEALTHCHECK`, Compose and Swarm `healthcheck`, Kubernetes exec probes).
//!
//! It loads the configuration exactly as `run` does — the `-c` files, else
//! `$SIMPLE_NTPD_CONFIG`, else the mounted `/etc/simple-ntpd/simple-ntpd.toml`,
//! then the environment variables — and sends one NTP request to every
//! address the daemon serves: a wildcard address (`0.0.0.0`, `::`) is asked
//! on the loopback address of its family, a specific one on itself, each on
//! its configured port. An IPv6 address is skipped when this host has no IPv6
//! loopback (the daemon does not serve there either).
//!
//! Exit 0 (*healthy*) when every address answers with usable time
//! (synchronised, or serving a local reference). Otherwise exit 1 with one
//! of two reasons on standard output: *starting* — the daemon answers but is
//! not synchronised yet — or *unhealthy* — no answer, or a refusal
//! (kiss-o'-death). Exit code 2 is never used: Docker reserves it.
//!
//! Docker does not count failures within the health check's start period
//! (`--start-period`, 120 s in the image): the container shows `starting`
//! until the first success, and turns `unhealthy` only after `--retries`
//! failures once the start period is over. So a daemon that is still
//! synchronising is `starting`, and one that never answers becomes
//! `unhealthy`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use ntp_proto::kod::KissCode;
use ntp_proto::packet::LeapIndicator;

use super::config::config_files;
use super::query::exchange;
use crate::cli::HealthcheckArgs;

/// What one listen address answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Usable time.
    Serving(String),
    /// An answer without usable time yet (leap 3 / stratum 0).
    Unsynchronised(String),
    /// No answer, or a refusal.
    Failed(String),
}

/// The addresses to ask for the configured listen sockets: wildcards become
/// the loopback address of their family; duplicates and port 0 (an
/// ephemeral port nobody can know) are left out.
pub fn probe_targets(listen: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in listen {
        if a.port() == 0 {
            continue;
        }
        let ip = match a.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => Ipv4Addr::LOCALHOST.into(),
            ip if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        let target = SocketAddr::new(ip, a.port());
        if !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// True when an IPv6 loopback socket can be bound here.
fn ipv6_available() -> bool {
    UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// Asks `target` once.
pub fn probe(target: SocketAddr, timeout: Duration) -> Probe {
    let (m, _) = match exchange(target, 4, timeout, None) {
        Ok(r) => r,
        Err(e) => return Probe::Failed(e),
    };
    let h = &m.header;
    // Only the refusals: INIT (not synchronised yet) is no kiss code here.
    if let Some(kiss) = KissCode::from_reference_id(h.reference_id).filter(|_| h.stratum == 0) {
        return Probe::Failed(format!(
            "{target} refused the probe with kiss-o'-death {} (do access rules, rate limits or required \
             authentication cover the loopback address?)",
            String::from_utf8_lossy(&kiss.reference_id().0)
        ));
    }
    if h.leap == LeapIndicator::Unknown || !(1..=15).contains(&h.stratum) {
        return Probe::Unsynchronised(format!(
            "{target} answers but is not synchronised yet (leap {}, stratum {})",
            h.leap.to_bits(),
            h.stratum
        ));
    }
    Probe::Serving(format!("{target} serves stratum {} (offset {:+.6} s)", h.stratum, m.offset))
}

/// The verdict over all probes: `Ok(summary)` when healthy, else `Err` with
/// `starting: ...` or `unhealthy: ...`.
pub fn verdict(probes: &[Probe]) -> Result<String, String> {
    let text = |pick: fn(&Probe) -> Option<&String>| probes.iter().filter_map(pick).cloned().collect::<Vec<_>>();
    let failed = text(|p| if let Probe::Failed(s) = p { Some(s) } else { None });
    let unsynchronised = text(|p| if let Probe::Unsynchronised(s) = p { Some(s) } else { None });
    let serving = text(|p| if let Probe::Serving(s) = p { Some(s) } else { None });
    if !failed.is_empty() {
        Err(format!("unhealthy: {}", failed.join("; ")))
    } else if !unsynchronised.is_empty() {
        Err(format!("starting: {}", unsynchronised.join("; ")))
    } else if serving.is_empty() {
        Err("unhealthy: no address to probe (the configured NTP port is 0)".to_owned())
    } else {
        Ok(format!("healthy: {}", serving.join("; ")))
    }
}

/// Runs `healthcheck`.
pub fn run(args: HealthcheckArgs) -> ExitCode {
    let unhealthy = |msg: String| {
        println!("unhealthy: {msg}");
        ExitCode::from(1)
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return unhealthy("--timeout must be a positive number of seconds".to_owned());
    }
    let files = config_files(&args.config);
    let config = match ntp_config::load(&files, std::env::vars(), &ntp_config::Overrides::default()) {
        Ok(l) => l.config,
        Err(e) => return unhealthy(format!("configuration error: {e}")),
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let v6 = ipv6_available();
    let probes: Vec<Probe> = probe_targets(&config.listen_sockets())
        .into_iter()
        .filter(|t| t.is_ipv4() || v6)
        .map(|t| probe(t, timeout))
        .collect();
    match verdict(&probes) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("{reason}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wildcards_are_asked_on_loopback_of_their_family() {
        assert_eq!(
            probe_targets(&[sa("0.0.0.0:123"), sa("[::]:123"), sa("127.0.0.1:123"), sa("192.0.2.1:1123")]),
            vec![sa("127.0.0.1:123"), sa("[::1]:123"), sa("192.0.2.1:1123")]
        );
        assert_eq!(probe_targets(&[sa("0.0.0.0:0")]), Vec::<SocketAddr>::new());
    }

    #[test]
    fn verdicts() {
        let ok = Probe::Serving("a".into());
        let sync = Probe::Unsynchronised("b".into());
        let fail = Probe::Failed("c".into());
        assert_eq!(verdict(&[ok.clone(), ok.clone()]), Ok("healthy: a; a".into()));
        assert_eq!(verdict(&[ok.clone(), sync.clone()]), Err("starting: b".into()));
        assert_eq!(verdict(&[sync, fail]), Err("unhealthy: c".into()));
        assert!(verdict(&[]).unwrap_err().starts_with("unhealthy"));
    }
}
