//! The `simple-ntpd` binary: parse the command line and dispatch.

use std::process::ExitCode;

use clap::Parser;
use simple_ntpd::cli::{Cli, Command};
use simple_ntpd::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => commands::run::run(cli.run),
        Some(Command::Run(args)) => commands::run::run(args),
        Some(Command::Query(args)) => commands::query::run(args),
        Some(Command::Config(cmd)) => commands::config::run(cmd),
        Some(Command::Version) => {
            println!("simple-ntpd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
