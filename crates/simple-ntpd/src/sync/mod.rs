//! Keeping time from upstream sources: the glue between the sans-IO
//! `ntp_proto::source` pollers and `ntp_sync::Engine` on one side and
//! sockets, DNS, the clock and the published state on the other.
//!
//! - [`spec`]: which sources the configuration names.
//! - [`net`]: one socket per source with kernel receive timestamps.
//! - [`drivers`]: the clocks the engine steers (virtual, system).
//! - [`host`]: `discipline = "none"`, the host clock as the kernel describes it.
//! - [`driftfile`]: the frequency kept across restarts.
//! - [`background`]: name lookups and NTS key exchanges, off the loop.
//! - [`refclocks`]: reference clocks as engine sources (the drivers are in
//!   `crate::refclock`).
//! - [`task`]: the loop that ties them together.

pub mod background;
pub mod driftfile;
pub mod drivers;
pub mod host;
pub mod net;
pub mod nts_client;
pub mod refclocks;
pub mod spec;
pub mod task;
