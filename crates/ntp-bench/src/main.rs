//! `ntp-bench`: parse the options, pin the CPU if asked, run one bounded
//! measurement, print the report (and its JSON on the last line with `--json`).

use std::process::ExitCode;

use clap::Parser;
use ntp_bench::cli::Cli;
use ntp_bench::{nts, run_with, sys, NtsSummary, Report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_inner(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ntp-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn main_inner(cli: &Cli) -> anyhow::Result<()> {
    if let Some(cpu) = cli.pin_cpu {
        sys::pin_to_cpu(cpu).map_err(|e| anyhow::anyhow!("--pin-cpu {cpu}: {e}"))?;
    }
    if let (Some(ke), Some(n)) = (cli.nts_ke, cli.ke_only) {
        return ke_only(cli, ke, n);
    }
    let mut cfg = cli.to_config()?;
    let mut nts_setup = None;
    if let Some(ke) = cli.nts_ke {
        let tls = nts::tls_config(cli.ca.as_deref().unwrap_or("".as_ref()))?;
        let name = nts::server_name(ke, cli.ke_server_name.as_deref())?;
        let count = cli.nts_sessions.unwrap_or(cfg.sources);
        let (outcomes, took) = nts::key_exchanges(&tls, ke, &name, count)?;
        if let Some(port) = outcomes.iter().find_map(|o| o.port) {
            cfg.server.set_port(port);
        }
        let summary = NtsSummary {
            aead: format!("{:?}", outcomes[0].session.keys.aead),
            sessions: outcomes.len(),
            ke_per_s: (count as f64 / took.as_secs_f64().max(1e-9) * 10.0).round() / 10.0,
        };
        nts_setup = Some((outcomes.into_iter().map(|o| o.session).collect(), summary));
    }
    let result = run_with(&cfg, nts_setup)?;
    let report = Report::new(&cfg, &result, cli.pin_cpu);
    print!("{report}");
    if cli.json {
        println!("{}", report.to_json());
    }
    Ok(())
}

/// `--ke-only N`: N sequential full NTS-KE handshakes, reported as handshakes/s.
fn ke_only(cli: &Cli, ke: std::net::SocketAddr, count: usize) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--ke-only must be at least 1");
    let tls = nts::tls_config(cli.ca.as_deref().ok_or_else(|| anyhow::anyhow!("--nts-ke needs --ca"))?)?;
    let name = nts::server_name(ke, cli.ke_server_name.as_deref())?;
    let (outcomes, took) = nts::key_exchanges(&tls, ke, &name, count)?;
    let rate = count as f64 / took.as_secs_f64().max(1e-9);
    let first = &outcomes[0];
    println!(
        "ntp-bench NTS-KE → {ke}: {count} sequential handshakes in {:.3} s: {rate:.1} handshakes/s ({:?}, {} cookies, NTP port {})",
        took.as_secs_f64(),
        first.session.keys.aead,
        first.session.jar.len(),
        first.port.map_or_else(|| "not named".to_string(), |p| p.to_string()),
    );
    if cli.json {
        let json = serde_json::json!({
            "mode": "ke-only",
            "nts_ke": ke.to_string(),
            "handshakes": count,
            "seconds": took.as_secs_f64(),
            "ke_per_s": (rate * 10.0).round() / 10.0,
            "aead": format!("{:?}", first.session.keys.aead),
            "cookies": first.session.jar.len(),
            "ntp_port": first.port,
        });
        println!("{json}");
    }
    Ok(())
}
