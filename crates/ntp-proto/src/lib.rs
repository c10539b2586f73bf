//! Sans-IO protocol core of simple-ntpd.
//!
//! Everything here is a pure function or a state machine over byte slices and
//! timestamps handed in by the caller: no sockets, no clock reads, no
//! allocation on the packet path, and no `unsafe`. The daemon owns the IO and
//! the clock; this crate owns the wire format and the protocol decisions.
//!
//! - [`timestamp`]: 64-bit NTP timestamps (with era handling across the 2036
//!   rollover), 32-bit short format and signed durations.
//! - [`packet`]: the 48-byte header codec.
//! - [`extension`]: RFC 7822 extension fields and the trailing MAC.
//! - [`server`]: the server's decision on a datagram — parse, access, rate
//!   limit, MAC or NTS, reply or kiss-o'-death — over a [`server::Policy`].
//! - [`control`]: read-only control messages (mode 6, ntpq/ntpstat),
//!   answered from a snapshot of the system and association variables.
//! - [`kod`]: Kiss-o'-Death codes and replies.
//! - [`client`]: a one-shot SNTP exchange (request, reply validation,
//!   offset/delay), used by `simple-ntpd query`.
//! - [`auth`]: symmetric keys, chrony key files, the one MAC check.
//! - [`source`]: the per-source poll schedule, reach register and clock
//!   filter.
//! - [`association`]: one upstream server as the daemon and the simulator
//!   drive it (poll → transmit → datagram → events), with its MAC key or
//!   NTS cookie jar.
//! - [`refclock`]: reference clocks: NMEA, chrony's SOCK and the NTP SHM
//!   formats, PPS edges, the refclock median filter, one refclock's state.
//! - [`nts`]: Network Time Security (RFC 8915) codecs and crypto: NTS-KE
//!   records, server cookies, NTS extension fields, and the protocol
//!   constants (ALPN, exporter label, port).
//!
//! Randomness is always handed in by the caller (a `rand_core::RngCore`),
//! so the simulator runs it deterministically.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod association;
pub mod auth;
pub mod client;
pub mod control;
pub mod extension;
pub mod kod;
pub mod nts;
pub mod packet;
pub mod refclock;
pub mod server;
pub mod source;
pub mod timestamp;

#[cfg(test)]
mod testing;

pub use packet::{Header, LeapIndicator, Mode, ParseError, ReferenceId, HEADER_LEN};
pub use timestamp::{NtpDuration, NtpShort, NtpTimestamp};
