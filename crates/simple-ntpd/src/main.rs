//! The `simple-ntpd` binary: parse the command line and dispatch.

use std::process::ExitCode;

use clap::Parser;
use simple_ntpd::cli::{Cli, Command};
use simple_ntpd::commands;

fn main() -> ExitCode {
    // Before any thread starts: one allocator arena (see heap).
    simple_ntpd::heap::single_arena();
    simple_ntpd::panic_policy::install();
    let cli = parse_command_line();
    match cli.command {
        None => commands::run::run(cli.run),
        Some(Command::Run(args)) => commands::run::run(args),
        Some(other) => other_command(other),
    }
}

/// Every command but `run`, in a frame of its own: inlined into `main`, their
/// locals made `main`'s frame, which stays on the stack under the daemon's
/// event loop, several kB larger.
#[inline(never)]
fn other_command(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => commands::run::run(args),
        Command::Query(args) => commands::query::run(args),
        Command::Healthcheck(args) => commands::healthcheck::run(args),
        Command::Config(cmd) => commands::config::run(cmd),
        Command::Status(args) => commands::status::status(args),
        Command::Sources(args) => commands::status::sources(args),
        Command::Clients(args) => commands::status::clients(args),
        Command::Serverstats(args) => commands::status::serverstats(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::DhcpConfig(args) => commands::dhcp_config::run(args),
        Command::Crd => commands::external::run(commands::external::OPERATOR, vec!["crd".into()]),
        Command::Operator(args) => commands::external::run(commands::external::OPERATOR, args.args),
        Command::Version => {
            println!("simple-ntpd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

/// Parses the command line in a frame of its own: clap's temporaries would
/// otherwise sit in `main`'s frame, which stays on the stack under the
/// daemon's event loop for the life of the process.
#[inline(never)]
fn parse_command_line() -> Cli {
    Cli::parse()
}
