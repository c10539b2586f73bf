//! The reachability register (RFC 5905 §13): an 8-bit shift register of
//! which of the last eight requests were answered, plus how many requests
//! have been sent so far, so that "never polled yet" and "no answer to
//! anything" can be told apart.

/// Polls without an answer after which a source counts as unreachable.
pub const UNREACHABLE_AFTER: u32 = 4;

/// The reachability register of one source.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct Reach {
    bits: u8,
    sent: u32,
}

impl Reach {
    /// A register for a source never polled.
    pub const fn new() -> Self {
        Reach { bits: 0, sent: 0 }
    }

    /// A register with the given bits, as if eight requests had been sent
    /// (for tests and for restoring displayed state).
    pub const fn from_bits(bits: u8) -> Self {
        Reach { bits, sent: 8 }
    }

    /// The register as ntpq/chronyc show it (octal in their displays).
    pub const fn bits(self) -> u8 {
        self.bits
    }

    /// Requests sent so far (saturating).
    pub const fn sent(self) -> u32 {
        self.sent
    }

    /// Records a transmitted request: shifts the register left.
    pub fn on_transmit(&mut self) {
        self.bits <<= 1;
        self.sent = self.sent.saturating_add(1);
    }

    /// Records a valid reply to the latest request.
    pub fn on_reply(&mut self) {
        self.bits |= 1;
    }

    /// True when at least one of the last eight requests was answered.
    pub const fn is_reachable(self) -> bool {
        self.bits != 0
    }

    /// True when the last [`UNREACHABLE_AFTER`] requests (at least that many
    /// having been sent) all went unanswered. A source that has not been
    /// polled that often yet is neither reachable nor unreachable: pending.
    pub const fn is_unreachable(self) -> bool {
        self.sent >= UNREACHABLE_AFTER && self.bits & ((1 << UNREACHABLE_AFTER) - 1) == 0
    }

    /// Consecutive unanswered requests, counting back from the latest (0–8).
    pub const fn missed_in_a_row(self) -> u32 {
        let n = self.bits.trailing_zeros();
        if n as u64 > self.sent as u64 {
            self.sent
        } else {
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_shifts_and_records_replies() {
        let mut r = Reach::new();
        assert!(!r.is_reachable() && !r.is_unreachable());
        r.on_transmit();
        r.on_reply();
        assert_eq!(r.bits(), 1);
        for _ in 0..3 {
            r.on_transmit();
        }
        assert_eq!(r.bits(), 0b1000);
        assert!(r.is_reachable() && !r.is_unreachable());
        assert_eq!(r.missed_in_a_row(), 3);
        r.on_transmit();
        assert!(r.is_unreachable(), "four unanswered in a row");
        for _ in 0..4 {
            r.on_transmit();
        }
        assert!(!r.is_reachable());
        assert_eq!(r.missed_in_a_row(), 8);
    }

    #[test]
    fn a_new_source_is_pending_until_polled_enough() {
        let mut r = Reach::new();
        for _ in 0..UNREACHABLE_AFTER - 1 {
            r.on_transmit();
            assert!(!r.is_unreachable());
        }
        r.on_transmit();
        assert!(r.is_unreachable());
        assert_eq!(Reach::from_bits(0x80).missed_in_a_row(), 7);
    }
}
