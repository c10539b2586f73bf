//! The event queue of one run: events ordered by true time, ties broken by
//! insertion order so runs are deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ntp_proto::NtpTimestamp;

/// Something that happens at a true time.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Source `src`'s association timer: a poll or a response deadline
    /// may be due (stale unless `gen` is current).
    Timer {
        /// Source index.
        src: usize,
        /// Schedule generation.
        gen: u64,
    },
    /// Source `src`'s client reads its clock right before `send()`: T1
    /// when there is no kernel transmit timestamp.
    StampBeforeSend {
        /// Source index.
        src: usize,
        /// The request's transmit cookie.
        origin: NtpTimestamp,
    },
    /// Source `src`'s request reaches the wire (its kernel transmit
    /// timestamp) and starts towards the server.
    RequestLeaves {
        /// Source index.
        src: usize,
        /// The datagram.
        packet: Vec<u8>,
        /// Its transmit cookie.
        origin: NtpTimestamp,
    },
    /// A request reaches server `src`.
    ServerRx {
        /// Server index.
        src: usize,
        /// The datagram.
        packet: Vec<u8>,
    },
    /// A reply from server `src` reaches the client.
    ClientRx {
        /// Server index.
        src: usize,
        /// The datagram.
        packet: Vec<u8>,
    },
    /// The sync loop handles a reply from server `src` that arrived (kernel
    /// receive timestamp) at local time `t4`.
    ReplyHandled {
        /// Server index.
        src: usize,
        /// The datagram.
        packet: Vec<u8>,
        /// Its kernel receive timestamp.
        t4: NtpTimestamp,
    },
    /// The engine's tick (stale unless `gen` is current).
    Tick {
        /// Schedule generation.
        gen: u64,
    },
    /// The receiver's pulse for true second `second` is timestamped.
    Pulse {
        /// The true second it marks.
        second: f64,
    },
    /// The receiver's first sentence naming true second `second` arrives.
    Sentence {
        /// The true second it names.
        second: f64,
    },
    /// Source `src`'s name is looked up (chaos: lookups may fail).
    Resolve {
        /// Source index.
        src: usize,
        /// The wait before the next attempt if this one fails, s.
        backoff: f64,
    },
    /// Someone else steps the host clock by `by` seconds (chaos).
    HostStep {
        /// The step, s.
        by: f64,
    },
    /// A reference clock poll may be due (stale unless `gen` is current).
    RefclockPoll {
        /// Schedule generation.
        gen: u64,
    },
}

struct Entry {
    at: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the heap pops the earliest first.
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

/// The queue.
#[derive(Default)]
pub struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    /// Schedules `event` at true time `at`.
    pub fn push(&mut self, at: f64, event: Event) {
        self.seq += 1;
        self.heap.push(Entry { at, seq: self.seq, event });
    }

    /// The earliest event, if any.
    pub fn pop(&mut self) -> Option<(f64, Event)> {
        self.heap.pop().map(|e| (e.at, e.event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<f64> {
        self.heap.peek().map(|e| e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = Queue::default();
        q.push(2.0, Event::Tick { gen: 1 });
        q.push(1.0, Event::Tick { gen: 2 });
        q.push(1.0, Event::Tick { gen: 3 });
        assert_eq!(q.pop(), Some((1.0, Event::Tick { gen: 2 })));
        assert_eq!(q.pop(), Some((1.0, Event::Tick { gen: 3 })));
        assert_eq!(q.peek_time(), Some(2.0));
    }
}
