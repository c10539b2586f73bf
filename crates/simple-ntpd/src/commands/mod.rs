//! One module per subcommand.

pub mod config;
pub mod healthcheck;
pub mod keygen;
#[cfg(feature = "operator")]
pub mod operator;
pub mod query;
pub mod run;
pub mod status;
pub mod table;
pub mod watch;
