//! Keeping time from upstream sources and reference clocks: the IO around
//! the sans-IO upstream
//! associations (`ntp_proto::association`) and `ntp_sync::Engine` — sockets,
//! DNS, NTS-KE, the clock and the published state.
//!
//! - [`source`]: one running source: association, socket, NTS renewals.
//! - [`net`]: one socket per source with kernel receive timestamps.
//! - [`background`]: name lookups and NTS key exchanges, off the loop.
//! - [`drivers`]: the clocks the engine steers (virtual, system).
//! - [`host`]: `discipline = "none"`, the host clock as the kernel describes it.
//! - [`driftfile`]: the frequency kept across restarts.
//! - [`broadcast`]: listening for broadcasts (`[[sources.broadcast]]`).
//! - [`refclocks`]: reference clocks as engine sources (the drivers are in
//!   `crate::refclock`).
//! - [`report`]: what the loop tells the status hub.
//! - [`debug`]: its internals for `/debug/state`.
//! - [`task`]: the loop that ties them together.
//!
//! Which sources to poll comes from `ntp_config::Config::upstreams()`; the
//! NTS key exchange itself is `crate::nts::client`.

pub mod background;
pub mod broadcast;
pub mod debug;
pub mod driftfile;
pub mod drivers;
pub mod host;
pub mod net;
pub mod refclocks;
pub mod report;
pub mod source;
pub mod task;
