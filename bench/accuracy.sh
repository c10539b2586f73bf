#!/usr/bin/env bash
# bench/accuracy.sh — how accurately simple-ntpd and chronyd serve the time of
# one upstream they both follow, side by side, in the same run, on loopback.
#
# Per case: a reference upstream (`ntp-accuracy upstream`) serves the host clock
# + OFFSET, running DRIFT ppm fast, behind a simulated network (exponential
# JITTER each way, a constant ASYMMETRY: reply path minus request path).
# simple-ntpd (`[clock] discipline = "virtual"`) and `chronyd -x` (which serves
# its corrected time without touching the clock) both poll it every second
# (minpoll = maxpoll = 0). After SETTLE seconds, `ntp-accuracy probe` asks
# each of them (and the upstream itself, as the probe's calibration) for the
# time every second for DURATION seconds, with kernel transmit and receive
# timestamps, and reports served time − reference time: mean, sd and RMS in µs,
# over every exchange and without those that stalled on the way (round trip
# over twice the server's median + 10 µs: the error is then half the stall,
# whatever the server's clock); the table and the targets use the latter.
# Nothing steers the system clock (simple-ntpd: virtual clock; chronyd: -x).
#
# Environment (defaults):
#   CASES="OFFSET:DRIFT:JITTER:ASYMMETRY ..."  the matrix (default: offset 0.05 s;
#         drift 0, 10, 100 ppm × jitter 0, 100 µs, 1 ms, asymmetry 0; plus
#         10 ppm with a 100 µs asymmetry and no jitter)
#   QUICK=1          three cases (quiet, quiet + 10 ppm, 100 µs + 10 ppm),
#                    SETTLE=40 DURATION=40: about 5 minutes
#   SETTLE=100 DURATION=150 INTERVAL=1   seconds before / of measurement, probe interval
#   SERVERS="simple-ntpd chronyd"        which daemons to run (also
#                    simple-ntpd-per-reply: `batch_send = false`, every reply
#                    stamped by a clock read right before its own send)
#   SEED=1           jitter seed (the same for every case)
#   SKIP_BUILD=0     1: use existing binaries
#   SIMPLE_NTPD=target/release/simple-ntpd  NTP_ACCURACY=target/release/ntp-accuracy
#   BASELINE=        path of another simple-ntpd binary (e.g. built from main):
#                    it runs as "baseline" next to the others in every case,
#                    following the same upstream, so before/after is one run
#   CHRONYD=/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd
#   OUT_DIR=target/bench   KEEP_LOGS=0 (1: keep daemon logs and chronyd's
#                    measurements/tracking logs next to the results)
# Output: a table per run (bench/accuracy_summary.py), and
# target/bench/accuracy-<timestamp>/ with one JSON report and one CSV series per case.
# Default runtime: 10 cases × (SETTLE + DURATION + ~5 s) ≈ 43 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    CASES=${CASES:-"0.05:0:0:0 0.05:10:0:0 0.05:10:100e-6:0"}
    SETTLE=${SETTLE:-40}
    DURATION=${DURATION:-40}
else
    DEFAULT_CASES=""
    for drift in 0 10 100; do
        for jitter in 0 100e-6 1e-3; do
            DEFAULT_CASES+="0.05:$drift:$jitter:0 "
        done
    done
    DEFAULT_CASES+="0.05:10:0:100e-6"
    CASES=${CASES:-$DEFAULT_CASES}
    SETTLE=${SETTLE:-100}
    DURATION=${DURATION:-150}
fi
INTERVAL=${INTERVAL:-1}
SERVERS=${SERVERS:-"simple-ntpd chronyd"}
SEED=${SEED:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_LOGS=${KEEP_LOGS:-0}
SIMPLE_NTPD=${SIMPLE_NTPD:-$ROOT/target/release/simple-ntpd}
BASELINE=${BASELINE:-}
NTP_ACCURACY=${NTP_ACCURACY:-$ROOT/target/release/ntp-accuracy}
CHRONYD=${CHRONYD:-/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd}
OUT_DIR=${OUT_DIR:-$ROOT/target/bench}

say() { echo "accuracy: $*" >&2; }
die() {
    echo "accuracy: ERROR: $*" >&2
    exit 1
}

# ---- processes we started, and cleanup -------------------------------------
TMP=$(mktemp -d /tmp/ntp-accuracy.XXXXXX)
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    stop_all
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build and peers ---------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
    say "building release binaries"
    cargo build --release -p simple-ntpd -p ntp-bench >&2
fi
[ -x "$NTP_ACCURACY" ] || die "$NTP_ACCURACY missing (build it or set NTP_ACCURACY)"
if [ -n "$BASELINE" ]; then
    [ -x "$BASELINE" ] || die "BASELINE=$BASELINE is not an executable"
    case " $SERVERS " in *" baseline "*) ;; *) SERVERS="$SERVERS baseline" ;; esac
fi
case " $SERVERS " in *" simple-ntpd "* | *" simple-ntpd-per-reply "*) [ -x "$SIMPLE_NTPD" ] || die "$SIMPLE_NTPD missing" ;; esac
case " $SERVERS " in
    *" chronyd "*)
        if [ ! -x "$CHRONYD" ]; then
            say "chronyd missing: running scripts/install-test-deps.sh"
            bash scripts/install-test-deps.sh >&2
        fi
        [ -x "$CHRONYD" ] || die "$CHRONYD still missing"
        ;;
esac
command -v python3 >/dev/null || die "python3 is needed for the summary"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN_DIR="$OUT_DIR/accuracy-$STAMP"
mkdir -p "$RUN_DIR"

port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
        /proc/net/udp /proc/net/udp6
}
free_port() {
    local p
    for _ in $(seq 100); do
        p=$(( 20000 + RANDOM % 40000 ))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free UDP port found"
}

start_simple_ntpd() {
    local port=$1 upstream=$2 dir=$3 name=${4:-simple-ntpd} binary=${5:-$SIMPLE_NTPD} batch_send=${6:-true}
    cat >"$dir/$name.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $port

[clock]
discipline = "virtual"

[[sources.servers]]
address = "127.0.0.1:$upstream"
iburst = true
minpoll = 0
maxpoll = 0

[performance]
worker_threads = 1
batch_send = $batch_send

[monitoring]
enabled = false

[logging]
level = "INFO"
EOF
    NTPD_TEST_READ_ONLY_CLOCK=1 "$binary" run -c "$dir/$name.toml" >"$dir/$name.log" 2>&1 &
    PIDS+=($!)
}

start_chronyd() {
    local port=$1 upstream=$2 dir=$3 user_args=(-u root)
    [ "$(id -u)" -eq 0 ] || user_args=(-U -u "$(id -un)")
    mkdir -p "$dir/chronyd"
    cat >"$dir/chronyd.conf" <<EOF
pidfile $dir/chronyd/chronyd.pid
driftfile $dir/chronyd/chronyd.drift
cmdport 0
bindcmdaddress /
port $port
bindaddress 127.0.0.1
server 127.0.0.1 port $upstream minpoll 0 maxpoll 0 iburst
makestep 1 3
allow 127.0.0.0/8
logdir $dir/chronyd
log measurements tracking
EOF
    "$CHRONYD" -x -d "${user_args[@]}" -4 -f "$dir/chronyd.conf" >"$dir/chronyd.log" 2>&1 &
    PIDS+=($!)
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "cases: $CASES; settle ${SETTLE} s, measure ${DURATION} s each; load average $LOAD_BEFORE"
n=0
for case in $CASES; do
    IFS=: read -r offset drift jitter asym <<<"$case"
    [ -n "$asym" ] || die "case '$case' is not OFFSET:DRIFT:JITTER:ASYMMETRY"
    n=$((n + 1))
    name=$(printf 'case%02d' "$n")
    dir=$TMP/$name
    mkdir -p "$dir"
    epoch=$(date +%s%N)
    up=$(free_port)
    ts_args=(--epoch-ns "$epoch" --offset "$offset" --drift-ppm "$drift")
    "$NTP_ACCURACY" upstream --listen "127.0.0.1:$up" "${ts_args[@]}" --jitter "$jitter" --asymmetry "$asym" \
        --seed "$SEED" --duration $((SETTLE + DURATION + 30)) >"$dir/upstream.json" 2>"$dir/upstream.log" &
    PIDS+=($!)
    targets=(--target "reference=127.0.0.1:$up")
    for s in $SERVERS; do
        p=$(free_port)
        while [ "$p" = "$up" ]; do p=$(free_port); done
        case $s in
            simple-ntpd) start_simple_ntpd "$p" "$up" "$dir" ;;
            simple-ntpd-per-reply) start_simple_ntpd "$p" "$up" "$dir" simple-ntpd-per-reply "$SIMPLE_NTPD" false ;;
            chronyd) start_chronyd "$p" "$up" "$dir" ;;
            baseline) start_simple_ntpd "$p" "$up" "$dir" baseline "$BASELINE" ;;
            *) die "unknown server $s" ;;
        esac
        targets+=(--target "$s=127.0.0.1:$p")
    done
    say "$name: offset $offset s, drift $drift ppm, jitter $jitter s, asymmetry $asym s: settling ${SETTLE} s"
    sleep "$SETTLE"
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { tail -5 "$dir"/*.log >&2; die "$name: a process exited early"; }
    done
    "$NTP_ACCURACY" probe "${targets[@]}" "${ts_args[@]}" --interval "$INTERVAL" --duration "$DURATION" \
        --json --series "$RUN_DIR/$name.csv" >"$dir/probe.out" || { cat "$dir/probe.out" >&2; die "probe failed"; }
    head -n -1 "$dir/probe.out" >&2
    python3 - "$RUN_DIR/$name.json" "$dir/probe.out" "$offset" "$drift" "$jitter" "$asym" \
        "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, sys
out, probe, offset, drift, jitter, asym, load = sys.argv[1:]
reports = json.loads(open(probe).read().strip().splitlines()[-1])
case = {"offset_s": float(offset), "drift_ppm": float(drift), "jitter_s": float(jitter),
        "asymmetry_s": float(asym), "load_after": load, "servers": reports}
json.dump(case, open(out, "w"), indent=1)
EOF
    stop_all
    if [ "$KEEP_LOGS" = 1 ]; then
        mkdir -p "$RUN_DIR/$name-logs" && cp -r "$dir"/. "$RUN_DIR/$name-logs/"
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$ROOT/bench/accuracy_summary.py" --load "$LOAD_BEFORE / $LOAD_AFTER" "$RUN_DIR"
say "results in $RUN_DIR"
