//! The broadcast client side of an [`Association`](super::Association)
//! (RFC 5905 mode 5): the association listens for a server's broadcasts;
//! after the first one it measures the round-trip delay with a few ordinary
//! client/server exchanges (the calibration, as ntpd does), then stops
//! polling and turns each broadcast into a sample: offset = T3 + delay/2 −
//! T4, with the calibrated delay. The reach register shifts once per
//! announced broadcast interval and is set by each broadcast, so a server
//! that falls silent becomes unreachable like a polled one.
//!
//! A broadcast is only a sample when it is plausible time (version, leap,
//! stratum, root distance, a transmit timestamp later than the last one
//! taken: an old broadcast replayed is refused). Authentication (the MAC of
//! the association's key) is checked by the association before.

use crate::packet::{Header, LeapIndicator, Mode};
use crate::source::{ClockFilter, Reach, Reject, Sample, MAX_DISPERSION, PHI};
use crate::timestamp::{NtpDuration, NtpTimestamp};

/// Calibration exchanges wanted before broadcasts are used.
pub const CALIBRATION_REPLIES: u32 = 4;

/// Calibration requests after which the association follows broadcasts
/// with what it has: the smallest delay measured, or [`DEFAULT_DELAY`].
pub const CALIBRATION_REQUESTS: u64 = 8;

/// The round trip assumed when no calibration reply came (ntpd's
/// `broadcastdelay` default, 4 ms).
pub const DEFAULT_DELAY: f64 = 0.004;

/// Where the broadcast client is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    /// No broadcast heard yet: nothing is sent.
    Listening,
    /// Polling the server to measure the delay.
    Calibrating,
    /// Taking broadcasts as samples.
    Following,
}

/// The broadcast client's state.
#[derive(Clone, Debug)]
pub struct BroadcastClient {
    phase: Phase,
    /// Calibration replies so far, and the smallest delay among them.
    replies: u32,
    delay: f64,
    filter: ClockFilter,
    reach: Reach,
    /// Announced interval, log2 s.
    poll: i8,
    next_tick: Option<NtpTimestamp>,
    last_transmit: Option<NtpTimestamp>,
    last_sample: Option<NtpTimestamp>,
    accepted: u64,
}

impl Default for BroadcastClient {
    fn default() -> Self {
        BroadcastClient {
            phase: Phase::Listening,
            replies: 0,
            delay: f64::INFINITY,
            filter: ClockFilter::new(),
            reach: Reach::new(),
            poll: 6,
            next_tick: None,
            last_transmit: None,
            last_sample: None,
            accepted: 0,
        }
    }
}

fn exp2(e: i8) -> f64 {
    2f64.powi(i32::from(e))
}

impl BroadcastClient {
    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The calibrated round-trip delay, seconds (once following).
    pub fn delay(&self) -> Option<f64> {
        (self.phase == Phase::Following).then_some(self.delay)
    }

    /// True for a mode-5 datagram.
    pub fn is_broadcast(bytes: &[u8]) -> bool {
        bytes.first().is_some_and(|b| b & 7 == Mode::Broadcast.to_bits())
    }

    /// A calibration exchange gave a sample with this delay; `reach` is the
    /// calibration's reach register (the broadcasts' carries on from it).
    pub fn calibrated_by(&mut self, delay: f64, now: NtpTimestamp, reach: Reach) {
        if self.phase != Phase::Calibrating {
            return;
        }
        self.replies += 1;
        if delay.is_finite() {
            self.delay = self.delay.min(delay);
        }
        if self.replies >= CALIBRATION_REPLIES {
            self.follow(now, reach);
        }
    }

    /// Calibration requests went unanswered long enough: follow with what
    /// was measured.
    pub fn calibration_requests_sent(&mut self, requests: u64, now: NtpTimestamp, reach: Reach) {
        if self.phase == Phase::Calibrating && requests >= CALIBRATION_REQUESTS {
            self.follow(now, reach);
        }
    }

    fn follow(&mut self, now: NtpTimestamp, reach: Reach) {
        self.reach = reach;
        if !self.delay.is_finite() {
            self.delay = DEFAULT_DELAY;
        }
        self.phase = Phase::Following;
        self.next_tick = Some(now + NtpDuration::from_seconds(exp2(self.poll)));
    }

    /// When the reach register shifts next (following only).
    pub fn next_tick(&self) -> Option<NtpTimestamp> {
        if self.phase == Phase::Following {
            self.next_tick
        } else {
            None
        }
    }

    /// Shifts the reach register for every announced interval that passed
    /// by `now` (two intervals of grace for the first).
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        while let Some(t) = self.next_tick() {
            if now.since(t).to_bits() < 0 {
                break;
            }
            self.reach.on_transmit();
            self.next_tick = Some(t + NtpDuration::from_seconds(exp2(self.poll)));
        }
    }

    /// A mode-5 datagram received at local time `t4` (already
    /// authenticated); `local_precision` is the local clock's (log2 s).
    /// Returns the sample when following, `Ok(None)` when it only started
    /// the calibration.
    pub fn handle_broadcast(
        &mut self,
        bytes: &[u8],
        t4: NtpTimestamp,
        local_precision: i8,
    ) -> Result<Option<Sample>, Reject> {
        let h = Header::decode(bytes).map_err(Reject::Parse)?;
        if h.mode != Mode::Broadcast {
            return Err(Reject::NotServerMode(h.mode));
        }
        if h.version == 0 || h.version > 4 {
            return Err(Reject::BadVersion(h.version));
        }
        if h.leap == LeapIndicator::Unknown {
            return Err(Reject::Unsynchronised);
        }
        if h.stratum == 0 || h.stratum >= 16 {
            return Err(Reject::StratumTooHigh(h.stratum));
        }
        if h.transmit_time.is_zero() {
            return Err(Reject::ZeroTimestamp);
        }
        if h.root_delay.to_seconds() / 2.0 + h.root_dispersion.to_seconds() > MAX_DISPERSION {
            return Err(Reject::ExcessiveRootDistance);
        }
        if self.last_transmit.is_some_and(|last| h.transmit_time.since(last).to_bits() <= 0) {
            // Not newer than the last broadcast taken: a duplicate or a replay.
            return Err(Reject::OriginMismatch);
        }
        self.last_transmit = Some(h.transmit_time);
        self.poll = h.poll.clamp(0, 17);
        match self.phase {
            Phase::Listening => {
                self.phase = Phase::Calibrating;
                return Ok(None);
            }
            Phase::Calibrating => return Ok(None),
            Phase::Following => {}
        }
        self.reach.on_reply();
        let delay = self.delay;
        let offset = h.transmit_time.since(t4).to_seconds() + delay / 2.0;
        let dispersion = exp2(local_precision.clamp(-32, 0)) + exp2(h.precision.clamp(-32, 0)) + PHI * delay;
        let filter = self.filter.insert(offset, delay, dispersion, t4);
        self.accepted += 1;
        self.last_sample = Some(t4);
        Ok(Some(Sample {
            offset,
            delay,
            dispersion,
            time: t4,
            leap: h.leap,
            stratum: h.stratum,
            reference_id: h.reference_id,
            reference_time: h.reference_time,
            root_delay: h.root_delay.to_seconds(),
            root_dispersion: h.root_dispersion.to_seconds(),
            precision: h.precision,
            poll: self.poll,
            filter,
            interleaved: false,
        }))
    }

    /// The local clock was stepped by `offset_s`.
    pub fn clock_stepped(&mut self, offset_s: f64) {
        if !offset_s.is_finite() {
            return;
        }
        let d = NtpDuration::from_seconds(offset_s);
        self.next_tick = self.next_tick.map(|t| t + d);
        self.last_sample = self.last_sample.map(|t| t + d);
        self.filter.clock_stepped(offset_s);
    }

    /// The reach register of the broadcasts.
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// The announced interval, log2 s.
    pub fn poll(&self) -> i8 {
        self.poll
    }

    /// The clock filter of the broadcasts.
    pub fn filter(&self) -> &ClockFilter {
        &self.filter
    }

    /// When the last broadcast sample was taken.
    pub fn last_sample(&self) -> Option<NtpTimestamp> {
        self.last_sample
    }

    /// Broadcasts taken as samples.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }
}
