//! One module per subcommand.

pub mod config;
pub mod query;
pub mod run;
