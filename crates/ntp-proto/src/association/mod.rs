//! Upstream associations: everything the client side of NTP does for one
//! server, sans-IO, in quinn-proto's shape. The caller owns the socket, the
//! clock, the timer and the randomness; the association owns the poll
//! schedule, the reach register, the clock filter and the protection (the
//! MAC key, or the NTS session and its cookie jar).
//!
//! ```text
//! loop {
//!     at assoc.poll_timeout():   assoc.handle_timeout(now)
//!     while let Some(t) = assoc.poll_transmit(now, rng) { send t.payload }
//!     when the send time is known later (kernel TX timestamp):
//!                                assoc.handle_transmit_timestamp(t.origin, t1)
//!     on a datagram from it:     assoc.handle_datagram(bytes, t4, now)
//!     the clock was stepped:     assoc.clock_stepped(offset)
//!     while let Some(e) = assoc.poll_event() {
//!         Sample(s)              → engine.on_sample(..) → assoc.advise_poll(..)
//!         KeyExchangeNeeded(_)   → run NTS-KE off the loop → assoc.set_nts_session(..)
//!         Demobilised(code)      → engine.remove_source(..)
//!         Rejected(reason)       → count / log
//!     }
//! }
//! ```
//!
//! Nothing is counted as sent until the whole datagram — header, MAC or NTS
//! fields — exists, and T1 is the poller's, shifted with every clock step
//! and replaceable by a transmit timestamp learnt after the send. The daemon
//! (`simple-ntpd`'s sync loop) and the simulator (`ntp-sim`) drive this one
//! type. Reference clocks and broadcast clients produce the same [`Event`]s
//! from other inputs; `docs/architecture.md` describes where they plug in.
//!
//! - [`cookie_jar`]: the NTS client's session keys and cookies.
//! - [`broadcast`]: the broadcast client kind ([`Association::broadcast_client`]):
//!   listens for mode-5 broadcasts, calibrates the delay with a few
//!   client/server exchanges, then takes broadcasts as samples.

pub mod broadcast;
pub mod cookie_jar;

use std::collections::VecDeque;

use rand_core::RngCore;

pub use broadcast::Phase as BroadcastPhase;
pub use cookie_jar::{CookieJar, JAR_SIZE};

use broadcast::{BroadcastClient, Phase};

use crate::auth::{check_packet_mac, SymmetricKey};
use crate::kod::KissCode;
use crate::nts::cookie::SessionKeys;
use crate::nts::ef::{client_request, client_verify_reply, NtsError, MIN_UNIQUE_ID_LEN};
use crate::packet::HEADER_LEN;
use crate::source::{Reach, Reject, Sample, SourceConfig, SourcePoller, SourceStatus};
use crate::timestamp::NtpTimestamp;

/// How requests to the server are protected and its replies checked.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// Not at all.
    None,
    /// A MAC with this key on every request; replies must carry a valid
    /// MAC with the same key.
    Mac(SymmetricKey),
    /// NTS (RFC 8915) with this session.
    Nts(CookieJar),
}

/// Why the NTS key exchange must be run again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekeyReason {
    /// Every cookie has been spent.
    CookiesUsedUp,
    /// The server sent an NTS NAK (it no longer knows our cookies).
    Nak,
    /// The session's keys cannot build a request.
    BadSession,
}

/// Something the caller acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A reply passed every check: a measurement for the engine.
    Sample(Sample),
    /// A datagram was not accepted, and why (for counters and logs).
    Rejected(Reject),
    /// The NTS session must be renewed; no request is sent until
    /// [`Association::set_nts_session`]. Raised once per renewal.
    KeyExchangeNeeded(RekeyReason),
    /// The server refused us for good (DENY or RSTR kiss-o'-death): the
    /// association sends nothing more and its estimate must not be used.
    Demobilised(KissCode),
}

/// A datagram to send to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The whole datagram.
    pub payload: Vec<u8>,
    /// Its transmit timestamp field (a random cookie, echoed by the reply):
    /// the key for [`Association::handle_transmit_timestamp`].
    pub origin: NtpTimestamp,
}

/// One upstream server, polled over the network.
#[derive(Clone, Debug)]
pub struct Association {
    poller: SourcePoller,
    auth: ClientAuth,
    /// The NTS Unique Identifier of the last request.
    nts_uid: [u8; MIN_UNIQUE_ID_LEN],
    awaiting_keys: bool,
    events: VecDeque<Event>,
    /// A broadcast client: its state (None: a polled server).
    broadcast: Option<BroadcastClient>,
}

/// `a` if it is not after `b`, else `b`.
fn earliest(a: Option<NtpTimestamp>, b: Option<NtpTimestamp>) -> Option<NtpTimestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x.since(y).to_bits() <= 0 { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Association {
    /// An association whose first request is due `first_delay_s` after
    /// `now` (the daemon spreads sources with a small delay).
    pub fn new(config: SourceConfig, auth: ClientAuth, now: NtpTimestamp, first_delay_s: f64) -> Association {
        Association {
            poller: SourcePoller::new(config, now, first_delay_s),
            auth,
            nts_uid: [0; MIN_UNIQUE_ID_LEN],
            awaiting_keys: false,
            events: VecDeque::new(),
            broadcast: None,
        }
    }

    /// A broadcast client of one server (see [`broadcast`]): sends nothing
    /// until the first broadcast, then polls with `config` (iburst is
    /// wise) until the delay is calibrated, then only listens. `auth` is
    /// `None` or a MAC key that broadcasts and replies must carry.
    pub fn broadcast_client(config: SourceConfig, auth: ClientAuth, now: NtpTimestamp) -> Association {
        let mut a = Association::new(config, auth, now, 0.0);
        a.broadcast = Some(BroadcastClient::default());
        a
    }

    /// The broadcast client's phase (`None` for a polled server).
    pub fn broadcast_phase(&self) -> Option<BroadcastPhase> {
        self.broadcast.as_ref().map(BroadcastClient::phase)
    }

    /// The broadcast client's state while it takes broadcasts as samples.
    fn following(&self) -> Option<&BroadcastClient> {
        self.broadcast.as_ref().filter(|b| b.phase() == Phase::Following)
    }

    /// When [`Self::handle_timeout`] or [`Self::poll_transmit`] has
    /// something to do next: the next poll or the response deadline; `None`
    /// when demobilised, or waiting for keys with nothing outstanding.
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        match self.broadcast.as_ref().map(BroadcastClient::phase) {
            Some(Phase::Listening) => return self.poller.timeout_at(),
            Some(Phase::Following) => {
                return earliest(self.broadcast.as_ref().and_then(BroadcastClient::next_tick), self.poller.timeout_at())
            }
            Some(Phase::Calibrating) | None => {}
        }
        let poll = if self.awaiting_keys { None } else { self.poller.next_poll_at() };
        earliest(poll, self.poller.timeout_at())
    }

    /// Gives up on an unanswered request whose deadline has passed.
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        self.poller.handle_timeout(now);
        let (requests, reach) = (self.poller.status().requests, self.poller.reach());
        if let Some(b) = &mut self.broadcast {
            b.calibration_requests_sent(requests, now, reach);
            b.handle_timeout(now);
        }
    }

    /// The request due at `now`, whole and protected, or `None` when none is
    /// due (or it cannot be protected: then a key exchange is asked for and
    /// nothing is counted as sent). `rng` supplies the transmit cookie and
    /// the NTS unique id and nonce.
    pub fn poll_transmit(&mut self, now: NtpTimestamp, rng: &mut impl RngCore) -> Option<Transmit> {
        if self.broadcast.as_ref().is_some_and(|b| b.phase() != Phase::Calibrating) {
            return None;
        }
        if self.awaiting_keys || now.since(self.poller.next_poll_at()?).to_bits() < 0 {
            return None;
        }
        let origin = NtpTimestamp::from_bits(rng.next_u64());
        let mut header = [0u8; HEADER_LEN];
        self.poller.write_request(origin, &mut header)?;
        let payload = match &mut self.auth {
            ClientAuth::None => header.to_vec(),
            ClientAuth::Mac(key) => {
                let mut buf = vec![0u8; HEADER_LEN + 4 + crate::auth::MAX_DIGEST];
                buf[..HEADER_LEN].copy_from_slice(&header);
                let version = self.poller.config().version;
                let n = key.append_mac(&mut buf, HEADER_LEN, key.packet_digest_len(version))?;
                buf.truncate(n);
                buf
            }
            ClientAuth::Nts(jar) => {
                let Some((cookie, placeholders)) = jar.take() else {
                    self.need_keys(RekeyReason::CookiesUsedUp);
                    return None;
                };
                rng.fill_bytes(&mut self.nts_uid);
                let mut nonce = [0u8; 16];
                let n = jar.keys().aead.nonce_len().min(nonce.len());
                rng.fill_bytes(&mut nonce[..n]);
                match client_request(&header, &self.nts_uid, &cookie, placeholders, jar.keys(), &nonce[..n]) {
                    Ok(packet) => packet,
                    Err(_) => {
                        self.need_keys(RekeyReason::BadSession);
                        return None;
                    }
                }
            }
        };
        self.poller.transmitted(now, origin);
        Some(Transmit { payload, origin })
    }

    /// The request with transmit field `origin` actually left at `t1` (a
    /// kernel transmit timestamp, or in interleaved mode the server's
    /// report of it): T1 of that exchange becomes `t1`. Returns false when
    /// that request is no longer outstanding.
    pub fn handle_transmit_timestamp(&mut self, origin: NtpTimestamp, t1: NtpTimestamp) -> bool {
        self.poller.set_transmit_time(origin, t1)
    }

    /// A datagram from the server, received at local time `t4` (the kernel
    /// timestamp), handled at `now`. Its outcome is an [`Event`].
    pub fn handle_datagram(&mut self, bytes: &[u8], t4: NtpTimestamp, now: NtpTimestamp) {
        if let Err(reason) = self.authenticate(bytes) {
            self.poller.count_reject(reason);
            self.events.push_back(Event::Rejected(reason));
            return;
        }
        let precision = self.poller.config().local_precision;
        if let Some(b) = self.broadcast.as_mut().filter(|_| BroadcastClient::is_broadcast(bytes)) {
            match b.handle_broadcast(bytes, t4, precision) {
                Ok(Some(sample)) => self.events.push_back(Event::Sample(sample)),
                Ok(None) => {}
                Err(reason) => {
                    self.poller.count_reject(reason);
                    self.events.push_back(Event::Rejected(reason));
                }
            }
            return;
        }
        let event = match self.poller.handle_response(bytes, t4, now) {
            Ok(sample) => {
                let reach = self.poller.reach();
                if let Some(b) = &mut self.broadcast {
                    b.calibrated_by(sample.delay, now, reach);
                }
                Event::Sample(sample)
            }
            // Later datagrams are rejected as Demobilised: this happens once.
            Err(Reject::Kiss(code @ (KissCode::Deny | KissCode::Restricted))) => Event::Demobilised(code),
            Err(reason) => Event::Rejected(reason),
        };
        self.events.push_back(event);
    }

    /// Checks the MAC or NTS fields of a reply; NTS replies refill the jar.
    fn authenticate(&mut self, bytes: &[u8]) -> Result<(), Reject> {
        match &mut self.auth {
            ClientAuth::None => Ok(()),
            ClientAuth::Mac(key) => {
                let key = &*key;
                if check_packet_mac(bytes, |id| (id == key.id()).then_some(key)).is_valid() {
                    Ok(())
                } else {
                    Err(Reject::Unauthenticated)
                }
            }
            ClientAuth::Nts(jar) => match client_verify_reply(bytes, &self.nts_uid, jar.keys()) {
                Ok(cookies) => {
                    jar.add(cookies);
                    Ok(())
                }
                Err(e) => {
                    if e == NtsError::ReceivedNak {
                        self.need_keys(RekeyReason::Nak);
                    }
                    Err(Reject::Nts(e))
                }
            },
        }
    }

    fn need_keys(&mut self, why: RekeyReason) {
        if !self.awaiting_keys {
            self.awaiting_keys = true;
            self.events.push_back(Event::KeyExchangeNeeded(why));
        }
    }

    /// A fresh NTS session from a key exchange: polling resumes. Ignored
    /// by an association that does not use NTS.
    pub fn set_nts_session(&mut self, keys: SessionKeys, cookies: Vec<Vec<u8>>) {
        if let ClientAuth::Nts(jar) = &mut self.auth {
            *jar = CookieJar::new(keys, cookies);
            self.awaiting_keys = false;
        }
    }

    /// True while no request can be sent until a key exchange succeeds.
    pub fn awaiting_keys(&self) -> bool {
        self.awaiting_keys
    }

    /// The local clock was stepped by `offset_s`: every stored local time
    /// (schedule, T1, filter) moves with it.
    pub fn clock_stepped(&mut self, offset_s: f64) {
        self.poller.clock_stepped(offset_s);
        if let Some(b) = &mut self.broadcast {
            b.clock_stepped(offset_s);
        }
    }

    /// The engine's poll advice (see `ntp_sync::Engine::on_sample`).
    pub fn advise_poll(&mut self, desired: i8) {
        self.poller.advise_poll(desired);
    }

    /// The next thing to act on, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True when requests carry a MAC or NTS.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.auth, ClientAuth::None)
    }

    /// The reachability register.
    pub fn reach(&self) -> Reach {
        match self.following() {
            Some(b) => b.reach(),
            None => self.poller.reach(),
        }
    }

    /// The current poll exponent (log2 s); a broadcast client's is the
    /// broadcast interval the server announces.
    pub fn poll(&self) -> i8 {
        match self.following() {
            Some(b) => b.poll(),
            None => self.poller.poll(),
        }
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> SourceStatus {
        let mut s = self.poller.status();
        if let Some(b) = self.following() {
            s.reach = b.reach();
            s.poll = b.poll();
            s.filter = b.filter().stats();
            s.last_sample = b.last_sample().or(s.last_sample);
            s.accepted += b.accepted();
        }
        s
    }

    /// The clock filter's stages (for debugging displays).
    pub fn filter(&self) -> &crate::source::ClockFilter {
        self.poller.filter()
    }

    /// The local time the outstanding request left (T1), if one is.
    pub fn transmit_time(&self) -> Option<NtpTimestamp> {
        self.poller.transmit_time()
    }
}

#[cfg(test)]
mod tests;
