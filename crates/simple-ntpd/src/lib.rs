//! simple-ntpd, the daemon: configuration loading (via `ntp-config`),
//! sockets with kernel timestamps, the serving workers, the published system
//! state, logging and the command line. The protocol itself lives in the
//! sans-IO `ntp-proto` crate.

pub mod api;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod daemon;
pub mod logging;
pub mod net;
pub mod nts;
pub mod refclock;
pub mod security;
pub mod server;
pub mod state;
pub mod status;
pub mod sync;
