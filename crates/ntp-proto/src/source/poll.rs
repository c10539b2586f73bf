//! The poll interval of one source: an exponent (log2 s) between minpoll
//! and maxpoll that follows the engine's advice one step per poll, backs off
//! while the source is unreachable, never drops below what a RATE
//! kiss-o'-death imposed, and is replaced by a burst of closely spaced
//! requests at start (`iburst`) and while the source is unreachable.
//!
//! Loss-aware: after a request went unanswered the next one follows sooner,
//! one halving of the interval per consecutive miss, down to minpoll (and
//! never below a RATE kiss's floor), so that a lossy path still delivers
//! samples at about the rate the engine asked for. The advised exponent
//! itself is unchanged: the first answer brings the interval back to it.
//! Once a source is unreachable (four misses in a row) it backs off instead,
//! one doubling per poll from the shortened interval it had reached (not
//! from the advised one: a path that loses half its packets often loses
//! four in a row, and restarting at 1024 s would leave the clock without
//! a sample for hours).

/// The smallest poll exponent accepted (1 s).
pub const MIN_POLL: i8 = 0;
/// The largest poll exponent accepted (2^17 s, about 36 h), as RFC 5905.
pub const MAX_POLL: i8 = 17;

/// Poll settings of one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollConfig {
    /// Smallest poll exponent (log2 s), 0–17; default 6 (64 s).
    pub minpoll: i8,
    /// Largest poll exponent (log2 s), minpoll–17; default 10 (1024 s).
    pub maxpoll: i8,
    /// Send a burst instead of one request at start and while unreachable.
    pub iburst: bool,
    /// Requests in a burst (default 8, as ntpd).
    pub burst_count: u8,
    /// Seconds between the requests of a burst (default 2).
    pub burst_spacing: f64,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig { minpoll: 6, maxpoll: 10, iburst: false, burst_count: 8, burst_spacing: 2.0 }
    }
}

impl PollConfig {
    /// The configuration with exponents clamped into range and
    /// maxpoll ≥ minpoll, the burst count at least 1 and a sane spacing.
    pub fn sanitised(self) -> Self {
        let minpoll = self.minpoll.clamp(MIN_POLL, MAX_POLL);
        let maxpoll = self.maxpoll.clamp(minpoll, MAX_POLL);
        let burst_spacing = if self.burst_spacing.is_finite() { self.burst_spacing.clamp(0.1, 60.0) } else { 2.0 };
        PollConfig { minpoll, maxpoll, burst_count: self.burst_count.max(1), burst_spacing, ..self }
    }
}

/// The poll state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct PollState {
    config: PollConfig,
    poll: i8,
    desired: i8,
    kod_floor: i8,
    burst_left: u8,
    backing_off: bool,
}

impl PollState {
    /// Starts at minpoll, with a burst pending if `iburst`.
    pub fn new(config: PollConfig) -> Self {
        let config = config.sanitised();
        PollState {
            config,
            poll: config.minpoll,
            desired: config.minpoll,
            kod_floor: MIN_POLL,
            burst_left: if config.iburst { config.burst_count } else { 0 },
            backing_off: false,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> PollConfig {
        self.config
    }

    /// The current poll exponent (log2 s).
    pub fn poll(&self) -> i8 {
        self.poll.max(self.kod_floor)
    }

    /// True while a burst is being sent.
    pub fn in_burst(&self) -> bool {
        self.burst_left > 0
    }

    /// The engine's advice: the poll exponent it would like. Clamped to
    /// minpoll..maxpoll; followed one step per poll.
    pub fn advise(&mut self, desired: i8) {
        self.desired = desired.clamp(self.config.minpoll, self.config.maxpoll);
    }

    /// Called when a request is sent; `unreachable` says whether the source
    /// is unreachable at this point and `missed` how many requests before
    /// this one went unanswered in a row. Returns seconds until the next
    /// request.
    pub fn on_transmit(&mut self, unreachable: bool, missed: u32) -> f64 {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            if self.burst_left > 0 {
                return self.config.burst_spacing;
            }
        } else if unreachable {
            // Back off while nobody answers, and try a burst each time:
            // from where the shortening after the misses had got to.
            if !self.backing_off {
                self.backing_off = true;
                let halvings = i8::try_from(missed).unwrap_or(i8::MAX);
                self.poll = self.poll.saturating_sub(halvings).max(self.config.minpoll);
            }
            self.poll = (self.poll + 1).min(self.config.maxpoll);
            if self.config.iburst {
                self.burst_left = self.config.burst_count.saturating_sub(1);
                if self.burst_left > 0 {
                    return self.config.burst_spacing;
                }
            }
        } else if self.desired > self.poll {
            self.poll += 1;
        } else if self.desired < self.poll {
            self.poll -= 1;
        }
        if unreachable || missed == 0 {
            return 2f64.powi(i32::from(self.poll()));
        }
        // Replies are going missing: ask again sooner, towards minpoll.
        let halvings = i8::try_from(missed).unwrap_or(i8::MAX);
        let shortened = self.poll.saturating_sub(halvings).max(self.config.minpoll).max(self.kod_floor);
        2f64.powi(i32::from(shortened))
    }

    /// A valid reply arrived; `was_unreachable` says whether the source was
    /// unreachable before it. Polling restarts at minpoll after an outage.
    pub fn on_reply(&mut self, was_unreachable: bool) {
        self.backing_off = false;
        if was_unreachable {
            self.poll = self.config.minpoll;
        }
    }

    /// A RATE kiss-o'-death: poll at least one step slower than now and no
    /// faster than the server's poll field, from now on; any burst stops.
    pub fn on_rate_kiss(&mut self, server_poll: i8) {
        let floor = (self.poll() + 1).max(server_poll).clamp(MIN_POLL, MAX_POLL);
        self.kod_floor = self.kod_floor.max(floor);
        self.burst_left = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iburst_sends_closely_spaced_requests_then_polls_at_minpoll() {
        let mut p = PollState::new(PollConfig { iburst: true, ..Default::default() });
        let gaps: Vec<f64> = (0..9).map(|_| p.on_transmit(false, 0)).collect();
        assert_eq!(&gaps[..7], &[2.0; 7]);
        assert_eq!(gaps[7], 64.0);
        assert_eq!(gaps[8], 64.0);
    }

    #[test]
    fn follows_advice_one_step_per_poll_within_bounds() {
        let mut p = PollState::new(PollConfig::default());
        p.advise(12);
        let gaps: Vec<f64> = (0..6).map(|_| p.on_transmit(false, 0)).collect();
        assert_eq!(gaps, vec![128.0, 256.0, 512.0, 1024.0, 1024.0, 1024.0]);
        p.advise(0);
        assert_eq!(p.on_transmit(false, 0), 512.0);
        let mut p = PollState::new(PollConfig { minpoll: 0, maxpoll: 0, ..Default::default() });
        p.advise(5);
        assert_eq!(p.on_transmit(false, 0), 1.0);
    }

    /// Default settings, advised up to 1024 s and stepped there.
    fn polling_at_1024_s() -> PollState {
        let mut p = PollState::new(PollConfig::default());
        p.advise(10);
        for _ in 0..4 {
            p.on_transmit(false, 0);
        }
        p
    }

    #[test]
    fn backs_off_while_unreachable_and_restarts_after() {
        let mut p = PollState::new(PollConfig::default());
        assert_eq!(p.on_transmit(true, 4), 128.0);
        assert_eq!(p.on_transmit(true, 5), 256.0);
        p.on_reply(true);
        assert_eq!(p.poll(), 6);
    }

    #[test]
    fn backing_off_starts_from_the_shortened_interval_not_the_advised_one() {
        let mut p = polling_at_1024_s();
        // Three misses: 512, 256, 128 s; the fourth makes it unreachable.
        let gaps: Vec<f64> = (1..=3).map(|m| p.on_transmit(false, m)).collect();
        assert_eq!(gaps, vec![512.0, 256.0, 128.0]);
        let gaps: Vec<f64> = (4..=8).map(|m| p.on_transmit(true, m)).collect();
        assert_eq!(gaps, vec![128.0, 256.0, 512.0, 1024.0, 1024.0]);
        p.on_reply(true);
        assert_eq!(p.poll(), 6, "restarts at minpoll");
    }

    #[test]
    fn rate_kiss_imposes_a_floor_even_above_maxpoll() {
        let mut p = PollState::new(PollConfig { iburst: true, ..Default::default() });
        p.on_transmit(false, 0);
        p.on_rate_kiss(4);
        assert!(!p.in_burst());
        assert_eq!(p.poll(), 7);
        p.on_rate_kiss(12);
        assert_eq!(p.on_transmit(false, 0), 4096.0);
        p.advise(6);
        assert_eq!(p.on_transmit(false, 0), 4096.0, "advice cannot undercut the kiss floor");
    }

    #[test]
    fn missing_replies_shorten_the_interval_towards_minpoll_until_one_arrives() {
        let mut p = polling_at_1024_s();
        assert_eq!(p.poll(), 10);
        let gaps: Vec<f64> = (1..=3).map(|missed| p.on_transmit(false, missed)).collect();
        assert_eq!(gaps, vec![512.0, 256.0, 128.0], "one halving per consecutive miss");
        assert_eq!(p.poll(), 10, "the advised exponent itself is kept");
        assert_eq!(p.on_transmit(false, 0), 1024.0, "an answer brings the interval back");
        assert_eq!(p.on_transmit(false, 9), 64.0, "never below minpoll");
        assert_eq!(p.on_transmit(true, 4), 128.0, "unreachable: back off from the shortened interval");
    }

    #[test]
    fn missing_replies_never_undercut_a_rate_kiss() {
        let mut p = PollState::new(PollConfig::default());
        p.advise(10);
        for _ in 0..4 {
            p.on_transmit(false, 0);
        }
        p.on_rate_kiss(9);
        assert_eq!(p.on_transmit(false, 3), 2f64.powi(11), "the kiss floor (poll + 1) holds");
        let mut p = PollState::new(PollConfig::default());
        p.on_rate_kiss(8);
        assert_eq!(p.on_transmit(false, 2), 256.0);
    }

    #[test]
    fn config_is_sanitised() {
        let c =
            PollConfig { minpoll: -3, maxpoll: 40, burst_count: 0, burst_spacing: f64::NAN, iburst: true }.sanitised();
        assert_eq!((c.minpoll, c.maxpoll, c.burst_count, c.burst_spacing), (0, 17, 1, 2.0));
    }
}
