//! The chaos scenarios, asserted: the real engine and associations through
//! upstreams vanishing and returning, a ten-minute blackout, failing name
//! lookups and steps of the host clock made behind their back. Ten runs of a
//! simulated day each (seconds in a debug build).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use ntp_sim::faults::{FaultResult, RESOLVE_MAX_BACKOFF};
use ntp_sim::report::worst_faults;
use ntp_sim::run::RunResult;
use ntp_sim::scenario::scenario;
use ntp_sim::simulate;
use ntp_sim::stats::Summary;

fn chaos(name: &str) -> (Vec<RunResult>, Summary, Vec<FaultResult>) {
    let sc = scenario(name, 100e-6, None, None).unwrap();
    let (runs, s) = simulate(&sc, 1, 10);
    let worst = worst_faults(&runs);
    eprintln!("{name}: {s:?}");
    for f in &worst {
        eprintln!("  {f:?}");
    }
    (runs, s, worst)
}

/// Three good servers and a falseticker 1 s off. One good server vanishes
/// for 2 h (two good ones still outvote the falseticker: the clock stays as
/// good as with all of them), later two for 1 h (one good server against
/// the falseticker: no majority, so the engine must hold over rather than
/// follow either). The falseticker is never selected, the clock stays
/// within 1 ms throughout — a clock that followed the falseticker would be
/// a second off — and nothing needs recovering.
#[test]
fn vanishing_upstreams_never_hand_the_clock_to_a_falseticker() {
    let (_, s, faults) = chaos("chaos-upstreams");
    assert_eq!(s.falseticker_selected, 0, "{s:?}");
    assert!(s.max_abs_us < 1000.0, "{s:?}");
    let (majority, holdover) = (&faults[0], &faults[1]);
    assert!(majority.max_abs_during < 300e-6, "a majority of good servers keeps the clock: {majority:?}");
    assert!(holdover.max_abs_during < 1e-3, "an hour of holdover at 1 ppb/s wander: {holdover:?}");
    assert!(faults.iter().all(|f| f.recovery == 0.0), "{faults:?}");
}

/// Every packet lost for 10 minutes, once early (polling fast) and once at
/// the longest poll: the clock holds over on its frequency estimate (far
/// inside 1 ms at 1 ppb/s wander), and the first sample after the blackout
/// comes within one poll interval (at most maxpoll, 1024 s).
#[test]
fn ten_minutes_of_total_loss_are_held_over_and_sampling_resumes_within_one_poll() {
    let (_, s, faults) = chaos("chaos-blackout");
    assert!(s.max_abs_us < 1000.0, "{s:?}");
    for f in &faults {
        assert!(f.max_abs_during < 200e-6, "holdover: {f:?}");
        assert_eq!(f.recovery, 0.0, "{f:?}");
        assert!(f.first_sample_after.is_some_and(|t| t <= 1024.0), "{f:?}");
    }
}

/// Name lookups fail for the first 20 minutes: nothing is polled, so the
/// clock is not touched; the lookups are retried with the daemon's backoff
/// (2 s doubling to 10 min), so the first sample comes at most one
/// longest backoff after the resolver returns, and the clock is synchronised
/// (within 1 ms) a few polls later. A second failure while the sources are
/// running changes nothing.
#[test]
fn failing_name_lookups_delay_the_start_by_at_most_one_backoff() {
    let (runs, _, faults) = chaos("chaos-dns");
    let start = &faults[0];
    let first = start.first_sample_after.unwrap();
    assert!(first <= RESOLVE_MAX_BACKOFF, "{start:?}");
    assert!(start.recovery <= first + 300.0, "synchronised within 5 min of the first sample: {start:?}");
    assert!(runs.iter().all(|r| r.steps >= 1), "the start-up step happened after the lookups succeeded");
    let later = &faults[1];
    assert!(later.max_abs_during < 1e-3 && later.recovery == 0.0, "{later:?}");
}

/// The host clock stepped 50 ms forward, later 50 ms back, by someone else:
/// the engine notices at its next sample and corrects the error; the clock
/// is back within 1 ms within two longest polls plus the time the 500 ppm
/// slew needs for 50 ms (100 s) — and no falseticker appears out of the
/// jump.
#[test]
fn host_clock_steps_are_corrected_within_two_polls_and_a_slew() {
    let (_, s, faults) = chaos("chaos-step");
    assert_eq!(s.falseticker_selected, 0);
    for f in &faults {
        assert!(f.recovery > 0.0, "the step was felt: {f:?}");
        assert!(f.recovery <= 2.0 * 1024.0 + 100.0, "{f:?}");
    }
}
