//! One module per subcommand.

pub mod config;
pub mod dhcp_config;
pub mod external;
pub mod healthcheck;
pub mod keygen;
pub mod query;
pub mod run;
pub mod status;
pub mod table;
pub mod watch;
