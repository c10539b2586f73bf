#!/usr/bin/env bash
# Runs every test of simple-ntpd, as CI does: installs the real NTP peers the
# interoperability tests talk to (idempotent), checks formatting and lints,
# then runs the whole workspace's tests with missing peers counted as failures,
# then every suite in scripts/suites/ (deployment artefacts, real servers in
# network namespaces, containers): each installs what it needs itself.
#
#   NTPD_TEST_SUITES="containers kubernetes"  run only these suites (names
#                                               without .sh; default: all)
#   NTPD_TEST_SKIP_CARGO=1              only the suites (for development)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
# A minimal rustup profile lacks rustfmt and clippy; add them when missing.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
        rustup component add "$component"
    fi
done
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# Tests never steer the real clock; this interlock makes any attempt fail.
export NTPD_TEST_READ_ONLY_CLOCK=1
if [ "${NTPD_TEST_SKIP_CARGO:-0}" != 1 ]; then
    NTPD_TEST_REQUIRE_PEERS=1 cargo test --workspace --locked
fi

SUITE_LOGS=target/suite-logs
mkdir -p "$SUITE_LOGS"
for suite in scripts/suites/*.sh; do
    [ -e "$suite" ] || continue
    name=$(basename "$suite" .sh)
    if [ -n "${NTPD_TEST_SUITES:-}" ] && [[ " $NTPD_TEST_SUITES " != *" $name "* ]]; then
        continue
    fi
    echo "== suite $name"
    start=$SECONDS
    log=$SUITE_LOGS/$name.log
    # Not a pipe into tee: a process a suite leaves behind would hold the
    # pipe open and stall the run; tee in a process substitution cannot.
    if ! bash "$suite" > >(tee "$log") 2>&1; then
        sleep 1 # let tee write the last lines
        # A failing suite dumps its daemons' logs on the way out, which can
        # push the reason out of a CI log's visible tail: repeat it last.
        echo "== suite $name FAILED after $((SECONDS - start)) s; its errors (whole output: $log):"
        grep -a 'ERROR' "$log" | tail -n 20 || echo "(no line says ERROR; see the end of $log)"
        exit 1
    fi
    echo "== suite $name passed in $((SECONDS - start)) s"
done
