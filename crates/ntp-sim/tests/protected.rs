//! MAC and NTS clients in the simulator: the same association and server
//! decision as the daemon, with protection on. A MAC changes nothing about
//! timing or randomness, so its runs equal the plain ones exactly; NTS draws
//! its unique ids and nonces from the run's generator, so its runs differ
//! but must keep time as well, with every reply authenticated.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use ntp_sim::credentials::AuthMode;
use ntp_sim::run::run;
use ntp_sim::scenario::{scenario, Scenario};

fn with(auth: AuthMode, name: &str) -> Scenario {
    Scenario { auth, ..scenario(name, 100e-6, Some(20_000.0), None).unwrap() }
}

#[test]
fn mac_runs_equal_plain_runs() {
    for name in ["stable", "lossy"] {
        for i in 0..2 {
            assert_eq!(run(&with(AuthMode::Mac, name), 1, i), run(&with(AuthMode::None, name), 1, i), "{name} {i}");
        }
    }
}

#[test]
fn nts_keeps_time_and_every_reply_is_a_sample() {
    let r = run(&with(AuthMode::Nts, "stable"), 1, 0);
    assert!(r.rms < 100e-6, "{r:?}");
    assert!(r.sync_time < 200.0, "{r:?}");
    // No loss in this scenario: every request's reply authenticated and
    // became a sample (the first few may be refused by the engine's start).
    assert!(r.samples + 5 >= r.requests, "{r:?}");
    // With 30 % loss each way the cookie jar runs low and is refilled.
    let lossy = run(&with(AuthMode::Nts, "lossy"), 1, 0);
    assert!(lossy.rms < 300e-6, "{lossy:?}");
}
