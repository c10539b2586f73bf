#!/usr/bin/env bash
# bench/interleaved.sh — what interleaved mode (RFC 9769, chrony's `xleave`)
# buys over basic mode, simple-ntpd beside chronyd 4.3, in one run, on loopback.
#
# Phase "server": each server in turn (simple-ntpd with one worker, chronyd -x,
# both `local stratum 2`, pinned to SERVER_CPU) is polled by two chronyd -x
# clients at once, one with `xleave` and one without, every 2^POLL s, each
# writing `log measurements`. With LOAD_RATE > 0, ntp-bench (pinned to
# BENCH_CPU) loads the server open loop at that rate meanwhile: a busy send
# path is where a transmit timestamp read before the send goes wrong, and
# where the kernel's timestamp of the previous reply does not.
# Phase "client": simple-ntpd as the client (two instances, virtual clock,
# chrony-format measurements log; one with `xleave = true`) polls a chronyd
# server every second (minpoll = maxpoll = 0), same load.
# After DURATION seconds per phase and server, bench/interleaved_summary.py
# reads every measurements log: samples by mode (B basic, I interleaved),
# offset mean and standard deviation (the jitter the issue compares), the
# 99th percentile of |offset − median|, and the mean delay.
# All processes use the one host clock, which nothing steers (-x, virtual).
#
# Environment (defaults):
#   DURATION=60 POLL=-4            seconds per phase and server; chronyd clients' poll
#   LOAD_RATE=50000                ntp-bench open-loop requests/s during each phase (0: none)
#   SERVER_CPU=0 BENCH_CPU=1       cores for the server and for ntp-bench
#   SKIP_BUILD=0                   1: use existing binaries
#   SIMPLE_NTPD=target/release/simple-ntpd  NTP_BENCH=target/release/ntp-bench
#   CHRONYD=/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd
#   OUT_DIR=target/bench
# Output: a table, and target/bench/interleaved-<timestamp>/ with the logs and
# a JSON summary. Runtime: 3 × (DURATION + ~10 s), about 3.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-60}
POLL=${POLL:--4}
LOAD_RATE=${LOAD_RATE:-50000}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
SIMPLE_NTPD=${SIMPLE_NTPD:-$ROOT/target/release/simple-ntpd}
NTP_BENCH=${NTP_BENCH:-$ROOT/target/release/ntp-bench}
CHRONYD=${CHRONYD:-/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd}
OUT_DIR=${OUT_DIR:-$ROOT/target/bench}

say() { echo "interleaved: $*" >&2; }
die() {
    echo "interleaved: ERROR: $*" >&2
    exit 1
}

# ---- processes we started, and cleanup -------------------------------------
TMP=$(mktemp -d /tmp/ntp-interleaved.XXXXXX)
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
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

if [ "$SKIP_BUILD" != 1 ]; then
    say "building release binaries"
    cargo build --release -p simple-ntpd -p ntp-bench >&2
fi
[ -x "$SIMPLE_NTPD" ] || die "$SIMPLE_NTPD missing"
[ -x "$NTP_BENCH" ] || die "$NTP_BENCH missing"
if [ ! -x "$CHRONYD" ]; then
    say "chronyd missing: running scripts/install-test-deps.sh"
    bash scripts/install-test-deps.sh >&2
fi
[ -x "$CHRONYD" ] || die "$CHRONYD still missing"
command -v taskset >/dev/null || die "taskset (util-linux) is needed"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN_DIR="$OUT_DIR/interleaved-$STAMP"
mkdir -p "$RUN_DIR"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
USER_ARGS=(-u root)
[ "$(id -u)" -eq 0 ] || USER_ARGS=(-U -u "$(id -un)")

free_port() {
    python3 "$ROOT/scripts/lib/free_port.py" udp
}

# chronyd DIR CPU LINES...: a chronyd -x with its own directory and these config lines.
chronyd() {
    local dir=$1 cpu=$2
    shift 2
    mkdir -p "$dir/log"
    {
        echo "pidfile $dir/chronyd.pid"
        echo "driftfile $dir/chronyd.drift"
        echo "cmdport 0"
        echo "bindcmdaddress /"
        echo "logdir $dir/log"
        printf '%s\n' "$@"
    } >"$dir/chronyd.conf"
    taskset -c "$cpu" "$CHRONYD" -x -d "${USER_ARGS[@]}" -4 -f "$dir/chronyd.conf" >"$dir/chronyd.out" 2>&1 &
    PIDS+=($!)
}

start_simple_ntpd_server() {
    local port=$1 dir=$TMP/server-simple-ntpd
    mkdir -p "$dir"
    cat >"$dir/simple-ntpd.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $port
[ntp_server]
stratum = 2
upstream_servers = []
[performance]
worker_threads = 1
[logging]
level = "WARN"
EOF
    taskset -c "$SERVER_CPU" "$SIMPLE_NTPD" run -c "$dir/simple-ntpd.toml" >"$dir/out.log" 2>&1 &
    PIDS+=($!)
}

start_chronyd_server() {
    local port=$1
    chronyd "$TMP/server-chronyd" "$SERVER_CPU" "port $port" "bindaddress 127.0.0.1" "local stratum 2" \
        "allow 127.0.0.0/8"
}

# simple_ntpd_client NAME SERVER_PORT XLEAVE: simple-ntpd following the server, measurements log on.
simple_ntpd_client() {
    local name=$1 server_port=$2 xleave=$3 dir=$TMP/$1
    mkdir -p "$dir/stats"
    cat >"$dir/simple-ntpd.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $(free_port)
[clock]
discipline = "virtual"
[logging]
level = "WARN"
statistics_dir = "$dir/stats"
statistics = ["measurements"]
[[sources.servers]]
address = "127.0.0.1:$server_port"
iburst = true
minpoll = 0
maxpoll = 0
xleave = $xleave
EOF
    taskset -c "$BENCH_CPU" "$SIMPLE_NTPD" run -c "$dir/simple-ntpd.toml" >"$dir/out.log" 2>&1 &
    PIDS+=($!)
}

say "load average before: $LOAD_BEFORE; $DURATION s per phase, load $LOAD_RATE requests/s"
for server in simple-ntpd chronyd; do
    port=$(free_port)
    say "server phase: $server on 127.0.0.1:$port, chronyd clients with and without xleave (poll $POLL)"
    case $server in
        simple-ntpd) start_simple_ntpd_server "$port" ;;
        chronyd) start_chronyd_server "$port" ;;
    esac
    sleep 1
    for mode in xleave basic; do
        opts="iburst minpoll $POLL maxpoll $POLL"
        [ "$mode" = basic ] || opts="$opts xleave"
        chronyd "$TMP/client-$server-$mode" "$BENCH_CPU" "port 0" "log measurements" \
            "server 127.0.0.1 port $port $opts"
    done
    if [ "$LOAD_RATE" -gt 0 ]; then
        sleep 2
        "$NTP_BENCH" --server "127.0.0.1:$port" --pin-cpu "$BENCH_CPU" --rate "$LOAD_RATE" \
            --duration "$((DURATION - 4))" --warmup 0 --json >"$RUN_DIR/load-server-$server.json" 2>&1 &
        PIDS+=($!)
    fi
    sleep "$DURATION"
    stop_all
    for mode in xleave basic; do
        cp "$TMP/client-$server-$mode/log/measurements.log" "$RUN_DIR/server-$server.chronyd-$mode.measurements.log" ||
            die "no measurements from the $mode chronyd client of $server: $(tail -5 "$TMP/client-$server-$mode/chronyd.out")"
    done
done

port=$(free_port)
say "client phase: simple-ntpd with and without xleave following chronyd on 127.0.0.1:$port"
start_chronyd_server "$port"
sleep 1
simple_ntpd_client client-xleave "$port" true
simple_ntpd_client client-basic "$port" false
if [ "$LOAD_RATE" -gt 0 ]; then
    sleep 2
    "$NTP_BENCH" --server "127.0.0.1:$port" --pin-cpu "$BENCH_CPU" --rate "$LOAD_RATE" \
        --duration "$((DURATION - 4))" --warmup 0 --json >"$RUN_DIR/load-client-phase.json" 2>&1 &
    PIDS+=($!)
fi
sleep "$DURATION"
stop_all
for mode in xleave basic; do
    cp "$TMP/client-$mode/stats/measurements.log" "$RUN_DIR/server-chronyd.simple-ntpd-$mode.measurements.log" ||
        die "no measurements from simple-ntpd ($mode): $(tail -5 "$TMP/client-$mode/out.log")"
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$ROOT/bench/interleaved_summary.py" "$RUN_DIR" --json-out "$OUT_DIR/interleaved-$STAMP.json" \
    --setting duration_s="$DURATION" --setting poll="$POLL" --setting load_rate="$LOAD_RATE" \
    --machine loadavg_before="$LOAD_BEFORE" --machine loadavg_after="$LOAD_AFTER" \
    --machine kernel="$(uname -r)" --machine chronyd="$("$CHRONYD" -v 2>/dev/null | head -1 || true)"
