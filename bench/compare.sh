#!/usr/bin/env bash
# bench/compare.sh — simple-ntpd against chronyd, one server core each, on loopback.
#
# Builds the release binaries, then for ROUNDS rounds starts each server in turn
# (order alternates per round) pinned to SERVER_CPU with `taskset`, reads its idle
# RSS, and drives it with ntp-bench pinned to BENCH_CPU: a closed loop with
# IN_FLIGHT requests in flight, an open loop at RATE requests/s, and optionally an
# open-loop rate sweep (SWEEP). Prints the medians per server, the ratio
# simple-ntpd / chronyd and the single-core targets, and writes the same as JSON
# to target/bench/compare-<timestamp>.json (raw per-run reports next to it in
# target/bench/compare-<timestamp>/). Only the servers it started are stopped.
#
# Environment (defaults):
#   ROUNDS=5 DURATION=10 WARMUP=1      rounds; measured and warm-up seconds per run
#   IN_FLIGHT=64 RATE=250000           closed-loop depth; open-loop rate
#   SWEEP=""                           extra open-loop rates, e.g. "150000 200000 300000"
#   SWEEP_DURATION=3                   measured seconds per sweep rate
#   SOURCES=1                          client source addresses (127.1.x.y) per run
#   SERVER_CPU=0 BENCH_CPU=1           cores for the server (a taskset list is fine:
#                                      0-3) and for the generator (one core)
#   WORKERS=1                          simple-ntpd [performance] worker_threads (for
#                                      scaling runs also raise SOURCES: SO_REUSEPORT
#                                      spreads clients by address/port hash)
#   SERVERS="simple-ntpd chronyd"      which servers to run; simple-ntpd-per-reply is
#                                      simple-ntpd with batch_send = false (every reply
#                                      stamped and sent on its own), beside the default
#   SKIP_BUILD=0                       1: use existing binaries
#   SIMPLE_NTPD=target/release/simple-ntpd  NTP_BENCH=target/release/ntp-bench
#   CHRONYD=/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd
#   OUT_DIR=target/bench
#   NTS=0                              1: NTS mode instead of the open-loop runs (below)
#   KE_COUNT=200                       NTS mode: sequential NTS-KE handshakes per round
# Default runtime: about 4 minutes plus the build.
# Server CPU per reply of the closed loop (utime + stime of the server process
# over the run, warm-up included, divided by replies/s × (DURATION + WARMUP))
# is printed per run and saved as NAME.rROUND.closed.cpu_us_per_reply.
# Interleaved-mode accuracy beside chronyd: bench/interleaved.sh.
#
# NTS=1: makes a throw-away CA and a server certificate for 127.0.0.1 (openssl),
# starts each server with NTS enabled (simple-ntpd [security.nts]; chronyd
# ntsserverkey/ntsservercert/ntsport/ntsdumpdir), and per round and server runs
# a plain closed loop ("closed"), an NTS closed loop ("nts-closed": ntp-bench
# --nts-ke, one NTS-KE session per source socket) and --ke-only KE_COUNT
# ("ke"); SOURCES defaults to 8 (8 sessions). Prints the NTS / plain ratio per
# server and the handshakes/s (bench/nts_summary.py); no open-loop runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
IN_FLIGHT=${IN_FLIGHT:-64}
RATE=${RATE:-250000}
SWEEP=${SWEEP:-}
SWEEP_DURATION=${SWEEP_DURATION:-3}
NTS=${NTS:-0}
KE_COUNT=${KE_COUNT:-200}
if [ "$NTS" = 1 ]; then SOURCES=${SOURCES:-8}; else SOURCES=${SOURCES:-1}; fi
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
WORKERS=${WORKERS:-1}
SERVERS=${SERVERS:-"simple-ntpd chronyd"}
SKIP_BUILD=${SKIP_BUILD:-0}
# Extra TOML appended to simple-ntpd's configuration (e.g. access rules and
# rate limiting, to measure what they cost).
BENCH_EXTRA_TOML=${BENCH_EXTRA_TOML:-}
SIMPLE_NTPD=${SIMPLE_NTPD:-$ROOT/target/release/simple-ntpd}
NTP_BENCH=${NTP_BENCH:-$ROOT/target/release/ntp-bench}
CHRONYD=${CHRONYD:-/opt/simple-ntpd-peers/chrony/usr/sbin/chronyd}
OUT_DIR=${OUT_DIR:-$ROOT/target/bench}

say() { echo "compare: $*" >&2; }
die() {
    echo "compare: ERROR: $*" >&2
    exit 1
}

# ---- processes we started, and cleanup -------------------------------------
TMP=$(mktemp -d /tmp/ntp-compare.XXXXXX)
SERVER_PID=""
stop_server() {
    local pid=$SERVER_PID
    SERVER_PID=""
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build and peers ---------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
    say "building release binaries"
    cargo build --release -p simple-ntpd -p ntp-bench >&2
fi
[ -x "$NTP_BENCH" ] || die "$NTP_BENCH missing (build it or set NTP_BENCH)"
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
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
command -v python3 >/dev/null || die "python3 is needed for the summary"
[[ $BENCH_CPU =~ ^[0-9]+$ ]] || die "BENCH_CPU must be one CPU number (ntp-bench is single-threaded)"
if [[ $SERVER_CPU =~ ^[0-9]+$ ]]; then # a list such as 0-3 is passed to taskset as is
    [ "$(nproc)" -gt "$(( SERVER_CPU > BENCH_CPU ? SERVER_CPU : BENCH_CPU ))" ] || die "needs CPUs $SERVER_CPU and $BENCH_CPU"
    [ "$SERVER_CPU" != "$BENCH_CPU" ] || say "WARNING: server and generator share CPU $BENCH_CPU"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN_DIR="$OUT_DIR/compare-$STAMP"
mkdir -p "$RUN_DIR"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- helpers -----------------------------------------------------------------
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

# Waits until the server answers synchronised (leap != 3, stratum != 0).
wait_ready() {
    local port=$1 name=$2 out
    for _ in $(seq 60); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/$name.log" >&2; die "$name exited at start"; }
        out=$("$NTP_BENCH" --server "127.0.0.1:$port" --in-flight 1 --warmup 0 --duration 0.1 \
            --timeout-ms 50 --json 2>/dev/null | tail -1 || true)
        if [[ $out == *'"matched":'[1-9]* && $out == *'"unsynchronised":0,'* ]]; then
            return 0
        fi
        sleep 0.25
    done
    tail -20 "$TMP/$name.log" >&2
    die "$name on port $port not answering synchronised after 15 s"
}

# NTS mode: a CA and a certificate for 127.0.0.1 signed by it (P-256), once.
make_nts_certs() {
    command -v openssl >/dev/null || die "NTS=1 needs the openssl command"
    local d=$TMP/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=ntp-bench test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1 ||
        die "openssl: CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || die "openssl: server key"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/ext.cnf" -out "$d/server.crt" >/dev/null 2>&1 || die "openssl: server certificate"
    cat "$d/server.crt" "$d/ca.pem" >"$d/chain.pem"
}

# NTS mode: waits until the NTS-KE port completes a handshake.
wait_ke_ready() {
    local ke_port=$1 name=$2
    for _ in $(seq 40); do
        "$NTP_BENCH" --nts-ke "127.0.0.1:$ke_port" --ca "$TMP/pki/ca.pem" --ke-only 1 >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    "$NTP_BENCH" --nts-ke "127.0.0.1:$ke_port" --ca "$TMP/pki/ca.pem" --ke-only 1 >&2 || true
    tail -20 "$TMP/$name.log" >&2
    die "$name: NTS-KE on port $ke_port not answering"
}

start_simple_ntpd() {
    local port=$1 performance_toml=${2:-} nts_toml=""
    if [ "$NTS" = 1 ]; then
        rm -rf "$TMP/simple-ntpd-keys" && mkdir -p "$TMP/simple-ntpd-keys"
        nts_toml="[security.nts]
enabled = true
ke_listen = \"127.0.0.1:$KE_PORT\"
certificate_chain = \"$TMP/pki/chain.pem\"
private_key = \"$TMP/pki/server.key\"
key_directory = \"$TMP/simple-ntpd-keys\""
    fi
    cat >"$TMP/simple-ntpd.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $port

[ntp_server]
stratum = 2
upstream_servers = []

[performance]
worker_threads = $WORKERS
$performance_toml

[logging]
level = "WARN"

$nts_toml

$BENCH_EXTRA_TOML
EOF
    taskset -c "$SERVER_CPU" "$SIMPLE_NTPD" run -c "$TMP/simple-ntpd.toml" >"$TMP/simple-ntpd.log" 2>&1 &
    SERVER_PID=$!
}

start_chronyd() {
    local port=$1 user_args=(-u root)
    [ "$(id -u)" -eq 0 ] || user_args=(-U -u "$(id -un)")
    rm -rf "$TMP/chronyd" && mkdir -p "$TMP/chronyd"
    cat >"$TMP/chronyd.conf" <<EOF
pidfile $TMP/chronyd/chronyd.pid
driftfile $TMP/chronyd/chronyd.drift
cmdport 0
bindcmdaddress /
port $port
bindaddress 127.0.0.1
local stratum 2
allow 127.0.0.0/8
EOF
    if [ "$NTS" = 1 ]; then
        mkdir -p "$TMP/chronyd/nts"
        cat >>"$TMP/chronyd.conf" <<EOF
ntsserverkey $TMP/pki/server.key
ntsservercert $TMP/pki/chain.pem
ntsport $KE_PORT
ntsdumpdir $TMP/chronyd/nts
EOF
    fi
    taskset -c "$SERVER_CPU" "$CHRONYD" -x -d "${user_args[@]}" -4 -f "$TMP/chronyd.conf" >"$TMP/chronyd.log" 2>&1 &
    SERVER_PID=$!
}

# bench NAME ROUND KIND ARGS...: one ntp-bench run, its JSON saved as NAME.rROUND.KIND.json.
bench() {
    local name=$1 round=$2 kind=$3 port=$4
    shift 4
    local file="$RUN_DIR/$name.r$round.$kind.json"
    "$NTP_BENCH" --server "127.0.0.1:$port" --pin-cpu "$BENCH_CPU" --sources "$SOURCES" --json "$@" \
        >"$TMP/bench.out" 2>&1 || { cat "$TMP/bench.out" >&2; die "ntp-bench failed ($name $kind)"; }
    tail -1 "$TMP/bench.out" >"$file"
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/$name.log" >&2; die "$name died during $kind"; }
    if [ "$kind" = ke ]; then
        head -1 "$TMP/bench.out" >&2
    else
        python3 "$ROOT/bench/summarize.py" --brief "$file" >&2
        grep -a '^  NTS ' "$TMP/bench.out" >&2 || true
    fi
}

# utime + stime of the running server, clock ticks (all its threads).
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"
}

# cpu_per_reply NAME ROUND TICKS_BEFORE: server CPU µs per reply of the closed loop just run.
cpu_per_reply() {
    local name=$1 round=$2 before=$3 after
    after=$(cpu_ticks)
    python3 - "$RUN_DIR/$name.r$round.closed.json" "$((after - before))" "$(getconf CLK_TCK)" \
        "$(python3 -c "print($DURATION + $WARMUP)")" >"$RUN_DIR/$name.r$round.closed.cpu_us_per_reply" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ticks, hz, seconds = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rate = report.get("reply_rate") or 0
print(f"{ticks / hz * 1e6 / (rate * seconds):.2f}" if rate else "nan")
PY
    say "  $name server CPU per reply: $(cat "$RUN_DIR/$name.r$round.closed.cpu_us_per_reply") µs"
}

KE_PORT=""
if [ "$NTS" = 1 ]; then
    make_nts_certs
fi

# ---- the rounds ----------------------------------------------------------------
read -r -a server_list <<<"$SERVERS"
if [ "$NTS" = 1 ]; then
    runs_desc="closed loop $IN_FLIGHT in flight, plain and NTS, and $KE_COUNT NTS-KE handshakes,"
else
    runs_desc="closed loop $IN_FLIGHT in flight and open loop $RATE/s${SWEEP:+, sweep $SWEEP},"
fi
say "$ROUNDS round(s): $runs_desc" \
    "${DURATION}s each (+${WARMUP}s warm-up), $SOURCES source(s); server on CPU $SERVER_CPU, generator on CPU $BENCH_CPU"
say "load average before: $LOAD_BEFORE"
for round in $(seq "$ROUNDS"); do
    order=("${server_list[@]}")
    if [ $(( round % 2 )) -eq 0 ]; then
        mapfile -t order < <(printf '%s\n' "${server_list[@]}" | tac)
    fi
    for name in "${order[@]}"; do
        port=$(free_port)
        KE_PORT=$(free_port)
        say "round $round/$ROUNDS: $name on 127.0.0.1:$port$([ "$NTS" = 1 ] && echo " (NTS-KE on TCP $KE_PORT)")"
        case "$name" in
            simple-ntpd) start_simple_ntpd "$port" ;;
            simple-ntpd-per-reply) start_simple_ntpd "$port" "batch_send = false" ;;
            chronyd) start_chronyd "$port" ;;
            *) die "unknown server $name (SERVERS may list simple-ntpd, simple-ntpd-per-reply and chronyd)" ;;
        esac
        wait_ready "$port" "$name"
        [ "$NTS" != 1 ] || wait_ke_ready "$KE_PORT" "$name"
        sleep 0.5
        awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" >"$RUN_DIR/$name.r$round.rss_kb"
        ticks_before=$(cpu_ticks)
        bench "$name" "$round" closed "$port" --in-flight "$IN_FLIGHT" --duration "$DURATION" --warmup "$WARMUP"
        cpu_per_reply "$name" "$round" "$ticks_before"
        if [ "$NTS" = 1 ]; then
            nts_args=(--nts-ke "127.0.0.1:$KE_PORT" --ca "$TMP/pki/ca.pem")
            bench "$name" "$round" nts-closed "$port" --in-flight "$IN_FLIGHT" --duration "$DURATION" \
                --warmup "$WARMUP" "${nts_args[@]}"
            bench "$name" "$round" ke "$port" "${nts_args[@]}" --ke-only "$KE_COUNT"
            stop_server
            continue
        fi
        bench "$name" "$round" "open-$RATE" "$port" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP"
        for rate in $SWEEP; do
            bench "$name" "$round" "sweep-$rate" "$port" --rate "$rate" --duration "$SWEEP_DURATION" --warmup 0.5
        done
        stop_server
    done
done

# ---- summary ---------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
SIMPLE_VERSION=$("$SIMPLE_NTPD" version 2>/dev/null | head -1 || true)
CHRONY_VERSION=$("$CHRONYD" -v 2>/dev/null | head -1 || true)
python3 "$ROOT/bench/summarize.py" "$RUN_DIR" \
    --json-out "$OUT_DIR/compare-$STAMP.json" \
    --setting rounds="$ROUNDS" --setting duration_s="$DURATION" --setting warmup_s="$WARMUP" \
    --setting in_flight="$IN_FLIGHT" --setting rate="$RATE" --setting sweep="$SWEEP" \
    --setting sources="$SOURCES" --setting server_cpu="$SERVER_CPU" --setting bench_cpu="$BENCH_CPU" \
    --setting simple_ntpd_workers="$WORKERS" \
    --machine loadavg_before="$LOAD_BEFORE" --machine loadavg_after="$LOAD_AFTER" \
    --machine cpus="$(nproc)" --machine kernel="$(uname -r)" \
    --machine cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --machine simple_ntpd="$SIMPLE_VERSION" --machine chronyd="$CHRONY_VERSION"
if [ "$NTS" = 1 ]; then
    python3 "$ROOT/bench/nts_summary.py" "$RUN_DIR" --json-out "$OUT_DIR/compare-$STAMP.nts.json" \
        --machine loadavg_before="$LOAD_BEFORE" --machine loadavg_after="$LOAD_AFTER"
fi
