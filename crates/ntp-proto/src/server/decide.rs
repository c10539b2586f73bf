//! The server's decision on one datagram, in the one order the daemon, the
//! simulator and the fuzzer all use: arrival interface → size → parse →
//! access rules → rate limit → MAC or NTS → reply (basic, or interleaved
//! when the policy keeps an [`InterleaveTable`]). Control (mode 6)
//! datagrams branch off after the size check to `crate::control::decide`.
//! Every refusal says which counter it belongs to; kiss-o'-death and NTS NAK replies are written here and never exceed
//! the request's length.
//!
//! The decision consults a [`Policy`]: the access rules, rate limiter, keys
//! and NTS cookie keys in force for this datagram. It allocates nothing,
//! NTS included (cookies open and replies seal in place).

use std::net::{IpAddr, SocketAddr};

use super::interleave::{self, InterleaveTable};
use super::reply::{write_reply, PreparedReply, ServerState};
use super::request::{parse_request, ClientRequest, DropReason};
use super::seal::{MacSeal, Seal};
use crate::auth::{check_mac, MacCheck, SymmetricKey};
use crate::control::ControlRequest;
use crate::kod::{write_kod, KissCode};
use crate::nts::cookie::CookieKeys;
use crate::nts::ef::{server_verify, write_nts_nak, UNIQUE_IDENTIFIER};
use crate::timestamp::NtpTimestamp;

/// What a policy check says about a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Pass,
    /// Refuse silently.
    Refuse,
    /// Refuse with a kiss-o'-death (DENY for access, RATE for rate limits).
    RefuseWithKod,
}

/// The policy snapshot a decision consults: access rules, the rate limiter,
/// the symmetric keys and the NTS cookie keys in force.
pub trait Policy {
    /// Called first for every datagram with the kernel's index of the
    /// interface it arrived on (0 when unknown): false when that interface
    /// is not served (the datagram is dropped as
    /// [`DropReason::InterfaceDisabled`]). A policy with per-interface
    /// access rules or rate limits applies that interface's in the calls
    /// that follow for the same datagram. Default: every interface is
    /// served under one policy.
    fn select_interface(&mut self, ifindex: u32) -> bool {
        let _ = ifindex;
        true
    }
    /// The largest request answered, bytes (longer ones are dropped).
    fn max_request_len(&self) -> usize;
    /// The access rules' verdict on `client`.
    fn access(&self, client: IpAddr) -> Verdict;
    /// Records one request of `client` at `host_secs` (seconds on the
    /// host's clock) and says whether it is over its rate limit.
    fn rate_limit(&mut self, client: IpAddr, host_secs: f64) -> Verdict;
    /// True when requests from `client` must carry a valid MAC.
    fn must_authenticate(&self, client: IpAddr) -> bool;
    /// The symmetric key with id `key_id`, if configured.
    fn mac_key(&self, key_id: u32) -> Option<&SymmetricKey>;
    /// The NTS cookie keys, when NTS is served.
    fn nts_cookie_keys(&self) -> Option<&CookieKeys>;
    /// The table of interleaved mode (RFC 9769), when the server offers
    /// it. Default: none, every reply is basic.
    fn interleave_table(&self) -> Option<&InterleaveTable> {
        None
    }
    /// True when `client` may ask control (mode 6, ntpq) questions.
    /// Default: loopback only.
    fn control_allowed(&self, client: IpAddr) -> bool {
        client.is_loopback()
    }
}

/// How a datagram arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// The client's address and port.
    pub source: SocketAddr,
    /// When it arrived, in served time: the reply's receive timestamp (T2).
    pub receive_time: NtpTimestamp,
    /// When it arrived on the host's clock, seconds (for rate limiting).
    pub host_secs: f64,
    /// The datagram did not fit the receive buffer.
    pub truncated: bool,
    /// The kernel's index of the network interface it arrived on (from
    /// IP_PKTINFO / IPV6_PKTINFO; 0 when unknown).
    pub interface: u32,
}

/// What to do with one datagram.
#[derive(Debug)]
pub enum Decision<'a> {
    /// Answer with time: stamp the transmit timestamp with
    /// [`PreparedReply::finish`], then protect the reply with the [`Seal`].
    Reply(PreparedReply, Seal<'a>),
    /// Send the complete kiss-o'-death (or NTS NAK) in `out[..len]`; the
    /// request is counted as dropped for `reason`.
    KissOfDeath {
        /// Length of the reply.
        len: usize,
        /// Why the request was refused.
        reason: DropReason,
    },
    /// Send nothing; count `reason`.
    Drop(DropReason),
    /// A control (mode 6) request from a client allowed to ask: answer it
    /// with `control::respond` (off the time-serving path).
    Control(ControlRequest<'a>),
}

impl Decision<'_> {
    /// True when the client gets an answer (time or control), not a refusal.
    pub fn answers(&self) -> bool {
        matches!(self, Decision::Reply(..) | Decision::Control(_))
    }

    /// The drop counter this decision belongs to, if it refuses.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Decision::Reply(..) | Decision::Control(_) => None,
            Decision::KissOfDeath { reason, .. } | Decision::Drop(reason) => Some(*reason),
        }
    }
}

/// Decides what to send for `request`, arrived as `arrival`, with the
/// server advertising `state`; replies and kiss-o'-death are written into
/// `out` (at least 48 bytes; replies to NTS requests need as much as the
/// request).
pub fn decide<'a>(
    request: &'a [u8],
    arrival: &Arrival,
    state: &ServerState,
    policy: &mut impl Policy,
    out: &mut [u8],
) -> Decision<'a> {
    if !policy.select_interface(arrival.interface) {
        return Decision::Drop(DropReason::InterfaceDisabled);
    }
    if arrival.truncated || request.len() > policy.max_request_len() {
        return Decision::Drop(DropReason::TooLong);
    }
    if crate::control::is_control(request) {
        return crate::control::decide(request, arrival, policy);
    }
    let parsed = match parse_request(request, arrival.source.port()) {
        Ok(r) => r,
        Err(reason) => return Decision::Drop(reason),
    };
    let client = arrival.source.ip();
    let kod = |code, reason, out: &mut [u8]| kiss_of_death(&parsed, code, reason, state, arrival.receive_time, out);
    match policy.access(client) {
        Verdict::Pass => {}
        Verdict::Refuse => return Decision::Drop(DropReason::Denied),
        Verdict::RefuseWithKod => return kod(KissCode::Deny, DropReason::Denied, out),
    }
    match policy.rate_limit(client, arrival.host_secs) {
        Verdict::Pass => {}
        Verdict::Refuse => return Decision::Drop(DropReason::RateLimited),
        Verdict::RefuseWithKod => return kod(KissCode::Rate, DropReason::RateLimited, out),
    }
    let seal = match check_mac(request, &parsed.trailer, |id| policy.mac_key(id)) {
        MacCheck::Valid { key_id, digest_len } => Seal::Mac(MacSeal { key_id, digest_len }),
        MacCheck::Invalid => return Decision::Drop(DropReason::AuthenticationFailed),
        MacCheck::Absent if parsed.trailer.fields().any(|f| f.field_type == UNIQUE_IDENTIFIER) => {
            let Some(keys) = policy.nts_cookie_keys() else { return Decision::Drop(DropReason::Nts) };
            match server_verify(request, keys) {
                Ok(verified) => Seal::Nts(verified),
                // Unknown or expired cookie, or a bad authenticator: NTS NAK.
                Err(Ok(nak)) => {
                    return match write_nts_nak(&parsed, nak, state.precision, arrival.receive_time, out) {
                        Ok(len) if len <= parsed.len => Decision::KissOfDeath { len, reason: DropReason::Nts },
                        _ => Decision::Drop(DropReason::Nts),
                    };
                }
                Err(Err(_)) => return Decision::Drop(DropReason::Nts),
            }
        }
        MacCheck::Absent if policy.must_authenticate(client) => {
            return Decision::Drop(DropReason::AuthenticationFailed)
        }
        MacCheck::Absent => Seal::Plain,
    };
    match write_reply(&parsed, arrival.receive_time, state, out) {
        Ok(p) if p.len() + seal.known_len() <= parsed.len => {
            let p = match policy.interleave_table() {
                Some(table) => interleave::apply(table, &parsed, client, arrival.receive_time, out, p),
                None => p,
            };
            Decision::Reply(p, seal)
        }
        Ok(_) => Decision::Drop(DropReason::ReplyTooLarge),
        Err(reason) => Decision::Drop(reason),
    }
}

/// A kiss-o'-death with `code`, or a plain drop when it would not fit.
fn kiss_of_death<'a>(
    request: &ClientRequest<'_>,
    code: KissCode,
    reason: DropReason,
    state: &ServerState,
    now: NtpTimestamp,
    out: &mut [u8],
) -> Decision<'a> {
    match write_kod(request, code, state.precision, now, out) {
        Ok(len) if len <= request.len => Decision::KissOfDeath { len, reason },
        _ => Decision::Drop(reason),
    }
}
