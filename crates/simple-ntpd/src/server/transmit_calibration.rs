//! When does each reply of a batch really leave? The calibration behind
//! batched sends with honest transmit timestamps.
//!
//! A worker reads the clock once, stamps a chunk of replies and hands them
//! to the kernel with one `sendmmsg`. The kernel sends them one after the
//! other, so the reply at position `p` of the chunk leaves some time after
//! the clock read that grows with `p` (on loopback ≈ 3 µs per reply). Its
//! transmit timestamp is therefore written as the clock read plus the
//! *predicted* delay of its position, learnt from the kernel: now and then
//! one reply of a chunk asks for its kernel transmit timestamp, and that
//! position's delay (mean) and scatter (variance) are updated from it.
//! Only one reply per chunk is stamped: the kernel's work for a timestamp
//! (a clone queued on the error queue) would delay every later reply of the
//! chunk and make a fully stamped chunk slower than the ones predicted from
//! it. The stamped position rotates over the chunk.
//!
//! The chunk is only as long as the positions whose scatter stays within the
//! error bound: it starts at one reply (still predicted: the delay of a
//! single send is learnt too), sampling probes one position more, and a
//! position whose scatter grows past the bound shortens the chunk at once.
//! A stall (the thread preempted in the middle of a send) only ever makes a
//! reply later, never earlier, and must not become the prediction: that
//! would stamp replies in the future, after the client has received them.
//! A position's prediction is the second-quickest of its last eight samples,
//! and nothing until it has eight: a reply must not claim to leave later
//! than it does, because every NTP client (chrony's delay weighting,
//! ntpd's clock filter, our own engine) trusts its quickest exchanges most,
//! and a transmit timestamp later than the departure makes an exchange look
//! quicker *and* its offset too high. With the median of the samples, half
//! the replies claimed a later departure, the quickest by the most: a client
//! that prefers them followed the server about half the send latency's
//! spread high (≈ +0.5 µs behind the accuracy benchmark's reference, which
//! had the same flaw). The second-quickest is exact for the quick sends, early
//! for slow ones (as a busy network is), and never stamps a reply after its
//! client received it. A stall counts in the scatter as at most the bound
//! (or four standard deviations), so one stall neither misleads the
//! predictions nor shortens the chunk, while stalls in more than 1 % of a
//! position's recent samples do shorten it.
//! Pure arithmetic, no clock and no socket: the worker does the IO.

/// The longest chunk (replies per `sendmmsg`).
pub const MAX_CHUNK: usize = 32;

/// Samples kept per position.
const RECENT: usize = 8;

/// Samples a position needs before its prediction is used (until then its
/// replies are stamped with the clock read itself, early by the send).
const MIN_SAMPLES: u32 = RECENT as u32;

/// The smallest weight of a new sample (the first ones average evenly).
const MIN_GAIN: f64 = 1.0 / 32.0;

/// Once every position in use is learnt, one chunk in this many is sampled.
const SAMPLE_EVERY: u32 = 32;

/// How far past the mean an error may go, in standard deviations, and still
/// count as within the bound (about the 99.7th percentile of a normal
/// scatter).
const SPREAD_SIGMAS: f64 = 3.0;

/// A learnt position's sample counts at most this many standard deviations
/// (or the bound) away from its mean.
const CLIP_SIGMAS: f64 = 4.0;

/// Weight of one sample in a position's rate of samples off by more than
/// the bound.
const OUTLIER_GAIN: f64 = 1.0 / 128.0;

/// The largest tolerated rate of samples off by more than the bound.
const MAX_OUTLIERS: f64 = 0.01;

/// What the kernel said about one position of the chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Position {
    samples: u32,
    /// The last [`RECENT`] delays from the clock read to the kernel's
    /// transmit timestamp (s), oldest overwritten first.
    recent: [f32; RECENT],
    /// The predicted delay (s): the second-lowest of `recent`; 0 until
    /// learnt.
    delay: f64,
    /// Variance of the delays around the prediction (s²).
    variance: f64,
    /// Recent rate of samples off the prediction by more than the bound.
    outliers: f64,
}

impl Position {
    fn learn(&mut self, delay: f64, bound: f64) {
        self.recent[self.samples as usize % RECENT] = delay as f32;
        self.samples = self.samples.saturating_add(1);
        if self.samples < MIN_SAMPLES {
            return;
        }
        let mut sorted = self.recent;
        sorted.sort_unstable_by(f32::total_cmp);
        // Stalls only ever make a send later: however many of the recent
        // samples they spoilt, the prediction stays with the quick ones.
        self.delay = f64::from(sorted[1]);
        let clip = (CLIP_SIGMAS * self.variance.sqrt()).max(bound);
        let squared = |d: f64| (d - self.delay).clamp(-clip, clip).powi(2);
        if self.samples == MIN_SAMPLES {
            self.variance = sorted.iter().map(|&d| squared(f64::from(d))).sum::<f64>() / RECENT as f64;
            return;
        }
        let outlier = if (delay - self.delay).abs() > bound { 1.0 } else { 0.0 };
        self.outliers += OUTLIER_GAIN * (outlier - self.outliers);
        let gain = (1.0 / f64::from(self.samples - MIN_SAMPLES + 1)).max(MIN_GAIN);
        self.variance += gain * (squared(delay) - self.variance);
    }

    fn within(&self, bound: f64) -> bool {
        self.samples >= MIN_SAMPLES && SPREAD_SIGMAS * self.variance.sqrt() <= bound && self.outliers <= MAX_OUTLIERS
    }
}

/// How the next chunk is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Replies in it.
    pub len: usize,
    /// The position whose reply asks the kernel for its transmit timestamp,
    /// to [`TransmitCalibration::learn`] from.
    pub sample: Option<usize>,
}

/// One worker's calibration of its batched sends.
#[derive(Clone, Debug)]
pub struct TransmitCalibration {
    /// Largest tolerated scatter of a prediction (s).
    bound: f64,
    /// Longest chunk allowed (configured; ≤ [`MAX_CHUNK`]).
    limit: usize,
    positions: [Position; MAX_CHUNK],
    /// Replies per chunk now.
    chunk: usize,
    chunks_since_sample: u32,
    /// The position sampled next.
    next_sample: usize,
}

impl TransmitCalibration {
    /// Chunks of at most `limit` replies whose predicted transmit times
    /// scatter by no more than `bound` seconds.
    pub fn new(bound: f64, limit: usize) -> Self {
        TransmitCalibration {
            bound,
            limit: limit.clamp(1, MAX_CHUNK),
            positions: [Position::default(); MAX_CHUNK],
            chunk: 1,
            chunks_since_sample: 0,
            next_sample: 0,
        }
    }

    /// Replies per chunk now.
    pub fn chunk_len(&self) -> usize {
        self.chunk
    }

    /// How to send the next chunk when `queued` (≥ 1) replies wait.
    pub fn plan(&mut self, queued: usize) -> ChunkPlan {
        let probe = (self.chunk + 1).min(self.limit);
        let learning = self.positions[..probe].iter().any(|p| p.samples < MIN_SAMPLES);
        self.chunks_since_sample += 1;
        if !learning && self.chunks_since_sample < SAMPLE_EVERY {
            return ChunkPlan { len: queued.min(self.chunk), sample: None };
        }
        self.chunks_since_sample = 0;
        let len = queued.min(probe).max(1);
        // Rotate over the probed positions; a short chunk samples its last.
        let position = (self.next_sample % probe).min(len - 1);
        self.next_sample = (self.next_sample + 1) % probe;
        ChunkPlan { len, sample: Some(position) }
    }

    /// The predicted delay (s) from the clock read to the kernel's transmit
    /// timestamp of the reply at `position` of a chunk (0 until learnt: the
    /// clock read itself, early by the send).
    pub fn delay(&self, position: usize) -> f64 {
        self.positions.get(position).map_or(0.0, |p| p.delay)
    }

    /// Learns from a sampled chunk: the reply at `position` left `delay`
    /// seconds after the clock read, by the kernel's timestamp.
    pub fn learn(&mut self, position: usize, delay: f64) {
        let Some(p) = self.positions.get_mut(position) else { return };
        p.learn(delay, self.bound);
        let usable = self.positions[..self.limit].iter().take_while(|p| p.within(self.bound)).count();
        self.chunk = usable.max(1);
    }

    /// The worst predicted scatter (s, [`SPREAD_SIGMAS`] standard
    /// deviations) over the positions in use, for the metrics.
    pub fn spread(&self) -> f64 {
        self.positions[..self.chunk].iter().map(|p| SPREAD_SIGMAS * p.variance.sqrt()).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: f64 = 1e-6;

    /// A repeatable number in [−1, 1] for position `p` of chunk `k`.
    fn jitter(p: usize, k: usize) -> f64 {
        let mut x = (p as u64) << 32 ^ k as u64 ^ 0x9E37_79B9_7F4A_7C15;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Sends `chunks` chunks of up to `queued` replies, each position
    /// leaving `base + p * per_reply` after the clock read plus `noise(p, k)`.
    fn run(
        c: &mut TransmitCalibration,
        chunks: usize,
        queued: usize,
        base: f64,
        per_reply: f64,
        noise: impl Fn(usize, usize) -> f64,
    ) {
        for k in 0..chunks {
            let plan = c.plan(queued);
            assert!(plan.len >= 1 && plan.len <= queued.min(MAX_CHUNK));
            if let Some(p) = plan.sample {
                assert!(p < plan.len);
                c.learn(p, base + p as f64 * per_reply + noise(p, k));
            }
        }
    }

    #[test]
    fn a_steady_sender_earns_long_chunks_with_exact_predictions() {
        let mut c = TransmitCalibration::new(2.0 * US, 32);
        assert_eq!(c.chunk_len(), 1, "one reply per send until something is learnt");
        run(&mut c, 40_000, 32, 1.5 * US, 3.0 * US, |p, k| 0.3 * US * jitter(p, k));
        assert_eq!(c.chunk_len(), 32, "all positions within 2 µs");
        for p in [0, 5, 31] {
            // The second-quickest of eight within ±0.3 µs: at the quick
            // end of the scatter (above its middle only when seven of the
            // last eight were).
            let want = 1.5 * US + p as f64 * 3.0 * US;
            let d = c.delay(p);
            assert!(d < want + 0.1 * US && d > want - 0.3 * US, "position {p}: {d} vs {want}");
        }
        assert!(c.spread() < 1.0 * US, "{}", c.spread());
    }

    #[test]
    fn scatter_that_grows_along_the_chunk_stops_it_where_the_bound_is_crossed() {
        // Position p scatters uniformly by ±0.6 p µs; around the
        // second-quickest of eight (≈ 0.33 p below the middle) the RMS error
        // is ≈ 0.48 p µs, 3σ ≈ 1.4 p µs: within 2 µs up to p = 1.
        let mut c = TransmitCalibration::new(2.0 * US, 64);
        run(&mut c, 40_000, 64, 1.0 * US, 3.0 * US, |p, k| 0.6 * US * p as f64 * jitter(p, k));
        assert_eq!(c.chunk_len(), 2);
    }

    #[test]
    fn one_stall_changes_little_but_repeated_ones_shorten_the_chunk_until_they_stop() {
        let mut c = TransmitCalibration::new(2.0 * US, 16);
        let steady = |p: usize, k: usize| 0.2 * US * jitter(p, k);
        run(&mut c, 20_000, 16, 1.0 * US, 3.0 * US, steady);
        assert_eq!(c.chunk_len(), 16);
        let before = c.delay(4);
        // One reply at position 4 left 500 µs late (the thread was preempted).
        c.learn(4, before + 500.0 * US);
        assert_eq!(c.chunk_len(), 16, "one outlier is not a trend");
        assert!((c.delay(4) - before).abs() <= 2.0 * US / 8.0, "moved by {}", c.delay(4) - before);
        // Then it happens again and again.
        for _ in 0..3 {
            c.learn(4, before + 500.0 * US);
        }
        assert_eq!(c.chunk_len(), 4, "positions from 4 on are not trusted any more");
        run(&mut c, 100_000, 16, 1.0 * US, 3.0 * US, steady);
        assert_eq!(c.chunk_len(), 16, "quiet again");
    }

    #[test]
    fn short_batches_are_sent_whole_and_the_limit_holds() {
        let mut c = TransmitCalibration::new(2.0 * US, 8);
        run(&mut c, 1000, 3, 1.0 * US, 3.0 * US, |_, _| 0.0);
        assert_eq!(c.chunk_len(), 3, "only three positions were ever seen");
        run(&mut c, 5000, 64, 1.0 * US, 3.0 * US, |_, _| 0.0);
        assert_eq!(c.chunk_len(), 8, "the configured limit");
        assert!((0..100).all(|_| c.plan(64).len == 8));
        assert!((0..100).all(|_| c.plan(5).len == 5), "fewer queued: all of them");
    }

    #[test]
    fn a_noisy_sender_keeps_single_sends_with_their_delay_predicted() {
        let mut c = TransmitCalibration::new(2.0 * US, 32);
        run(&mut c, 20_000, 32, 10.0 * US, 3.0 * US, |p, k| 5.0 * US * jitter(p, k));
        assert_eq!(c.chunk_len(), 1);
        // Predicted within the samples' range, on the early side of their
        // median (never more than the bound above the second-quickest).
        assert!(c.delay(0) > 5.0 * US && c.delay(0) <= 10.5 * US, "{}", c.delay(0));
    }

    #[test]
    fn once_learnt_one_chunk_in_sample_every_asks_the_kernel_for_one_reply() {
        let mut c = TransmitCalibration::new(2.0 * US, 4);
        run(&mut c, 1000, 4, 1.0 * US, 3.0 * US, |_, _| 0.0);
        let plans: Vec<_> = (0..SAMPLE_EVERY as usize * 8).map(|_| c.plan(4)).collect();
        let sampled: Vec<usize> = plans.iter().filter_map(|p| p.sample).collect();
        assert_eq!(sampled.len(), 8);
        let mut seen = sampled.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2, 3], "every position in turn");
    }

    #[test]
    fn a_stall_among_the_first_samples_never_becomes_the_prediction() {
        let mut c = TransmitCalibration::new(2.0 * US, 1);
        // The very first send of a process is slow (cold caches, routes).
        c.learn(0, 50.0 * US);
        for k in 1..MIN_SAMPLES as usize - 1 {
            c.learn(0, 2.0 * US + 0.1 * US * jitter(0, k));
            assert_eq!(c.delay(0), 0.0, "nothing predicted from {k} samples");
        }
        c.learn(0, 2.0 * US);
        assert!((c.delay(0) - 2.0 * US).abs() < 0.2 * US, "{}", c.delay(0));
    }

    #[test]
    fn however_many_recent_samples_stalled_the_prediction_stays_near_the_quick_ones() {
        let mut c = TransmitCalibration::new(2.0 * US, 1);
        for k in 0..100 {
            c.learn(0, 2.0 * US + 0.1 * US * jitter(0, k));
        }
        for _ in 0..6 {
            c.learn(0, 500.0 * US);
            assert!(c.delay(0) <= 2.1 * US + 2.0 * US, "{}", c.delay(0));
        }
    }

    #[test]
    fn replies_do_not_claim_a_later_departure_than_the_quick_sends() {
        // A send takes at least 2 µs and an exponential 1 µs more on
        // average (what a cold single send on loopback looks like). The
        // median of the recent eight (≈ 2.69 µs) stamped half the replies
        // later than they left, the quickest by the most, and clients trust
        // the quickest: now at most a quarter are, and the prediction sits
        // at the quick end (≈ 2.27 µs on average).
        let mut c = TransmitCalibration::new(2.0 * US, 1);
        let (mut late, mut stamped, mut sum) = (0u32, 0u32, 0.0);
        for k in 0..2000 {
            let u = (jitter(0, k) + 1.0) / 2.0;
            let delay = 2.0 * US - (1.0 - u).max(1e-9).ln() * US;
            if k >= MIN_SAMPLES as usize {
                stamped += 1;
                sum += c.delay(0);
                late += u32::from(delay < c.delay(0));
            }
            c.learn(0, delay);
        }
        let mean = sum / f64::from(stamped);
        assert!(mean > 2.0 * US && mean < 2.4 * US, "{mean}");
        assert!(late * 4 <= stamped, "{late} of {stamped} stamped late");
    }
}
