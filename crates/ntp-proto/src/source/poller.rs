//! [`SourcePoller`]: the poll schedule, reachability and clock filter of one
//! upstream server — the part of an association that does not care how
//! requests are protected. [`crate::association::Association`] wraps it with
//! the MAC or NTS layer and is what the daemon and the simulator drive.
//!
//! ```text
//! at poller.next_poll_at():   n = poller.write_request(cookie, &mut buf)   (nothing changes yet)
//!                             protect buf[..n] (MAC, NTS) → only when that worked:
//!                             poller.transmitted(now, cookie)              (reach shifts, next poll scheduled)
//! the real send time known:   poller.set_transmit_time(cookie, t1)         (kernel TX timestamp)
//! on a datagram from it:      poller.handle_response(bytes, t4, now) → Ok(sample) | Err(reason)
//! at poller.timeout_at():     poller.handle_timeout(now)
//! after the clock is stepped: poller.clock_stepped(offset)
//! ```
//!
//! T1, the local time the request left, is kept here and shifted with every
//! clock step, so a reply that crosses a step still measures the right
//! offset; `t4` is the kernel receive timestamp of the reply. The request
//! carries a random cookie in its transmit field, never the send time; a
//! reply is accepted only if its origin echoes the cookie of the one
//! outstanding request, once.
//!
//! With `xleave` (interleaved mode, RFC 9769) every request after the first
//! answered one also carries the previous exchange: origin = the server's
//! receive timestamp from the last reply, receive = our receive time of it.
//! A server that keeps interleaved state answers with origin = that receive
//! field and transmit = when it really sent the previous reply (its kernel
//! timestamp), which completes the previous exchange's sample; a basic
//! answer (origin = our cookie) is taken as usual.

use super::filter::{ClockFilter, FilterStats};
use super::poll::{PollConfig, PollState};
use super::reach::Reach;
use super::sample::Sample;
use super::validate::{validate_interleaved, validate_reply, Exchange, Reject};
use super::PHI;
use crate::client::write_request;
use crate::kod::KissCode;
use crate::packet::{Header, ReferenceId};
use crate::timestamp::{NtpDuration, NtpTimestamp};

/// Settings of one upstream source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceConfig {
    /// Poll interval settings.
    pub poll: PollConfig,
    /// NTP version of our requests (default 4).
    pub version: u8,
    /// Seconds after sending when an unanswered request is abandoned
    /// (default 2; a later reply is then rejected).
    pub response_timeout: f64,
    /// The local clock's precision (log2 s), for dispersion and for the
    /// negative-delay tolerance.
    pub local_precision: i8,
    /// Ask for interleaved mode (RFC 9769, chrony's `xleave`).
    pub xleave: bool,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            poll: PollConfig::default(),
            version: 4,
            response_timeout: 2.0,
            local_precision: -20,
            xleave: false,
        }
    }
}

/// Whether the source is still polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollerState {
    /// Polled normally.
    Active,
    /// Stopped for good by a DENY or RSTR kiss-o'-death.
    Demobilised(KissCode),
}

/// A snapshot of the source for status displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceStatus {
    /// Active or demobilised.
    pub state: PollerState,
    /// Reachability register.
    pub reach: Reach,
    /// Current poll exponent (log2 s).
    pub poll: i8,
    /// True while a burst is being sent.
    pub in_burst: bool,
    /// Clock-filter figures.
    pub filter: FilterStats,
    /// Local time of the last accepted sample.
    pub last_sample: Option<NtpTimestamp>,
    /// The reference id the server sent with it.
    pub last_reference_id: Option<ReferenceId>,
    /// The last accepted sample was interleaved (it carries the server's
    /// real transmit time of the reply before).
    pub last_interleaved: bool,
    /// Requests sent.
    pub requests: u64,
    /// Replies accepted as samples.
    pub accepted: u64,
    /// Datagrams rejected (any reason, kiss codes included).
    pub rejected: u64,
    /// Kiss-o'-death replies received (any code).
    pub kisses: u64,
    /// The last rejection reason.
    pub last_reject: Option<Reject>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Outstanding {
    cookie: NtpTimestamp,
    sent_at: NtpTimestamp,
    poll: i8,
    /// The request carried the previous exchange (interleaved mode).
    interleaved: bool,
}

/// The poll state machine of one upstream server.
#[derive(Clone, Debug)]
pub struct SourcePoller {
    config: SourceConfig,
    poll: PollState,
    reach: Reach,
    filter: ClockFilter,
    next_poll: NtpTimestamp,
    outstanding: Option<Outstanding>,
    /// The last answered exchange, for interleaved requests (`xleave` only).
    previous: Option<Exchange>,
    state: PollerState,
    last_sample: Option<NtpTimestamp>,
    last_reference_id: Option<ReferenceId>,
    last_interleaved: bool,
    requests: u64,
    accepted: u64,
    rejected: u64,
    kisses: u64,
    last_reject: Option<Reject>,
}

fn after(t: NtpTimestamp, secs: f64) -> NtpTimestamp {
    t + NtpDuration::from_seconds(secs)
}

fn exp2(e: i8) -> f64 {
    2f64.powi(i32::from(e))
}

impl SourcePoller {
    /// A poller whose first request is due `first_delay_s` after `now` (the
    /// daemon spreads sources with a small random delay).
    pub fn new(config: SourceConfig, now: NtpTimestamp, first_delay_s: f64) -> Self {
        let config = SourceConfig {
            poll: config.poll.sanitised(),
            version: config.version.clamp(1, 4),
            response_timeout: if config.response_timeout.is_finite() {
                config.response_timeout.clamp(0.01, 60.0)
            } else {
                2.0
            },
            ..config
        };
        SourcePoller {
            config,
            poll: PollState::new(config.poll),
            reach: Reach::new(),
            filter: ClockFilter::new(),
            next_poll: after(now, if first_delay_s.is_finite() { first_delay_s.max(0.0) } else { 0.0 }),
            outstanding: None,
            previous: None,
            state: PollerState::Active,
            last_sample: None,
            last_reference_id: None,
            last_interleaved: false,
            requests: 0,
            accepted: 0,
            rejected: 0,
            kisses: 0,
            last_reject: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// When the next request is due; `None` once demobilised.
    pub fn next_poll_at(&self) -> Option<NtpTimestamp> {
        match self.state {
            PollerState::Active => Some(self.next_poll),
            PollerState::Demobilised(_) => None,
        }
    }

    /// When the outstanding request, if any, should be given up.
    pub fn timeout_at(&self) -> Option<NtpTimestamp> {
        self.outstanding.map(|o| after(o.sent_at, self.config.response_timeout))
    }

    /// The local time the outstanding request left (T1, shifted with every
    /// clock step).
    pub fn transmit_time(&self) -> Option<NtpTimestamp> {
        self.outstanding.map(|o| o.sent_at)
    }

    /// The reachability register.
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// The current poll exponent (log2 s).
    pub fn poll(&self) -> i8 {
        self.poll.poll()
    }

    /// Writes the next request into `buf` with transmit `cookie` (random,
    /// from the caller's CSPRNG) without changing any state: the request is
    /// only counted once [`Self::transmitted`] says it left. Returns the
    /// length, or `None` when demobilised or `buf` is shorter than 48 bytes.
    pub fn write_request(&self, cookie: NtpTimestamp, buf: &mut [u8]) -> Option<usize> {
        if let PollerState::Demobilised(_) = self.state {
            return None;
        }
        let n = write_request(self.config.version, self.poll.poll(), cookie, buf)?;
        if let Some((server_rx, our_rx)) = self.interleaved_fields() {
            buf[24..32].copy_from_slice(&server_rx.to_be_bytes());
            buf[32..40].copy_from_slice(&our_rx.to_be_bytes());
        }
        Some(n)
    }

    /// The origin and receive fields of an interleaved request: the
    /// server's receive time and ours of the last reply.
    fn interleaved_fields(&self) -> Option<(NtpTimestamp, NtpTimestamp)> {
        let p = self.previous.filter(|_| self.config.xleave)?;
        Some((p.t2?, p.t4))
    }

    /// The request with transmit `cookie` left at `now`: shifts the reach
    /// register, counts it and schedules the next poll. A previous request
    /// still unanswered counts as lost. Ignored once demobilised.
    pub fn transmitted(&mut self, now: NtpTimestamp, cookie: NtpTimestamp) {
        if let PollerState::Demobilised(_) = self.state {
            return;
        }
        let poll = self.poll.poll();
        let missed = if self.requests > 0 { self.reach.missed_in_a_row() } else { 0 };
        if missed >= 3 {
            self.filter.insert_missing(now);
        }
        let unreachable = self.reach.is_unreachable();
        self.reach.on_transmit();
        self.requests += 1;
        let interleaved = self.interleaved_fields().is_some();
        self.outstanding = Some(Outstanding { cookie, sent_at: now, poll, interleaved });
        self.next_poll = after(now, self.poll.on_transmit(unreachable, missed));
    }

    /// [`Self::write_request`] and [`Self::transmitted`] at once, for an
    /// unprotected request that is sure to be sent.
    pub fn build_request(&mut self, now: NtpTimestamp, cookie: NtpTimestamp, buf: &mut [u8]) -> Option<usize> {
        let n = self.write_request(cookie, buf)?;
        self.transmitted(now, cookie);
        Some(n)
    }

    /// The outstanding request with transmit `cookie` actually left at `t1`
    /// (a kernel transmit timestamp, known only after the send); returns
    /// false when no such request is outstanding.
    pub fn set_transmit_time(&mut self, cookie: NtpTimestamp, t1: NtpTimestamp) -> bool {
        match self.outstanding.as_mut() {
            Some(o) if o.cookie == cookie => {
                o.sent_at = t1;
                true
            }
            _ => false,
        }
    }

    /// Gives up on the outstanding request once its timeout has passed (a
    /// later reply is then rejected as having no request outstanding).
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        if let Some(deadline) = self.timeout_at() {
            if now.since(deadline).to_bits() >= 0 {
                self.outstanding = None;
            }
        }
    }

    /// The engine's poll advice (see `ntp_sync::Engine::on_sample`).
    pub fn advise_poll(&mut self, desired: i8) {
        self.poll.advise(desired);
    }

    /// The local clock was stepped by `offset_s`: shifts every stored local
    /// time so intervals and the outstanding T1 stay right.
    pub fn clock_stepped(&mut self, offset_s: f64) {
        if !offset_s.is_finite() {
            return;
        }
        let d = NtpDuration::from_seconds(offset_s);
        self.next_poll = self.next_poll + d;
        if let Some(o) = self.outstanding.as_mut() {
            o.sent_at = o.sent_at + d;
        }
        if let Some(p) = self.previous.as_mut() {
            p.t1 = p.t1 + d;
            p.t4 = p.t4 + d;
        }
        if let Some(t) = self.last_sample.as_mut() {
            *t = *t + d;
        }
        self.filter.clock_stepped(offset_s);
    }

    /// Handles a datagram from this source: `t4` its local (kernel) receive
    /// time, `now` the current time; T1 is the outstanding request's
    /// [`Self::transmit_time`]. Returns the sample, or why the datagram is
    /// not one. Kiss codes are acted on before they are returned: RATE slows
    /// polling, DENY and RSTR demobilise the source.
    pub fn handle_response(&mut self, bytes: &[u8], t4: NtpTimestamp, now: NtpTimestamp) -> Result<Sample, Reject> {
        let result = self.accept(bytes, t4, now);
        if let Err(reason) = result {
            self.rejected += 1;
            self.last_reject = Some(reason);
        }
        result
    }

    /// Records a datagram that failed a check of the layer above (MAC, NTS)
    /// under `reason`, without touching the outstanding request.
    pub fn count_reject(&mut self, reason: Reject) {
        self.rejected += 1;
        self.last_reject = Some(reason);
    }

    fn accept(&mut self, bytes: &[u8], t4: NtpTimestamp, now: NtpTimestamp) -> Result<Sample, Reject> {
        if let PollerState::Demobilised(_) = self.state {
            return Err(Reject::Demobilised);
        }
        let out = self.outstanding.ok_or(Reject::NoRequestOutstanding)?;
        let t1 = out.sent_at;
        // An interleaved answer echoes our receive field, not the cookie.
        let reply_origin = bytes.get(24..32).map(|b| NtpTimestamp::from_be_bytes(b.try_into().unwrap_or([0; 8])));
        let interleaved = self.previous.filter(|p| out.interleaved && reply_origin == Some(p.t4));
        let validated = match interleaved {
            Some(previous) => validate_interleaved(bytes, previous, self.config.local_precision),
            None => validate_reply(bytes, out.cookie, t1, t4, self.config.local_precision),
        };
        let v = match validated {
            Ok(v) => v,
            // Not the answer to our request: keep waiting for the real one.
            Err(e @ (Reject::Parse(_) | Reject::NotServerMode(_) | Reject::BadVersion(_) | Reject::OriginMismatch)) => {
                return Err(e)
            }
            Err(e) => {
                // The answer to our request, but not usable time.
                self.outstanding = None;
                if let Reject::Kiss(code) = e {
                    self.on_kiss(code, bytes, now);
                }
                return Err(e);
            }
        };
        self.outstanding = None;
        let was_unreachable = self.reach.is_unreachable();
        self.reach.on_reply();
        self.poll.on_reply(was_unreachable);
        if was_unreachable {
            // Polling restarts at minpoll after an outage.
            let restart = after(now, exp2(self.poll.poll()));
            if self.next_poll.since(restart).to_bits() > 0 {
                self.next_poll = restart;
            }
        }
        let h = v.header;
        let dispersion =
            exp2(self.config.local_precision.clamp(-32, 0)) + exp2(h.precision.clamp(-32, 0)) + PHI * v.delay;
        // The previous exchange's times for an interleaved sample; and this
        // exchange is the one the next interleaved request completes.
        let (st1, st4) = interleaved.map_or((t1, t4), |p| (p.t1, p.t4));
        self.previous = self.config.xleave.then_some(Exchange { t1, t2: Some(h.receive_time), t4 });
        let time = st1 + NtpDuration::from_bits(st4.since(st1).to_bits() / 2);
        let filter = self.filter.insert(v.offset, v.delay, dispersion, time);
        self.accepted += 1;
        self.last_sample = Some(time);
        self.last_reference_id = Some(h.reference_id);
        self.last_interleaved = interleaved.is_some();
        Ok(Sample {
            offset: v.offset,
            delay: v.delay,
            dispersion,
            time,
            leap: h.leap,
            stratum: h.stratum,
            reference_id: h.reference_id,
            reference_time: h.reference_time,
            root_delay: h.root_delay.to_seconds(),
            root_dispersion: h.root_dispersion.to_seconds(),
            precision: h.precision,
            poll: out.poll,
            filter,
            interleaved: interleaved.is_some(),
        })
    }

    fn on_kiss(&mut self, code: KissCode, bytes: &[u8], now: NtpTimestamp) {
        self.kisses += 1;
        match code {
            KissCode::Rate => {
                let server_poll = Header::decode(bytes).map(|h| h.poll).unwrap_or(0);
                self.poll.on_rate_kiss(server_poll);
                let earliest = after(now, exp2(self.poll.poll()));
                if earliest.since(self.next_poll).to_bits() > 0 {
                    self.next_poll = earliest;
                }
            }
            KissCode::Deny | KissCode::Restricted => self.state = PollerState::Demobilised(code),
            // An NTS NAK only matters to the NTS layer (it renews the key
            // exchange); here it is just not a sample.
            KissCode::NtsNak => {}
        }
    }

    /// The clock filter (for debugging displays).
    pub fn filter(&self) -> &ClockFilter {
        &self.filter
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> SourceStatus {
        SourceStatus {
            state: self.state,
            reach: self.reach,
            poll: self.poll.poll(),
            in_burst: self.poll.in_burst(),
            filter: self.filter.stats(),
            last_sample: self.last_sample,
            last_reference_id: self.last_reference_id,
            last_interleaved: self.last_interleaved,
            requests: self.requests,
            accepted: self.accepted,
            rejected: self.rejected,
            kisses: self.kisses,
            last_reject: self.last_reject,
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod xleave_tests;
