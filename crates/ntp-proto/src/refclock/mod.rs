//! Reference clocks (GPS receivers, PPS signals) without IO: what their
//! drivers read, and how their samples reach the synchronisation engine.
//!
//! The daemon (and the simulator) owns the devices and hands bytes and
//! timestamps in; everything that decides something is here:
//!
//! - [`nmea`]: NMEA 0183 framing and checksums, the RMC, ZDA and GGA sentences.
//! - [`nmea_time`]: sentences with receive times → one sample per UTC second.
//! - [`sock`]: chrony's refclock socket datagram (`struct sock_sample`), as gpsd sends it.
//! - [`shm`]: the NTP shared-memory segment (`struct shmTime`) and its
//!   mode 0/1 `count`/`valid` reading protocol, as gpsd writes it.
//! - [`pulse`]: pulse-per-second edges, locked to another clock or to the
//!   synchronised local clock.
//! - [`filter`]: chrony's refclock filter (median over a poll, outliers
//!   rejected, standard error from the spread).
//! - [`instance`]: one reference clock ([`Refclock`]): raw samples in, one
//!   [`crate::source::Sample`] per poll out, reachability, counters.
//! - [`group`]: the clocks of one engine ([`RefclockGroup`]): locks between
//!   them, polls one at a time, clock changes reaching every filter.

pub mod filter;
pub mod group;
pub mod instance;
pub mod nmea;
pub mod nmea_time;
pub mod pulse;
pub mod shm;
pub mod sock;

pub use group::{LocalSync, RefclockGroup};
pub use instance::{PulseConfig, PulseContext, Refclock, RefclockConfig, RefclockCounters, Refused};
