//! The operator's command line: with no command it runs the controller;
//! `render FILE` and `crd` work offline. `simple-ntpd operator ARGS` and
//! `simple-ntpd crd` hand their arguments to this program unchanged.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The Kubernetes operator for NTPService resources.
#[derive(Parser, Debug)]
#[command(name = "simple-ntpd-operator", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `render FILE` or `crd` instead of running the controller.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Watch NTPServices in this namespace only (default: all namespaces).
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Log level: TRACE, DEBUG, INFO, WARN, ERROR.
    #[arg(long = "log-level", value_name = "LEVEL", default_value = "INFO")]
    pub log_level: String,
}

/// The offline commands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print, offline, the objects the operator applies for the NTPService resources in FILE
    /// (a YAML stream that may also hold NTPClients), like `helm template`.
    Render {
        /// The resource file (`-` reads standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The namespace of resources that name none.
        #[arg(long, value_name = "NAMESPACE")]
        namespace: Option<String>,
    },
    /// Print the CustomResourceDefinitions of the NTPService and NTPClient resources (YAML).
    Crd,
    /// Print the version.
    Version,
}
