//! The workspace's guardrails, checked on the source tree itself: every
//! crate uses the workspace lints, `unsafe` stays in the few OS-interface
//! modules, randomness comes from one place, a panic aborts release
//! builds, every source file says what it is for and stays small.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every `.rs` file under `crates/*/src` (the fuzz crate aside).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let root = workspace();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(text: &str) -> String {
    let body = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    body.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    let root = workspace();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for lint in ["missing_docs", "unsafe_code", "unsafe_op_in_unsafe_fn", "undocumented_unsafe_blocks", "unwrap_used"] {
        assert!(cargo.contains(&format!("{lint} = ")), "[workspace.lints] lacks {lint}");
    }
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let manifest = krate.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.contains("[lints]\nworkspace = true"), "{} does not use the workspace lints", manifest.display());
    }
}

#[test]
fn unsafe_code_stays_in_the_os_interface_modules() {
    let allowed = [
        "crates/simple-ntpd/src/net/udp.rs",
        "crates/simple-ntpd/src/net/batch.rs",
        "crates/simple-ntpd/src/net/tx_timestamp.rs",
        "crates/simple-ntpd/src/clock/kernel.rs",
        "crates/simple-ntpd/src/program_pages.rs",
        "crates/simple-ntpd/src/heap.rs",
        "crates/simple-ntpd/src/stack_pages.rs",
        "crates/simple-ntpd/src/zero_pages.rs",
        "crates/simple-ntpd/src/refclock/shm_segment.rs",
        "crates/simple-ntpd/src/refclock/pps_device.rs",
        "crates/ntp-bench/src/sys.rs",
    ];
    for (path, text) in sources() {
        let is_allowed = allowed.contains(&path.as_str());
        assert_eq!(
            text.contains("#![allow(unsafe_code)]"),
            is_allowed,
            "{path}: unsafe allowed where it should not be (or the reverse)"
        );
        if !is_allowed {
            assert!(!code(&text).contains("unsafe {") && !code(&text).contains("unsafe fn"), "{path} uses unsafe");
        }
    }
}

#[test]
fn randomness_comes_from_one_place() {
    for (path, text) in sources() {
        if path != "crates/simple-ntpd/src/random.rs" {
            assert!(!code(&text).contains("getrandom"), "{path} gets randomness itself: use simple_ntpd::random");
        }
    }
}

#[test]
fn a_panic_ends_release_builds() {
    let cargo = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let release = cargo.split("[profile.release]").nth(1).unwrap().split("\n[").next().unwrap();
    assert!(release.contains("panic = \"abort\""), "[profile.release] must abort on panic:{release}");
    let main = std::fs::read_to_string(workspace().join("crates/simple-ntpd/src/main.rs")).unwrap();
    assert!(main.contains("panic_policy::install()"), "main must install the panic policy");
}

#[test]
fn every_source_file_says_what_it_is_for_and_stays_small() {
    for (path, text) in sources() {
        assert!(text.starts_with("//!"), "{path} has no module doc (//!) at the top");
        let lines = text.split("\n#[cfg(test)]").next().unwrap_or(&text).lines().count();
        assert!(lines <= 600, "{path} has {lines} lines before its tests (at most ~600)");
    }
}
