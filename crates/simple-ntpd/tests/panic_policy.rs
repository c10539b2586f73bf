//! The panic policy: a panic in a task of the daemon's event loop — as the
//! sync task is one — must end the process with a non-zero status, so its
//! supervisor restarts it. The child process below is this test binary run
//! again with a variable set: with the policy installed it dies at once;
//! without it (what release builds did before) tokio swallows the panic and
//! the process carries on as if healthy.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::process::Command;
use std::time::{Duration, Instant};

const CHILD: &str = "SIMPLE_NTPD_PANIC_POLICY_CHILD";

/// Not a test by itself: the child's body, run only with `CHILD` set.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD) else { return };
    if mode == "policy" {
        simple_ntpd::panic_policy::install();
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let _sync = tokio::spawn(async { panic!("the sync task failed") });
        // The daemon's loop goes on with its other work.
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    println!("still running");
    std::process::exit(0);
}

fn child(mode: &str) -> (std::process::Output, Duration) {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .output()
        .unwrap();
    (out, start.elapsed())
}

#[test]
fn a_panic_in_a_task_ends_the_process() {
    let (out, took) = child("policy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the process survived a panic: {out:?}");
    assert!(stderr.contains("the sync task failed"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("still running"));
    // It ended at the panic, not at the end of its work: that path prints
    // "still running" and exits 0. (No wall-clock bound: a loaded machine
    // can take seconds to start a process.)
    eprintln!("the process ended {took:?} after it was started");
    // Without the policy the panic is swallowed: the failure this prevents.
    let (out, _) = child("none");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("still running"), "{out:?}");
}
