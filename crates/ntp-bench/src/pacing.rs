//! How many requests may be sent now: a fixed number in flight (closed loop)
//! or a fixed schedule (open loop), and how long the loop may sleep.

/// The load model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Keep this many requests in flight: send one when one is answered or times out.
    Closed {
        /// Requests in flight.
        in_flight: u64,
    },
    /// Send at this many requests per second whatever the replies do.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// Open loop: the schedule may run this far ahead of the sends before the
/// excess is dropped (counted), so a stalled generator does not burst later.
const MAX_LAG_NS: f64 = 1_000_000.0;

/// Open loop: requests due are sent once this much schedule has accumulated,
/// so one `sendmmsg` carries several requests at high rates (a 12-request
/// burst every 48 µs at 250k/s) instead of one system call per request.
const BURST_NS: f64 = 50_000.0;

/// Send budget bookkeeping for one run.
#[derive(Clone, Debug)]
pub struct Pacer {
    load: Load,
    start_ns: i64,
    /// Requests sent or skipped since `start_ns` (open loop).
    issued: u64,
}

impl Pacer {
    /// A pacer whose schedule starts at `start_ns`.
    pub fn new(load: Load, start_ns: i64) -> Pacer {
        Pacer { load, start_ns, issued: 0 }
    }

    /// Requests that may be sent now, and how many scheduled ones were skipped
    /// because the generator lagged more than 1 ms (open loop only).
    pub fn budget(&mut self, now_ns: i64, outstanding: u64) -> (u64, u64) {
        match self.load {
            Load::Closed { in_flight } => (in_flight.saturating_sub(outstanding), 0),
            Load::Open { rate } => {
                let due = self.due(now_ns, rate);
                let lag_limit = (rate * MAX_LAG_NS / 1e9).max(1.0) as u64;
                let behind = due.saturating_sub(self.issued);
                let skipped = behind.saturating_sub(lag_limit);
                self.issued += skipped;
                let burst = (rate * BURST_NS / 1e9).clamp(1.0, 32.0) as u64;
                let ready = behind - skipped;
                (if ready >= burst { ready } else { 0 }, skipped)
            }
        }
    }

    /// Records that `n` requests went out.
    pub fn sent(&mut self, n: u64) {
        self.issued += n;
    }

    /// Milliseconds the loop may block waiting for replies before it must send
    /// again: 0 when a send is due within a millisecond, else 1 (the epoll
    /// resolution; replies wake it earlier).
    pub fn wait_ms(&self, now_ns: i64, outstanding: u64) -> i32 {
        match self.load {
            Load::Closed { in_flight } => i32::from(outstanding >= in_flight),
            Load::Open { rate } => {
                let next_ns = self.start_ns as f64 + (self.issued + 1) as f64 * 1e9 / rate;
                i32::from(next_ns - now_ns as f64 > MAX_LAG_NS)
            }
        }
    }

    fn due(&self, now_ns: i64, rate: f64) -> u64 {
        let elapsed = (now_ns - self.start_ns).max(0) as f64;
        (elapsed * rate / 1e9) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_loop_fills_free_lanes() {
        let mut p = Pacer::new(Load::Closed { in_flight: 64 }, 0);
        assert_eq!(p.budget(0, 0), (64, 0));
        assert_eq!(p.budget(5, 60), (4, 0));
        assert_eq!(p.budget(5, 64), (0, 0));
        assert_eq!(p.wait_ms(5, 64), 1);
        assert_eq!(p.wait_ms(5, 63), 0);
    }

    #[test]
    fn open_loop_follows_the_schedule() {
        let mut p = Pacer::new(Load::Open { rate: 1000.0 }, 0);
        assert_eq!(p.budget(0, 0), (0, 0));
        assert_eq!(p.budget(500_000, 0), (0, 0), "first request due at 1 ms");
        assert_eq!(p.budget(1_000_000, 0), (1, 0));
        p.sent(1);
        assert_eq!(p.budget(1_500_000, 99), (0, 0), "replies do not matter");
        assert_eq!(p.wait_ms(1_500_000, 0), 0, "next one due within a millisecond");
        assert_eq!(p.wait_ms(0, 0), 1);
    }

    #[test]
    fn open_loop_sends_in_bursts_of_50_us_at_high_rates() {
        let mut p = Pacer::new(Load::Open { rate: 200_000.0 }, 0);
        assert_eq!(p.budget(45_000, 0), (0, 0), "9 due, burst is 10");
        assert_eq!(p.budget(50_000, 0), (10, 0));
    }

    #[test]
    fn open_loop_drops_schedule_beyond_one_ms_of_lag() {
        let mut p = Pacer::new(Load::Open { rate: 100_000.0 }, 0);
        // 10 ms elapsed with nothing sent: 1000 due, 100 allowed (1 ms worth).
        assert_eq!(p.budget(10_000_000, 0), (100, 900));
        p.sent(100);
        assert_eq!(p.budget(10_000_000, 0), (0, 0));
        assert_eq!(p.budget(10_050_000, 0), (5, 0));
    }
}
