#!/usr/bin/env bash
# Fuzzing in CI: every cargo-fuzz target of the workspace (each crate's
# fuzz/ directory: ntp-proto's parse_packet, server_reply, nts, association,
# mode6, refclock (NMEA, SOCK), keyfile; ntp-config's config) runs for a
# bounded time, starting from the committed corpus in fuzz/corpus/TARGET.
#
# - A crash, panic, timeout or out-of-memory fails the suite; libFuzzer
#   leaves the input in fuzz/artifacts/TARGET/ and prints how to reproduce
#   it (`cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...`).
# - Inputs that reach new coverage are written into fuzz/corpus/TARGET (the
#   corpus grows): the suite lists them at the end; minimise with
#   `cargo fuzz cmin -s none TARGET` and commit them.
#
# Stable Rust, no sanitizer (`-s none`): the targets are safe Rust (the
# crates forbid unsafe code), so AddressSanitizer would find nothing the
# panics and assertions do not, and CI needs no nightly toolchain. Long
# runs with AddressSanitizer on nightly: docs/fuzzing.md.
#
#   NTPD_FUZZ_SECONDS   seconds per target (default 10)
#   NTPD_FUZZ_TARGETS   only these targets (space-separated names)
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=fuzz
. scripts/lib/packages.sh

SECONDS_PER_TARGET=${NTPD_FUZZ_SECONDS:-10}
CARGO_FUZZ_VERSION=0.13.2
# libfuzzer-sys compiles libFuzzer (C++).
install_packages g++
# (No `| grep -q` under pipefail: grep quitting early can fail the producer.)
if [[ "$(cargo fuzz --version 2>/dev/null || true)" != *"$CARGO_FUZZ_VERSION"* ]]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

ROOT=$PWD
TARGET_DIR=$ROOT/target/fuzz
before=$(mktemp)
trap 'rm -f "$before"' EXIT
ls crates/*/fuzz/corpus/*/* 2>/dev/null | sort >"$before" || true

ran=0
for fuzz_dir in crates/*/fuzz; do
    crate_dir=$(dirname "$fuzz_dir")
    say "building the targets of $fuzz_dir"
    (cd "$crate_dir" && cargo fuzz build -s none --target-dir "$TARGET_DIR")
    for target in $(cd "$crate_dir" && cargo fuzz list); do
        if [ -n "${NTPD_FUZZ_TARGETS:-}" ] && [[ " $NTPD_FUZZ_TARGETS " != *" $target "* ]]; then
            continue
        fi
        say "$target: ${SECONDS_PER_TARGET} s"
        mkdir -p "$fuzz_dir/corpus/$target"
        # -timeout: an input taking 5 s is a hang (a denial of service) worth failing on.
        log=$TARGET_DIR/$target.log
        if ! (cd "$crate_dir" && cargo fuzz run -s none --target-dir "$TARGET_DIR" "$target" -- \
            -max_total_time="$SECONDS_PER_TARGET" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1) >"$log" 2>&1; then
            tail -n 80 "$log" >&2
            die "$target failed: the input is in $fuzz_dir/artifacts/$target/"
        fi
        grep -E '^(INFO: +[0-9]+ files found|#[0-9]+ +DONE|stat::number_of_executed_units)' "$log" || true
        ran=$((ran + 1))
    done
done
[ "$ran" -gt 0 ] || die "no fuzz target ran"

new=$(comm -13 "$before" <(ls crates/*/fuzz/corpus/*/* | sort) | wc -l)
say "$ran targets fuzzed for ${SECONDS_PER_TARGET} s each; $new new corpus inputs reached new coverage"
if [ "$new" -gt 0 ]; then
    say "to keep them: cargo fuzz cmin -s none TARGET in the crate, then commit fuzz/corpus/"
fi
