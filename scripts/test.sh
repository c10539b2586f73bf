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

for suite in scripts/suites/*.sh; do
    [ -e "$suite" ] || continue
    name=$(basename "$suite" .sh)
    if [ -n "${NTPD_TEST_SUITES:-}" ] && [[ " $NTPD_TEST_SUITES " != *" $name "* ]]; then
        continue
    fi
    echo "== suite $name"
    start=$SECONDS
    bash "$suite"
    echo "== suite $name passed in $((SECONDS - start)) s"
done
