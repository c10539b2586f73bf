//! The `ntp-sim` command: runs a scenario N times and prints a summary
//! (and, with `--json`, a JSON object as the last line).

use ntp_sim::{args, report, scenario, simulate};
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::parse(&argv) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let sc = match scenario::scenario(&opts.scenario, opts.jitter, opts.duration, opts.settle) {
        Ok(s) => scenario::Scenario { auth: opts.auth, timestamping: s.timestamping.with_t1(opts.t1), ..s },
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let (results, summary) = simulate(&sc, opts.seed, opts.runs);
    print!("{}", report::human(&sc, opts.jitter, opts.seed, &results, &summary));
    if opts.json {
        println!("{}", report::json(&sc, opts.jitter, opts.seed, &summary, &results));
    }
    ExitCode::SUCCESS
}
