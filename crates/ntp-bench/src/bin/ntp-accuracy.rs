//! `ntp-accuracy`: the two tools of `bench/accuracy.sh`.
//!
//! - `ntp-accuracy upstream`: a reference NTP server whose time is the host
//!   clock plus an offset and a frequency error, behind a simulated network
//!   (jitter, asymmetry);
//! - `ntp-accuracy probe`: measures each target server's served time against
//!   that same reference, with kernel timestamps, and prints mean, sd and RMS.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use ntp_bench::accuracy::probe::{self, ProbeConfig, Target};
use ntp_bench::accuracy::upstream::{self, UpstreamConfig};
use ntp_bench::accuracy::Timescale;
use ntp_bench::sys;

#[derive(Parser, Debug)]
#[command(name = "ntp-accuracy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the reference time on a loopback UDP port.
    Upstream(UpstreamArgs),
    /// Measure servers against the reference time.
    Probe(ProbeArgs),
}

/// The reference timescale, shared by the upstream and the probe.
#[derive(Args, Debug, Clone, Copy)]
struct TimescaleArgs {
    /// Host time (Unix ns) at which the drift term is zero.
    #[arg(long)]
    epoch_ns: i64,
    /// Offset of the reference from the host clock, s.
    #[arg(long, default_value_t = 0.05)]
    offset: f64,
    /// Frequency error of the reference, ppm (positive: fast).
    #[arg(long, default_value_t = 0.0)]
    drift_ppm: f64,
}

impl TimescaleArgs {
    fn timescale(self) -> Timescale {
        Timescale { epoch_ns: self.epoch_ns, offset_s: self.offset, drift_ppm: self.drift_ppm }
    }
}

#[derive(Args, Debug)]
struct UpstreamArgs {
    /// Address to serve on (loopback).
    #[arg(long)]
    listen: SocketAddr,
    #[command(flatten)]
    timescale: TimescaleArgs,
    /// Mean exponential delay added in each direction, s.
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
    /// Reply path minus request path, s (a constant).
    #[arg(long, default_value_t = 0.0)]
    asymmetry: f64,
    /// Stratum served.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=15))]
    stratum: u8,
    /// Root delay served, s.
    #[arg(long, default_value_t = 0.0)]
    root_delay: f64,
    /// Root dispersion served, s.
    #[arg(long, default_value_t = 1e-5)]
    root_dispersion: f64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600.0)]
    duration: f64,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// A server to measure, NAME=ADDRESS (repeat for several).
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    #[command(flatten)]
    timescale: TimescaleArgs,
    /// Seconds between two exchanges with the same server.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Seconds to measure.
    #[arg(long, default_value_t = 150.0)]
    duration: f64,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 0.2)]
    timeout: f64,
    /// Also print the reports as one JSON array on the last line.
    #[arg(long)]
    json: bool,
    /// Write every measurement as CSV (target,t_s,error_us,delay_us) here.
    #[arg(long)]
    series: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Upstream(a) => run_upstream(&a),
        Command::Probe(a) => run_probe(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ntp-accuracy: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_upstream(a: &UpstreamArgs) -> anyhow::Result<()> {
    if !a.listen.ip().is_loopback() {
        bail!("--listen must be a loopback address");
    }
    for (name, v) in [("--jitter", a.jitter), ("--root-delay", a.root_delay), ("--root-dispersion", a.root_dispersion)]
    {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{name} must be a non-negative number of seconds");
        }
    }
    let socket = UdpSocket::bind(a.listen).with_context(|| format!("bind {}", a.listen))?;
    socket.set_nonblocking(true)?;
    sys::enable_rx_timestamps(socket.as_raw_fd()).context("SO_TIMESTAMPNS")?;
    sys::enable_tx_timestamps(socket.as_raw_fd()).context("SO_TIMESTAMPING")?;
    let cfg = UpstreamConfig {
        timescale: a.timescale.timescale(),
        jitter_s: a.jitter,
        asymmetry_s: a.asymmetry,
        stratum: a.stratum,
        root_delay_s: a.root_delay,
        root_dispersion_s: a.root_dispersion,
        duration_s: a.duration,
        seed: a.seed,
    };
    let stats = upstream::serve(&cfg, &socket)?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}

fn parse_target(s: &str) -> anyhow::Result<Target> {
    let (name, addr) = s.split_once('=').context("--target is NAME=ADDRESS")?;
    let addr: SocketAddr = addr.parse().with_context(|| format!("--target {s}: not an address"))?;
    if !addr.ip().is_loopback() {
        bail!("--target {s}: only loopback servers are probed");
    }
    Ok(Target { name: name.to_string(), addr })
}

fn run_probe(a: &ProbeArgs) -> anyhow::Result<()> {
    let targets = a.targets.iter().map(|t| parse_target(t)).collect::<anyhow::Result<Vec<_>>>()?;
    let cfg = ProbeConfig {
        targets,
        timescale: a.timescale.timescale(),
        interval_s: a.interval,
        duration_s: a.duration,
        timeout_s: a.timeout,
    };
    let reports = probe::run(&cfg)?;
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>6} {:>6} {:>8} {:>13}",
        "server",
        "mean µs",
        "sd µs",
        "RMS µs",
        "min µs",
        "max µs",
        "delay µs",
        "n",
        "unsync",
        "stalled",
        "unstalled RMS"
    );
    for r in &reports {
        let e = &r.error_us;
        println!(
            "{:<14} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1} {:>6} {:>6} {:>8} {:>13.2}",
            r.name,
            e.mean,
            e.sd,
            e.rms,
            e.min,
            e.max,
            r.delay_us.median,
            e.n,
            r.unsynchronised,
            r.stalled,
            r.error_us_unstalled.rms
        );
    }
    if let Some(path) = &a.series {
        let mut csv = String::from("target,t_s,error_us,delay_us\n");
        for r in &reports {
            for m in &r.series {
                csv.push_str(&format!("{},{:.6},{:.3},{:.3}\n", r.name, m.t, m.error_us, m.delay_us));
            }
        }
        std::fs::write(path, csv).with_context(|| format!("write {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&reports)?);
    }
    Ok(())
}
