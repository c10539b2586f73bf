//! Interleaved mode as a client (`xleave = true`) against a busy server
//! whose replies leave ~100 µs after their transmit timestamp: the real
//! association and engine, the real server decision and interleave table.
//!
//! An interleaved sample completes the *previous* exchange, one poll old;
//! the engine has slewed the clock since then, and must not take that old
//! offset as current (it did: the loop over-corrected and oscillated).

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use ntp_sim::scenario::scenario;
use ntp_sim::simulate;
use ntp_sim::stats::Summary;

fn sim(name: &str) -> Summary {
    let sc = scenario(name, 10e-6, None, None).unwrap();
    let (_, s) = simulate(&sc, 1, 4);
    eprintln!("{name}: {s:?}");
    s
}

#[test]
fn interleaved_samples_do_not_make_the_loop_oscillate() {
    let x = sim("busy-server-xleave");
    assert!(x.interleaved_share > 0.9, "the server answers interleaved: {x:?}");
    // Oscillation shows as errors far beyond the send-path error it
    // removes (tens of µs); a stable loop stays within a few µs.
    assert!(x.rms_mean_us < 10.0, "{x:?}");
    assert!(x.max_abs_us < 50.0, "{x:?}");
}

#[test]
fn interleaved_beats_basic_against_a_busy_server() {
    let basic = sim("busy-server");
    let x = sim("busy-server-xleave");
    assert_eq!(basic.interleaved_share, 0.0, "basic mode asks for no interleaving: {basic:?}");
    // Basic mode carries the send delay (a 50 µs fixed part: ~25 µs bias).
    assert!(basic.mean_error_us.abs() > 15.0, "{basic:?}");
    assert!(x.mean_error_us.abs() < basic.mean_error_us.abs() / 4.0, "{x:?} vs {basic:?}");
    assert!(x.rms_mean_us < basic.rms_mean_us / 2.0, "{x:?} vs {basic:?}");
}
