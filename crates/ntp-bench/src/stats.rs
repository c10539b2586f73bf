//! What a run counts and measures: counters for every kind of datagram and
//! error, and the three timing distributions of matched replies.

use crate::histogram::Histogram;
use crate::ntp::{unix_ns_from_ntp, Reply};

/// Event counts of the measured part of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Requests sent during the measurement window.
    pub sent: u64,
    /// Of those, answered within the timeout (first reply only).
    pub matched: u64,
    /// Matched replies (to any request) whose kernel RX time is in the window.
    pub replies_in_window: u64,
    /// Replies to requests already given up on (after the timeout).
    pub late: u64,
    /// Second and later replies to one request.
    pub duplicate: u64,
    /// Replies whose origin timestamp is not one this run sent.
    pub unmatched: u64,
    /// Datagrams that are not NTP server replies (short, wrong mode or version).
    pub malformed: u64,
    /// Matched replies saying leap 3 or stratum 0 (unsynchronised or Kiss-o'-Death).
    pub unsynchronised: u64,
    /// Matched replies with a zero receive or transmit timestamp (not timed).
    pub zero_timestamps: u64,
    /// Datagrams without a kernel RX timestamp (a clock read after receipt used instead).
    pub no_kernel_timestamp: u64,
    /// `sendmmsg` calls that failed other than by a full buffer (e.g. ICMP port unreachable).
    pub send_errors: u64,
    /// `recvmmsg` calls that failed other than by an empty queue.
    pub recv_errors: u64,
    /// `sendmmsg` calls that sent fewer than asked (full socket buffer, or an
    /// error such as ICMP port unreachable reported part-way through a batch).
    pub send_blocked: u64,
    /// Open loop: scheduled requests dropped because the generator fell more than 1 ms behind.
    pub schedule_skipped: u64,
}

/// Counters plus the distributions, all in nanoseconds.
#[derive(Clone, Default)]
pub struct Stats {
    /// Event counts.
    pub counters: Counters,
    /// Round trip: client kernel RX time − client send time.
    pub rtt: Histogram,
    /// Server transmit-timestamp error: client kernel RX time − server T3.
    pub tx_error: Histogram,
    /// Its size, |client kernel RX time − server T3|: a timestamp written
    /// too late counts as much as one written too early.
    pub tx_abs_error: Histogram,
    /// Receive-timestamp sanity: server T2 − client send time.
    pub rx_sanity: Histogram,
    /// NTS mode: authentication and cookie counters.
    pub nts: crate::nts::NtsCounters,
}

impl Stats {
    /// Records the first reply to a measured request sent at `send_ns` and
    /// received (kernel time) at `rx_ns`. Host clock for both ends, so the
    /// server's timestamps are comparable with the client's.
    pub fn record_matched(&mut self, send_ns: i64, rx_ns: i64, reply: &Reply) {
        self.counters.matched += 1;
        self.rtt.record(rx_ns - send_ns);
        if reply.unsynchronised() {
            self.counters.unsynchronised += 1;
        }
        if reply.transmit == 0 || reply.receive == 0 {
            self.counters.zero_timestamps += 1;
            return;
        }
        let tx_error = rx_ns - unix_ns_from_ntp(reply.transmit, rx_ns);
        self.tx_error.record(tx_error);
        self.tx_abs_error.record(tx_error.abs());
        self.rx_sanity.record(unix_ns_from_ntp(reply.receive, send_ns) - send_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp::ntp_from_unix_ns;

    fn reply(t2: i64, t3: i64) -> Reply {
        Reply {
            leap: 0,
            version: 4,
            stratum: 2,
            origin: 1,
            receive: ntp_from_unix_ns(t2),
            transmit: ntp_from_unix_ns(t3),
        }
    }

    #[test]
    fn timings_from_one_reply() {
        let mut s = Stats::default();
        let send = 1_700_000_000_000_000_000;
        s.record_matched(send, send + 50_000, &reply(send + 10_000, send + 48_000));
        let near = |v: Option<i64>, want: i64| v.is_some_and(|v| (v - want).abs() <= 2);
        assert!(near(s.rtt.quantile(0.5), 50_000));
        assert!(near(s.tx_error.quantile(0.5), 2_000));
        assert!(near(s.tx_abs_error.quantile(0.5), 2_000));
        assert!(near(s.rx_sanity.quantile(0.5), 10_000));
        assert_eq!(s.counters.matched, 1);
        assert_eq!(s.counters.unsynchronised, 0);
    }

    #[test]
    fn zero_timestamps_are_counted_not_timed() {
        let mut s = Stats::default();
        let mut r = reply(0, 0);
        r.receive = 0;
        r.transmit = 0;
        r.leap = 3;
        s.record_matched(10, 20, &r);
        assert_eq!((s.counters.matched, s.counters.zero_timestamps, s.counters.unsynchronised), (1, 1, 1));
        assert_eq!(s.rtt.count(), 1);
        assert_eq!(s.tx_error.count(), 0);
    }
}
