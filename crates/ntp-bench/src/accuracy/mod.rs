//! The side-by-side accuracy benchmark's two tools (`bench/accuracy.sh`,
//! binary `ntp-accuracy`):
//!
//! - [`upstream`]: a reference NTP server on loopback whose served time is a
//!   known function of the host clock ([`Timescale`]: an offset and a
//!   frequency error), with an optional simulated network in front of it
//!   (exponential jitter each way, a constant asymmetry);
//! - [`probe`]: a client that asks each server under test for its time,
//!   stamping its requests and the replies with kernel transmit and receive
//!   timestamps, and reports how far each server's served time is from the
//!   reference's known time.
//!
//! Both run on the host clock only; nothing here steers any clock.

pub mod probe;
pub mod summary;
pub mod timescale;
pub mod upstream;

pub use timescale::Timescale;
