//! simple-ntpd, the daemon: the IO around the sans-IO cores — sockets with
//! kernel timestamps, the serving workers, the sync loop, clocks, files,
//! TLS, the management API, logging and the command line. The protocol
//! decisions live in `ntp-proto` (server decision, upstream associations,
//! NTS), the synchronisation engine in `ntp-sync`, the configuration model
//! in `ntp-config`. `docs/architecture.md` maps every concept to its file.

pub mod api;
pub mod audit;
pub mod civil_time;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod daemon;
pub mod dhcp;
pub mod dns;
pub mod faults;
pub mod heap;
pub mod interfaces;
pub mod logfile;
pub mod logging;
pub mod net;
pub mod nts;
pub mod panic_policy;
pub mod program_pages;
pub mod random;
pub mod refclock;
pub mod security;
pub mod served;
pub mod server;
pub mod stack_pages;
pub mod statslog;
pub mod status;
pub mod sync;
pub mod zero_pages;
pub mod zeroed;
