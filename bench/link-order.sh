#!/usr/bin/env bash
# Regenerates deploy/link-order/simple-ntpd.syms, the functions the running
# daemon executes, which deploy/build-static.sh places together in the static
# binary so that the code a running daemon keeps resident is a few adjacent
# pages instead of most of the 5 MB (docs/performance.md, footprint).
#
#   bash bench/link-order.sh [--idle SECONDS]
#
# Builds the static binary and ntp-bench, profiles the daemon under
# valgrind's callgrind (bench/link_order.py: idle with 4 sources and NTS-KE,
# basic and NTS requests, load, the API, a reload) and writes the list. Run it
# after larger changes to the serving path, the sync loop or the API: the
# static build prints how many of the listed names it still finds. Needs
# valgrind and openssl; takes about four minutes; never touches the clock.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "link-order: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "link-order: openssl is needed" >&2; exit 1; }
bin=$(bash deploy/build-static.sh)
cargo build --release --locked -q -p ntp-bench
exec python3 bench/link_order.py --binary "$bin" --ntp-bench target/release/ntp-bench \
    --out deploy/link-order/simple-ntpd.syms "$@"
