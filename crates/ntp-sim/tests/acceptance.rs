//! The accuracy targets, asserted: each acceptance scenario is simulated in
//! full (same durations and seed as `ntp-sim` uses by default) and its mean
//! RMS error must be at least as good as chrony's published clknetsim
//! figure. The simulator runs thousands of times faster than real time, so
//! this takes seconds even in a debug build.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use ntp_sim::scenario::scenario;
use ntp_sim::simulate;
use ntp_sim::stats::Summary;

fn sim(name: &str, jitter: f64, runs: usize) -> Summary {
    let sc = scenario(name, jitter, None, None).unwrap();
    let (_, s) = simulate(&sc, 1, runs);
    eprintln!("{name} {jitter:e}: {s:?}");
    s
}

#[test]
fn stable_100us_beats_chrony_109us() {
    let s = sim("stable", 100e-6, 10);
    assert!(s.rms_mean_us <= 109.0, "{s:?}");
    assert_eq!(s.falseticker_selected, 0);
}

#[test]
fn stable_10us_beats_chrony_35us() {
    let s = sim("stable", 10e-6, 10);
    assert!(s.rms_mean_us <= 35.0, "{s:?}");
}

#[test]
fn stable_1ms_beats_chrony_475us() {
    let s = sim("stable", 1e-3, 10);
    assert!(s.rms_mean_us <= 475.0, "{s:?}");
}

#[test]
fn wander_100us_beats_chrony_56us() {
    let s = sim("wander", 100e-6, 10);
    assert!(s.rms_mean_us <= 56.0, "{s:?}");
}

#[test]
fn wander_10us_beats_chrony_14us() {
    let s = sim("wander", 10e-6, 10);
    assert!(s.rms_mean_us <= 14.0, "{s:?}");
}

#[test]
fn intermittent_100us_beats_chrony_9528us() {
    let s = sim("intermittent", 100e-6, 10);
    assert!(s.rms_mean_us <= 9528.0, "{s:?}");
}

#[test]
fn falseticker_is_never_selected() {
    let s = sim("falseticker", 100e-6, 10);
    assert_eq!(s.falseticker_selected, 0, "{s:?}");
    // And the three good servers keep the clock as good as one does.
    assert!(s.rms_mean_us <= 109.0, "{s:?}");
    assert!(s.max_abs_us < 1000.0, "{s:?}");
}

#[test]
fn startup_synchronises_within_60s_with_iburst() {
    let s = sim("startup", 100e-6, 10);
    assert!(s.sync_time_s <= 60.0, "{s:?}");
    assert!(s.max_abs_us < 1000.0, "after 60 s the error stays below 1 ms: {s:?}");
}

#[test]
fn runs_are_deterministic_for_a_seed() {
    let sc = scenario("falseticker", 100e-6, Some(20_000.0), None).unwrap();
    let (a, _) = simulate(&sc, 42, 2);
    let (b, _) = simulate(&sc, 42, 2);
    let (c, _) = simulate(&sc, 43, 2);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// No published target: a lossy, asymmetric path must keep the client
/// synchronised, and its error must show the physics — an asymmetry of
/// 200 µs is invisible to NTP and biases the offset by half of it, so the
/// RMS error cannot drop below ~100 µs (a simulator that ignored the
/// asymmetry would pass the upper bound but fail the lower one).
///
/// Loss-aware polling keeps every run within 1 ms: with a fixed interval
/// one run strayed to 1.25 ms during a long run of losses at 1024 s (mean
/// RMS was 128 µs then; the bound below is that figure). The back-off after
/// four misses starts from the shortened interval: seeds 1–5 give worst
/// runs of 996, 322, 715, 452, 456 µs (from 1024 s they gave 777, 1370,
/// 1280, 1025, 572).
#[test]
fn lossy_asymmetric_path_stays_synchronised_with_the_expected_bias() {
    let s = sim("lossy", 100e-6, 10);
    assert!((90.0..=128.0).contains(&s.rms_mean_us), "{s:?}");
    assert!(s.max_abs_us < 1000.0, "the worst run stays within 1 ms: {s:?}");
    assert_eq!(s.falseticker_selected, 0);
}

/// A leap second at a month's end, inserted (the client knows it from a
/// leap second table) or deleted (it knows only the server's leap
/// indicator): the client's clock applies it at its instant, exactly once,
/// and keeps UTC as well as in the `stable` scenario a day before and after
/// it — without the leap applied the error would be a whole second.
#[test]
fn leap_seconds_at_a_month_end_are_applied_once_and_keep_utc() {
    for name in ["leap-insert", "leap-delete"] {
        let sc = scenario(name, 100e-6, None, None).unwrap();
        let (runs, s) = simulate(&sc, 1, 10);
        eprintln!("{name}: {s:?}");
        assert!(
            runs.iter().all(|r| r.leaps == 1),
            "{name}: leaps applied {:?}",
            runs.iter().map(|r| r.leaps).collect::<Vec<_>>()
        );
        assert!(runs.iter().all(|r| r.steps == 1), "{name}: only the start-up step, the leap is not a step");
        assert!(s.rms_mean_us <= 109.0, "{name}: {s:?}");
        assert!(s.max_abs_us < 1000.0, "{name}: {s:?}");
    }
}

/// chrony's refclock simulation (test/simulation/106-refclock) gates a
/// refclock with 100 µs normal jitter at RMS <= 300 µs, max <= 1 ms,
/// synchronised within 70 s.
#[test]
fn gps_pps_with_100us_pulse_jitter_passes_chronys_refclock_gate() {
    let s = sim("gps-pps", 100e-6, 10);
    assert!(s.rms_mean_us <= 300.0 && s.max_abs_us <= 1000.0, "{s:?}");
    assert!(s.sync_time_s <= 70.0, "{s:?}");
}

#[test]
fn gps_pps_with_1us_pulse_jitter_is_pulse_limited() {
    let s = sim("gps-pps", 1e-6, 10);
    assert!(s.rms_mean_us <= 1.0 && s.max_abs_us <= 10.0, "{s:?}");
}

#[test]
fn gps_nmea_alone_with_1ms_jitter_passes_chronys_refclock_gate() {
    let s = sim("gps-nmea", 1e-3, 10);
    assert!(s.rms_mean_us <= 300.0 && s.max_abs_us <= 2000.0, "{s:?}");
}

/// The quiet-LAN scenario of issue 23 (50 ms and 10 ppm off, 25 µs each
/// way, polled every second): with T1 from the kernel's transmit timestamp,
/// as the daemon takes it, there is no bias; with T1 read when the poll came
/// due (the daemon before the fix), the 20 µs between that read and the wire
/// shows as a +10 µs bias, the figure the side-by-side benchmark measured.
#[test]
fn quiet_lan_has_no_timestamping_bias_with_kernel_transmit_timestamps() {
    use ntp_sim::timestamping::T1Source;
    let base = scenario("quiet", 0.0, None, None).unwrap();
    let (_, kernel) = simulate(&base, 1, 3);
    assert!(kernel.mean_error_us.abs() <= 0.5 && kernel.rms_mean_us <= 1.0, "{kernel:?}");
    let poll = ntp_sim::scenario::Scenario { timestamping: base.timestamping.with_t1(T1Source::Poll), ..base.clone() };
    let (_, old) = simulate(&poll, 1, 3);
    let half_lead = poll.timestamping.send_latency / 2.0 * 1e6;
    assert!((old.mean_error_us - half_lead).abs() <= 1.0, "{old:?}");
    let send = ntp_sim::scenario::Scenario { timestamping: base.timestamping.with_t1(T1Source::BeforeSend), ..base };
    let (_, fallback) = simulate(&send, 1, 3);
    assert!(
        fallback.mean_error_us > kernel.mean_error_us && fallback.mean_error_us < old.mean_error_us,
        "{fallback:?}"
    );
}

/// With 100 µs and 1 ms jitter each way on a 1 s poll the filter must
/// average over hundreds of samples: the oscillator wanders only 0.1 ppb/s.
/// Before issue 23's fix the wander estimate, driven by squared residuals
/// that a slightly mis-scaled noise model kept a few percent above 1, rose
/// to its ceiling and the filter followed the noise: 8.2 µs RMS at 100 µs
/// and 51.9 µs at 1 ms (then 2.2 and 19; with the channel fit about 1.6
/// and 8.6; with its posterior mean 1.1 and 7.1).
#[test]
fn quiet_lan_with_jitter_averages_over_many_samples() {
    let s = sim("quiet", 100e-6, 3);
    assert!(s.rms_mean_us <= 2.0 && s.mean_error_us.abs() <= 1.0, "{s:?}");
    let s = sim("quiet", 1e-3, 3);
    assert!(s.rms_mean_us <= 12.0 && s.mean_error_us.abs() <= 5.0, "{s:?}");
}

/// Issue 23's benchmark window: 100 s after the start (upstream 50 ms and
/// 10 ppm off), 150 s measured. chronyd measured 4.9–6.1 and 52–56 µs RMS
/// there with 100 µs and 1 ms of jitter; the target is half of that, in
/// every run. Before the slew fix and the channel fit the engine gave 4.5
/// and 56 µs: the first slew overshot by 2.6 ms (a frequency applied per
/// second of the reference, counted per second of the steered clock), and
/// the Kalman filter alone, weighting samples by a variance, needs far more
/// samples than the four minutes to average 1 ms of jitter down. Then 1.91
/// µs at 100 µs over 40 runs, 10 of them above 2.5 µs: the channel fit took
/// the widest channel's line, whose newest end is twice as far off as its
/// middle, claimed a variance from a jackknife that was often far too
/// large or small, was averaged with the less precise Kalman filter by
/// inverse variance, and was cut to a window a wander it could follow
/// would not need. Its posterior mean, the squared weights and the longer
/// window give 1.36, 4 runs above 2.5 µs.
#[test]
fn quiet_lan_first_minutes_beat_half_of_chronyd() {
    let window = |jitter: f64, runs: usize| {
        let sc = scenario("quiet", jitter, Some(250.0), Some(100.0)).unwrap();
        let (results, s) = simulate(&sc, 1, runs);
        eprintln!("quiet {jitter:e}, 100 + 150 s: {s:?}");
        let above = |limit: f64| results.iter().filter(|r| r.rms > limit).count();
        (s, above(2.5e-6))
    };
    let (s, above) = window(100e-6, 40);
    assert!(s.rms_mean_us <= 1.6 && above <= 6, "{above} of 40 runs above 2.5 µs: {s:?}");
    let (s, _) = window(1e-3, 10);
    assert!(s.rms_mean_us <= 25.0, "{s:?}");
}

/// A server that writes each reply's predicted departure from an average
/// send latency (simple-ntpd's batched sends and the accuracy benchmark's
/// reference did, with a median) is right on average but scatters 1 µs around it; a reply stamped late looks
/// quicker and measures the offset high. Taking the quickest exchanges as
/// the best (the channel fit's extremes, variances grown from the minimum
/// delay) made that a bias of +0.68 µs (RMS 0.71); with the delays' shape
/// telling noise from queueing (`ntp_sync::estimate::edge`) the reference
/// is the centre of the scatter.
#[test]
fn quiet_lan_with_predicted_transmit_timestamps_has_no_bias() {
    let s = sim("quiet-predicted-transmit", 0.0, 3);
    assert!(s.mean_error_us.abs() <= 0.2 && s.rms_mean_us <= 0.3, "{s:?}");
}
