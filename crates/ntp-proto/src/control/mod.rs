//! NTP control messages (mode 6, RFC 9327), read only: what `ntpq -p`,
//! `ntpq -c rv` and `ntpstat` ask, answered from a [`ControlSnapshot`] of
//! the system and association variables the daemon publishes (the same
//! figures as its status API).
//!
//! ```text
//! server::decide(datagram, …)   a mode 6 datagram → control::decide:
//!     allowed network? (Policy::control_allowed, loopback by default)  else Drop(ControlMode)
//!     parse the request                                                 else Drop(ControlMode)
//!     access rules, rate limit (as for time requests)                   else Drop(Denied | RateLimited)
//!     → Decision::Control(request)
//! respond(&request, &snapshot) → Response::Data(fragments) | Response::Error(code, datagram)
//! ```
//!
//! - [`request`]: the control header, opcodes, variable lists.
//! - [`variables`]: the snapshot and the status words.
//! - [`format`]: `name=value` text in ntpd's units and order.
//! - [`response`]: READSTAT, READVAR, fragmentation, refusals.
//!
//! Answers are larger than the requests that cause them (a READVAR is 12
//! bytes, the system variables ~500): that is why only chosen networks get
//! them, under the rate limit. The answer path allocates; it is off the
//! time-serving path.

pub mod format;
pub mod request;
pub mod response;
pub mod variables;

pub use request::{is_control, parse, ControlRequest, Malformed};
pub use response::{respond, ControlError, Response};
pub use variables::{ClockSource, ControlSnapshot, PeerVariables, Selection, SystemVariables};

use crate::server::{Arrival, Decision, DropReason, Policy, Verdict};

/// The server decision for a datagram [`is_control`] says is mode 6 (its
/// size already checked): who may ask, the request's format, the access
/// rules and the rate limit — no kiss-o'-death for control messages.
pub fn decide<'a>(datagram: &'a [u8], arrival: &Arrival, policy: &mut impl Policy) -> Decision<'a> {
    let client = arrival.source.ip();
    if !policy.control_allowed(client) {
        return Decision::Drop(DropReason::ControlMode);
    }
    let Ok(request) = parse(datagram) else { return Decision::Drop(DropReason::ControlMode) };
    if policy.access(client) != Verdict::Pass {
        return Decision::Drop(DropReason::Denied);
    }
    if policy.rate_limit(client, arrival.host_secs) != Verdict::Pass {
        return Decision::Drop(DropReason::RateLimited);
    }
    Decision::Control(request)
}

#[cfg(test)]
mod tests;
