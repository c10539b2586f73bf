//! `simple-ntpd-operator`: the Kubernetes operator for NTPService and
//! NTPClient resources (the controller, `render FILE`, `crd`). A program of
//! its own so the daemon's binary carries none of kube's weight; users reach
//! it as `simple-ntpd operator ...` too.

#![forbid(unsafe_code)]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    simple_ntpd::panic_policy::install();
    commands::run(cli::Cli::parse())
}
