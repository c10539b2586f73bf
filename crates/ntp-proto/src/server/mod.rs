//! The server side of the protocol: whether and how to answer a request, as
//! one pure decision over the request's bytes and a policy snapshot.
//!
//! ```text
//! decide(request, arrival, state, policy, out)      parse → access → rate limit → MAC / NTS → reply
//!   Decision::Drop(reason)                          count, send nothing
//!   Decision::KissOfDeath { len, reason }           count, send out[..len] (KoD or NTS NAK)
//!   Decision::Reply(prepared, seal)
//!       len = prepared.finish(out, T3)              T3 read immediately before the send
//!                                                   (interleaved: the previous reply's kernel T3)
//!       seal.seal(out, len, request.len(), policy, rng)  MAC or NTS fields after T3
//! ```
//!
//! The order of the checks, what each failure is counted as and the promise
//! that nothing sent is ever larger than the request that caused it are all
//! kept here, so they are unit-tested and fuzzed without a socket; the daemon
//! owns the sockets, the clock and the counters. The steps are public too:
//! [`parse_request`], [`write_reply`], [`PreparedReply::finish`].
//!
//! - [`request`]: is this a client request at all ([`DropReason`]s).
//! - [`reply`]: the advertised [`ServerState`] and the reply header.
//! - [`decide`]: the [`Policy`] the decision consults and the decision.
//! - [`seal`]: MAC or NTS protection of a stamped reply.
//! - [`interleave`]: the per-client memory of interleaved mode (RFC 9769).
//! - [`broadcast`]: the broadcast server's mode-5 packet.
//!
//! Control (mode 6) requests are routed to `crate::control` (answered only
//! for allowed networks, read only); private (mode 7) packets are never
//! answered.

pub mod broadcast;
pub mod decide;
pub mod interleave;
pub mod reply;
pub mod request;
pub mod seal;

pub use decide::{decide, Arrival, Decision, Policy, Verdict};
pub use interleave::{Interleave, InterleaveTable, TxHandle};
pub use reply::{write_reply, PreparedReply, ServerState, UNSYNCHRONISED_REFID};
pub use request::{parse_request, ClientRequest, DropReason, NTP_PORT};
pub use seal::{MacSeal, Seal, Sealed};

#[cfg(test)]
mod interleave_tests;
#[cfg(test)]
mod tests;
