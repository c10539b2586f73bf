//! Command-line options of `ntp-bench` and their translation into a [`RunConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::engine::RunConfig;
use crate::pacing::Load;
use crate::sys::BATCH;

/// Load generator for NTP servers: closed loop (`--in-flight`) or open loop
/// (`--rate`), bounded in time, to the one `--server` only.
#[derive(Parser, Debug, Clone)]
#[command(name = "ntp-bench", version, about)]
pub struct Cli {
    /// The NTP server, e.g. 127.0.0.1:1123 (the only address anything is sent to;
    /// in NTS mode the port is the one the NTS-KE server names, if it names one).
    #[arg(long, required_unless_present = "ke_only")]
    pub server: Option<SocketAddr>,
    /// Closed loop: keep this many requests in flight (the default mode, 64).
    #[arg(long, conflicts_with = "rate")]
    pub in_flight: Option<u64>,
    /// Open loop: send this many requests per second regardless of replies.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured warm-up seconds.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Spread requests over this many sockets bound to distinct 127.1.x.y addresses
    /// (needs a 127.x.y.z server when > 1).
    #[arg(long, default_value_t = 1)]
    pub sources: usize,
    /// A request unanswered after this many milliseconds is lost (a later reply is "late").
    #[arg(long, default_value_t = 200.0)]
    pub timeout_ms: f64,
    /// Requests per sendmmsg call (1–64).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Block in epoll_wait when there is nothing to send, instead of busy-polling
    /// (busy-polling is the default: lower latency, no wake-ups charged to the server).
    #[arg(long)]
    pub no_spin: bool,
    /// Pin the generator to this CPU (sched_setaffinity).
    #[arg(long)]
    pub pin_cpu: Option<usize>,
    /// Also print the report as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    /// NTS mode: do key exchanges with this NTS-KE server (TLS 1.3) first, then
    /// send NTS-authenticated requests only.
    #[arg(long, value_name = "HOST:PORT")]
    pub nts_ke: Option<SocketAddr>,
    /// NTS: PEM file of the CA that signed the NTS-KE server's certificate.
    #[arg(long, requires = "nts_ke")]
    pub ca: Option<PathBuf>,
    /// NTS: name to check the server certificate against (default: the --nts-ke IP).
    #[arg(long, requires = "nts_ke")]
    pub ke_server_name: Option<String>,
    /// NTS: key exchanges (sessions, each with its own cookie jar) at start;
    /// default one per source socket. Session i is used on socket i % --sources.
    #[arg(long, requires = "nts_ke")]
    pub nts_sessions: Option<usize>,
    /// NTS: only do this many sequential key exchanges and report handshakes/s.
    #[arg(long, requires = "nts_ke")]
    pub ke_only: Option<usize>,
}

/// Longest accepted `--duration` / `--warmup` (the tool must stay bounded).
const MAX_SECONDS: f64 = 3600.0;

fn seconds(name: &str, v: f64, max: f64) -> anyhow::Result<Duration> {
    if !(v.is_finite() && (0.0..=max).contains(&v)) {
        bail!("--{name} must be between 0 and {max}, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

impl Cli {
    /// Checks the options and builds the run configuration.
    pub fn to_config(&self) -> anyhow::Result<RunConfig> {
        let load = match (self.in_flight, self.rate) {
            (_, Some(rate)) if !(rate.is_finite() && (1.0..=1e8).contains(&rate)) => {
                bail!("--rate must be between 1 and 1e8 requests/s, got {rate}")
            }
            (_, Some(rate)) => Load::Open { rate },
            (Some(0), _) => bail!("--in-flight must be at least 1"),
            (Some(n), _) => Load::Closed { in_flight: n },
            (None, None) => Load::Closed { in_flight: 64 },
        };
        if self.batch == 0 || self.batch > BATCH {
            bail!("--batch must be 1..={BATCH}");
        }
        let duration = seconds("duration", self.duration, MAX_SECONDS)?;
        if duration.is_zero() {
            bail!("--duration must be positive");
        }
        if self.nts_ke.is_some() && self.ca.is_none() {
            bail!("--nts-ke needs --ca");
        }
        if self.nts_sessions.is_some_and(|n| n < self.sources) {
            bail!("--nts-sessions must be at least --sources (one session per source socket)");
        }
        if self.ke_only == Some(0) || self.nts_sessions == Some(0) {
            bail!("--ke-only and --nts-sessions must be at least 1");
        }
        Ok(RunConfig {
            server: self.server.ok_or_else(|| anyhow::anyhow!("--server is required"))?,
            load,
            duration,
            warmup: seconds("warmup", self.warmup, MAX_SECONDS)?,
            sources: self.sources,
            timeout: seconds("timeout-ms", self.timeout_ms / 1e3, 10.0)?.max(Duration::from_millis(1)),
            batch: self.batch,
            spin: !self.no_spin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<RunConfig> {
        let mut v = vec!["ntp-bench", "--server", "127.0.0.1:1123"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)?.to_config()
    }

    #[test]
    fn defaults_to_closed_loop_64() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.load, Load::Closed { in_flight: 64 });
        assert_eq!(c.duration, Duration::from_secs(10));
        assert_eq!(c.sources, 1);
    }

    #[test]
    fn open_loop_and_bounds() {
        assert_eq!(parse(&["--rate", "250000"]).unwrap().load, Load::Open { rate: 250000.0 });
        assert!(parse(&["--rate", "1", "--in-flight", "4"]).is_err());
        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--in-flight", "0"]).is_err());
        assert!(parse(&["--duration", "0"]).is_err());
        assert!(parse(&["--duration", "1e9"]).is_err());
        assert!(parse(&["--batch", "65"]).is_err());
        assert!(parse(&["--timeout-ms", "-1"]).is_err());
    }

    #[test]
    fn nts_options() {
        assert!(parse(&["--ca", "ca.pem"]).is_err(), "--ca needs --nts-ke");
        assert!(parse(&["--nts-ke", "127.0.0.1:4460"]).is_err(), "--nts-ke needs --ca");
        assert!(parse(&["--nts-ke", "127.0.0.1:4460", "--ca", "c", "--sources", "8", "--nts-sessions", "4"]).is_err());
        assert!(parse(&["--nts-ke", "127.0.0.1:4460", "--ca", "c", "--sources", "8"]).is_ok());
        let ke_only = Cli::try_parse_from(["ntp-bench", "--nts-ke", "127.0.0.1:4460", "--ca", "c", "--ke-only", "5"]);
        assert!(ke_only.unwrap().server.is_none());
        assert!(Cli::try_parse_from(["ntp-bench", "--nts-ke", "127.0.0.1:4460"]).is_err(), "--server or --ke-only");
    }
}
