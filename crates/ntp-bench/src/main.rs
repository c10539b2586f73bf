//! `ntp-bench`: parse the options, pin the CPU if asked, run one bounded
//! measurement, print the report (and its JSON on the last line with `--json`).

use std::process::ExitCode;

use clap::Parser;
use ntp_bench::cli::Cli;
use ntp_bench::{run, sys, Report};

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
    let cfg = cli.to_config()?;
    if let Some(cpu) = cli.pin_cpu {
        sys::pin_to_cpu(cpu).map_err(|e| anyhow::anyhow!("--pin-cpu {cpu}: {e}"))?;
    }
    let result = run(&cfg)?;
    let report = Report::new(&cfg, &result, cli.pin_cpu);
    print!("{report}");
    if cli.json {
        println!("{}", report.to_json());
    }
    Ok(())
}
