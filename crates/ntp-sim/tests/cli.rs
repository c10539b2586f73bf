//! The `ntp-sim` command line: the documented invocation prints a summary
//! whose last line is one JSON object with the promised keys; bad
//! arguments exit 2 with a message.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::process::Command;

fn ntp_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ntp-sim")).args(args).output().expect("ntp-sim runs")
}

#[test]
fn json_summary_is_the_last_line() {
    let out = ntp_sim(&["--scenario", "stable", "--jitter", "100e-6", "--runs", "2", "--json", "--duration", "20000"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with('{') && last.ends_with('}'), "{last}");
    for key in ["rms_mean_us", "rms_sd_us", "max_abs_us", "sync_time_s", "falseticker_selected"] {
        assert!(last.contains(&format!("\"{key}\":")), "{key} missing from {last}");
    }
    assert!(text.contains("mean RMS error"), "{text}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--scenario", "nope"][..], &["--runs", "3"][..], &["--scenario", "stable", "--jitter", "x"][..]] {
        let out = ntp_sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
