//! Which requests are in flight, and which request a reply answers.
//!
//! Request number `seq` carries the transmit timestamp `base + seq` (a counter
//! in the low bits of a real NTP time taken at start), so every request is
//! unique and a server echoes it back as the origin timestamp. A ring of slots
//! indexed by `seq` remembers each request's send time and state; a reply is
//! matched in O(1), and requests older than the timeout are retired in send
//! order by a cursor (amortised O(1)). Nothing allocates after construction.

use crate::ntp::NtpTimestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Answered,
    Expired,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    seq: u64,
    send_ns: i64,
    state: State,
}

/// What a reply's origin timestamp says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first reply to a request still waiting for one.
    Matched {
        /// The request's number.
        seq: u64,
        /// When it was sent (Unix ns, client clock).
        send_ns: i64,
    },
    /// A reply to a request already given up on (timed out or evicted).
    Late {
        /// The request's number.
        seq: u64,
    },
    /// A second reply to an already answered request.
    Duplicate {
        /// The request's number.
        seq: u64,
    },
    /// The origin timestamp is not one this generator sent.
    Unmatched,
}

/// The in-flight table.
pub struct Tracker {
    base: NtpTimestamp,
    slots: Vec<Slot>,
    mask: u64,
    next_seq: u64,
    cursor: u64,
    outstanding: u64,
}

impl Tracker {
    /// A table for at least `capacity` outstanding requests (rounded up to a
    /// power of two), numbering transmit timestamps from `base`.
    pub fn new(base: NtpTimestamp, capacity: usize) -> Tracker {
        let cap = capacity.max(16).next_power_of_two();
        let empty = Slot { seq: u64::MAX, send_ns: 0, state: State::Expired };
        Tracker { base, slots: vec![empty; cap], mask: cap as u64 - 1, next_seq: 0, cursor: 0, outstanding: 0 }
    }

    /// The transmit timestamp request `seq` carries.
    pub fn stamp(&self, seq: u64) -> NtpTimestamp {
        self.base.wrapping_add(seq)
    }

    /// The number the next request will get (= requests recorded so far).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Requests sent and neither answered nor given up on.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// Records that request `next_seq()` was sent at `send_ns`; returns its number.
    /// When the table is full the oldest request is given up on first.
    pub fn record_sent(&mut self, send_ns: i64) -> u64 {
        let seq = self.next_seq;
        if seq - self.cursor > self.mask {
            self.retire_oldest();
        }
        self.slots[(seq & self.mask) as usize] = Slot { seq, send_ns, state: State::Pending };
        self.next_seq += 1;
        self.outstanding += 1;
        seq
    }

    /// Classifies a reply by its origin timestamp.
    pub fn on_reply(&mut self, origin: NtpTimestamp) -> Outcome {
        let seq = origin.wrapping_sub(self.base);
        if seq >= self.next_seq {
            return Outcome::Unmatched;
        }
        let slot = &mut self.slots[(seq & self.mask) as usize];
        if slot.seq != seq {
            return Outcome::Late { seq };
        }
        match slot.state {
            State::Pending => {
                slot.state = State::Answered;
                self.outstanding -= 1;
                Outcome::Matched { seq, send_ns: slot.send_ns }
            }
            State::Answered => Outcome::Duplicate { seq },
            State::Expired => Outcome::Late { seq },
        }
    }

    /// The request number an origin timestamp stands for (it may not be one sent).
    pub fn seq_of(&self, origin: NtpTimestamp) -> u64 {
        origin.wrapping_sub(self.base)
    }

    /// Gives up on every request sent at or before `deadline_ns`; returns how many.
    pub fn expire(&mut self, deadline_ns: i64) -> u64 {
        self.expire_each(deadline_ns, |_| {})
    }

    /// [`Self::expire`], calling `f` with each request number given up on.
    pub fn expire_each(&mut self, deadline_ns: i64, mut f: impl FnMut(u64)) -> u64 {
        let mut expired = 0;
        while self.cursor < self.next_seq {
            let slot = &mut self.slots[(self.cursor & self.mask) as usize];
            if slot.state == State::Pending {
                if slot.send_ns > deadline_ns {
                    break;
                }
                slot.state = State::Expired;
                self.outstanding -= 1;
                expired += 1;
                f(self.cursor);
            }
            self.cursor += 1;
        }
        expired
    }

    fn retire_oldest(&mut self) {
        let slot = &mut self.slots[(self.cursor & self.mask) as usize];
        if slot.seq == self.cursor && slot.state == State::Pending {
            slot.state = State::Expired;
            self.outstanding -= 1;
        }
        self.cursor += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0xE000_0000_0000_0000;

    #[test]
    fn stamps_are_unique_counters() {
        let t = Tracker::new(BASE, 16);
        assert_eq!(t.stamp(0), BASE);
        assert_eq!(t.stamp(5), BASE + 5);
        assert_ne!(t.stamp(1), t.stamp(2));
    }

    #[test]
    fn match_then_duplicate() {
        let mut t = Tracker::new(BASE, 16);
        let a = t.record_sent(100);
        let b = t.record_sent(200);
        assert_eq!(t.outstanding(), 2);
        assert_eq!(t.on_reply(t.stamp(b)), Outcome::Matched { seq: b, send_ns: 200 });
        assert_eq!(t.on_reply(t.stamp(b)), Outcome::Duplicate { seq: b });
        assert_eq!(t.on_reply(t.stamp(a)), Outcome::Matched { seq: a, send_ns: 100 });
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn unknown_origins_are_unmatched() {
        let mut t = Tracker::new(BASE, 16);
        t.record_sent(1);
        assert_eq!(t.on_reply(t.stamp(1)), Outcome::Unmatched, "not sent yet");
        assert_eq!(t.on_reply(0), Outcome::Unmatched);
        assert_eq!(t.on_reply(BASE - 1), Outcome::Unmatched);
        assert_eq!(t.outstanding(), 1);
    }

    #[test]
    fn expiry_in_send_order_and_late_replies() {
        let mut t = Tracker::new(BASE, 16);
        for ns in [10, 20, 30, 40] {
            t.record_sent(ns);
        }
        assert!(matches!(t.on_reply(t.stamp(1)), Outcome::Matched { .. }));
        assert_eq!(t.expire(30), 2, "seq 0 and 2 (seq 1 was answered)");
        assert_eq!(t.outstanding(), 1);
        assert_eq!(t.on_reply(t.stamp(0)), Outcome::Late { seq: 0 });
        assert_eq!(t.on_reply(t.stamp(3)), Outcome::Matched { seq: 3, send_ns: 40 });
        assert_eq!(t.expire(1000), 0);
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn full_table_evicts_oldest() {
        let mut t = Tracker::new(BASE, 16);
        for ns in 0..16 {
            t.record_sent(ns);
        }
        assert_eq!(t.outstanding(), 16);
        t.record_sent(16); // reuses seq 0's slot
        assert_eq!(t.outstanding(), 16);
        assert_eq!(t.on_reply(t.stamp(0)), Outcome::Late { seq: 0 });
        assert_eq!(t.on_reply(t.stamp(16)), Outcome::Matched { seq: 16, send_ns: 16 });
        assert_eq!(t.on_reply(t.stamp(1)), Outcome::Matched { seq: 1, send_ns: 1 });
    }

    #[test]
    fn stamps_wrap_around_the_ntp_era() {
        let mut t = Tracker::new(u64::MAX - 1, 16);
        for _ in 0..4 {
            t.record_sent(0);
        }
        assert_eq!(t.stamp(3), 1);
        assert_eq!(t.on_reply(1), Outcome::Matched { seq: 3, send_ns: 0 });
    }
}
