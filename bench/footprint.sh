#!/usr/bin/env bash
# bench/footprint.sh — memory footprint of simple-ntpd, chronyd and ntpd-rs, side by side.
#
# Builds simple-ntpd and ntp-bench (release), installs ntpd-rs once into
# target/peers/ntpd-rs (`cargo install ntpd`, a few minutes the first time), then
# runs bench/footprint.py: for each scenario (idle with the default configuration;
# 4 loopback upstream sources; NTS-KE server on; after RATE requests/s for two
# periods of LOAD_SECONDS) and each daemon it reports RSS, PSS and anonymous memory
# (/proc/PID/smaps_rollup), threads, start-up time to the first reply, and the
# binaries' sizes. Medians over ROUNDS rounds (order alternates); JSON goes to
# target/bench/footprint-<timestamp>.json.
#
# No daemon steers the real clock: chronyd -x, simple-ntpd with
# NTPD_TEST_READ_ONLY_CLOCK=1, ntpd-rs without CAP_SYS_TIME and never enough
# agreeing sources to steer.
#
# Environment (defaults):
#   ROUNDS=3 SETTLE=5                 rounds; seconds between first reply and reading memory
#   SCENARIOS="idle sources4 nts load"
#   DAEMONS="simple-ntpd chronyd ntpd-rs"
#   RATE=50000 LOAD_SECONDS=60        load scenario: open-loop rate and period length
#   SIMPLE_WORKERS=0                  simple-ntpd [performance] worker_threads (0: default)
#   SKIP_BUILD=0                      1: use the existing binaries
#   SIMPLE_NTPD=target/release/simple-ntpd NTP_BENCH=target/release/ntp-bench
#   EXTRA_DAEMONS=""                  more NAME=BINARY pairs, e.g. the static build
#                                     "simple-ntpd-static=target/static-out/simple-ntpd"
#                                     or a baseline "simple-ntpd-before=/path/to/old/simple-ntpd"
#   CHRONYD=/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd
#   NTPD_RS=target/peers/ntpd-rs/bin/ntp-daemon
# Default runtime: about 10 minutes (the load scenario takes 2 × LOAD_SECONDS per daemon and round).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SIMPLE_NTPD=${SIMPLE_NTPD:-$ROOT/target/release/simple-ntpd}
NTP_BENCH=${NTP_BENCH:-$ROOT/target/release/ntp-bench}
CHRONYD=${CHRONYD:-/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd}
NTPD_RS=${NTPD_RS:-$ROOT/target/peers/ntpd-rs/bin/ntp-daemon}
OUT_DIR=${OUT_DIR:-$ROOT/target/bench}
die() {
    echo "footprint: ERROR: $*" >&2
    exit 1
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p simple-ntpd -p ntp-bench >&2
    if [ ! -x "$NTPD_RS" ]; then
        echo "footprint: installing ntpd-rs (cargo install ntpd) into target/peers/ntpd-rs" >&2
        cargo install ntpd --locked --root "$ROOT/target/peers/ntpd-rs" >&2
    fi
fi
[ -x "$CHRONYD" ] || bash scripts/install-test-deps.sh >&2
[ -x "$NTP_BENCH" ] || die "$NTP_BENCH missing"
command -v capsh >/dev/null || [ "$(id -u)" -ne 0 ] || die "capsh (libcap2-bin) is needed to run ntpd-rs without CAP_SYS_TIME"
command -v openssl >/dev/null || die "openssl is needed for the NTS scenario"

mkdir -p "$OUT_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
read -r -a scenarios <<<"${SCENARIOS:-idle sources4 nts load}"
daemon_args=()
for d in ${DAEMONS:-simple-ntpd chronyd ntpd-rs}; do
    case "$d" in
        simple-ntpd) bin=$SIMPLE_NTPD ;;
        chronyd) bin=$CHRONYD ;;
        ntpd-rs) bin=$NTPD_RS ;;
        *) die "unknown daemon $d (DAEMONS lists simple-ntpd, chronyd, ntpd-rs; EXTRA_DAEMONS adds others)" ;;
    esac
    [ -x "$bin" ] || die "$bin missing"
    daemon_args+=(--daemon "$d=$bin")
done
for d in ${EXTRA_DAEMONS:-}; do
    [ -x "${d#*=}" ] || die "${d#*=} missing"
    daemon_args+=(--daemon "$d")
done
# A binary written moments ago has dirty page-cache pages, which the kernel
# cannot hand back (program_pages.rs) until they are written out: flush them,
# so every daemon starts as an installed binary would.
for a in "${daemon_args[@]}"; do
    [ "$a" = --daemon ] || sync "${a#*=}"
done
exec python3 "$ROOT/bench/footprint.py" \
    "${daemon_args[@]}" --ntp-bench "$NTP_BENCH" --scenarios "${scenarios[@]}" \
    --rounds "${ROUNDS:-3}" --settle "${SETTLE:-5}" --rate "${RATE:-50000}" \
    --load-seconds "${LOAD_SECONDS:-60}" --simple-workers "${SIMPLE_WORKERS:-0}" \
    --json-out "$OUT_DIR/footprint-$STAMP.json"
