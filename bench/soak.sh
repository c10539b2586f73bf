#!/usr/bin/env bash
# bench/soak.sh — long-run reliability under load and faults, on loopback.
#
#   bench/soak.sh [--duration SECONDS] [--rate REQUESTS_PER_S] [--out DIR]
#
# One simple-ntpd (the daemon under test, virtual clock, NTS server on, run
# as its unprivileged user in a private mount namespace) follows four
# upstream simple-ntpd instances on a random 127.x.y.z address:
#   steady   named `soak-steady.test` (resolved through the namespace's own
#            /etc/hosts; the resolver is a loopback address where nothing
#            listens, so nothing leaves the machine)
#   flapping stopped (SIGSTOP) for FLAP_DOWN s of every FLAP_PERIOD s
#   rate     rate-limits with kiss-o'-death: answers the daemon's 1 s polls
#            with RATE kisses
#   nts      served over NTS (throw-away CA and certificate)
# while ntp-bench (--no-spin: the machine is shared) drives the daemon at
# RATE requests/s (default 50 000) in 30 s chunks, every fourth chunk a 5 s
# burst at 3 × RATE, and the daemon is reloaded (SIGHUP) every 30 s,
# alternating two configurations (B adds a second source by name, so each
# reload restarts the sync loop and looks names up). Fault windows, one after another after the first fifth of the
# run, each a tenth of it (the NTS key directory's at least 65 s):
#   drift-full       the drift file's tmpfs (64 KiB) filled up
#   nts-keys         the NTS key directory made unreadable (chmod 000)
#   drift-readonly   the drift file's tmpfs remounted read-only
#   dns              the names removed from /etc/hosts: lookups fail
# (the drift file is written at every reload that restarts the sync loop,
# so each drift window sees several attempts).
# Every 5 s bench/soak_report.py samples RSS, open fds, threads, log lines,
# /api/v1/status and /api/v1/sources, and the served offset against the
# steady upstream (`simple-ntpd query` of both); at the end it writes
# target/soak/report.json and target/soak/chart.png (matplotlib, in a venv
# under target/) and checks the acceptance figures (exit 1 when one fails):
# RSS growth after the first 5 minutes (scaled for short runs) <= 2 MB, no
# fd or thread growth, >= 99.9 % answered, no panic, each fault logged and
# the flapping source reached again within one poll after each flap.
#
# Environment: SIMPLE_NTPD, NTP_BENCH (default: release builds, built here),
# SOAK_RATE, SOAK_BURST_FACTOR (3), FLAP_PERIOD (60), FLAP_DOWN (20),
# RELOAD_EVERY (30), SOAK_CHUNK (30).
# The CI variant is scripts/suites/soak.sh (2 minutes, a lower rate).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SAY_PREFIX=soak
. scripts/lib/packages.sh

DURATION=3600
RATE=${SOAK_RATE:-50000}
OUT=$ROOT/target/soak
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 150 ]] || die "--duration must be at least 150 seconds"
BURST_FACTOR=${SOAK_BURST_FACTOR:-3}
FLAP_PERIOD=${FLAP_PERIOD:-60}
FLAP_DOWN=${FLAP_DOWN:-20}
RELOAD_EVERY=${RELOAD_EVERY:-30}
CHUNK=${SOAK_CHUNK:-30}

install_packages openssl util-linux procps python3 python3-venv
VENV=$ROOT/target/soak-venv
ensure_venv "$VENV" matplotlib==3.9.4
PY=$VENV/bin/python
if [ -z "${SIMPLE_NTPD:-}" ] || [ -z "${NTP_BENCH:-}" ]; then
    say "building release binaries"
    cargo build --release --locked -q -p simple-ntpd -p ntp-bench
fi
SIMPLE_NTPD=${SIMPLE_NTPD:-$ROOT/target/release/simple-ntpd}
NTP_BENCH=${NTP_BENCH:-$ROOT/target/release/ntp-bench}
[ -x "$SIMPLE_NTPD" ] && [ -x "$NTP_BENCH" ] || die "missing $SIMPLE_NTPD or $NTP_BENCH"

# ---- processes we started, and cleanup --------------------------------------
WORK=$(mktemp -d /tmp/ntp-soak.XXXXXX)
chmod 755 "$WORK"
PIDS=()
DAEMON=""
cleanup() {
    local pid
    for pid in "${PIDS[@]}" $DAEMON; do
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}" $DAEMON; do wait "$pid" 2>/dev/null || true; done
    # The tmpfs lived in the daemon's mount namespace: gone with it.
    chmod -R u+rwX "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# No inherited SIMPLE_NTPD_* settings; the clock interlock on.
CLEAN_ENV=(env)
while read -r v; do CLEAN_ENV+=(-u "$v"); done < <(compgen -e | grep '^SIMPLE_NTPD_' || true)
CLEAN_ENV+=(NTPD_TEST_READ_ONLY_CLOCK=1)

ADDR="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
say "daemon and upstreams on $ADDR, $DURATION s, $RATE requests/s (bursts ${BURST_FACTOR}x)"
rm -rf "$OUT"
mkdir -p "$OUT"

# ---- certificates for the NTS upstream and the daemon's NTS server ----------
(
    cd "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=soak test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ADDR" \
        -keyout key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$ADDR" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
        -out server.pem 2>/dev/null
    cat server.pem ca.pem >chain.pem
    chmod 644 ./*.pem
)

# ---- upstreams ----------------------------------------------------------------
upstream() { # upstream NAME PORT EXTRA_TOML
    cat >"$WORK/$1.toml" <<EOF
[network]
listen_address = "$ADDR"
listen_port = $2
[ntp_server]
stratum = 1
[security]
user = "root"
[monitoring]
enabled = false
$3
EOF
    "${CLEAN_ENV[@]}" "$SIMPLE_NTPD" run -c "$WORK/$1.toml" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
}
upstream steady 1201 ""
upstream flapping 1202 ""
upstream rate 1203 "$(printf '[security.ratelimit]\nenabled = true\ninterval = 4\nburst = 1\nleak = 4\nkod = true\n')"
upstream nts 1204 "$(printf '[security.nts]\nenabled = true\nke_listen = "%s:4461"\ncertificate_chain = "%s/chain.pem"\nprivate_key = "%s/key.pem"\n' "$ADDR" "$WORK" "$WORK")"

# ---- the daemon under test, in its own mount namespace -----------------------
mkdir -p "$WORK/drift" "$WORK/nts-keys"
chmod 1777 "$WORK/drift"
HOSTS_UP=$(printf '127.0.0.1 localhost\n%s soak-steady.test soak-extra.test\n' "$ADDR")
printf '%s\n' "$HOSTS_UP" >"$WORK/hosts"
# A resolver address where nothing listens: lookups of other names fail fast.
printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$ADDR" >"$WORK/resolv.conf"
printf 'hosts: files dns\n' >"$WORK/nsswitch.conf"
chmod 644 "$WORK"/hosts "$WORK"/resolv.conf "$WORK"/nsswitch.conf
daemon_config() { # daemon_config A|B
    local extra=""
    if [ "$1" = B ]; then
        extra=$(printf '[[sources.servers]]\naddress = "soak-extra.test:1201"\nminpoll = 1\nmaxpoll = 3\n')
    fi
    cat <<EOF
[network]
listen_address = "$ADDR"
listen_port = 1123
[performance]
worker_threads = 1
[[sources.servers]]
address = "soak-steady.test:1201"
iburst = true
minpoll = 1
maxpoll = 3
[[sources.servers]]
address = "$ADDR:1202"
iburst = true
minpoll = 1
maxpoll = 3
[[sources.servers]]
address = "$ADDR:1203"
minpoll = 0
maxpoll = 0
[[sources.servers]]
address = "$ADDR:4461"
nts = true
ca = "$WORK/ca.pem"
iburst = true
minpoll = 1
maxpoll = 3
$extra
[clock]
discipline = "virtual"
[server]
driftfile = "$WORK/drift/drift"
[security]
user = "nobody"
[security.nts]
enabled = true
ke_listen = "$ADDR:4460"
certificate_chain = "$WORK/chain.pem"
private_key = "$WORK/key.pem"
key_directory = "$WORK/nts-keys"
rotation_hours = 1
[logging]
level = "info"
[monitoring]
listen = "$ADDR:9559"
EOF
}
daemon_config A >"$WORK/a.toml"
daemon_config B >"$WORK/b.toml"
cp "$WORK/a.toml" "$WORK/daemon.toml"
chmod 644 "$WORK"/*.toml
chown nobody "$WORK/nts-keys"
# unshare execs the shell, the shell execs the daemon: $! is the daemon.
"${CLEAN_ENV[@]}" unshare --mount --propagation private sh -c '
    mount --bind "$1/hosts" /etc/hosts &&
    mount --bind "$1/resolv.conf" /etc/resolv.conf &&
    mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
    mount -t tmpfs -o size=64k,mode=1777 soak-drift "$1/drift" &&
    exec "$2" run -c "$1/daemon.toml"' soak "$WORK" "$SIMPLE_NTPD" >"$OUT/daemon.log" 2>&1 &
DAEMON=$!
in_ns() { nsenter --target "$DAEMON" --mount -- "$@"; }

# Synchronised on the upstreams before the clock of the run starts.
# (No `| grep -q` under pipefail: grep quitting early can fail curl.)
synced() { [[ "$(curl -s --max-time 2 "http://$ADDR:9559/api/v1/status" || true)" == *'"synchronised":true'* ]]; }
for _ in $(seq 1 60); do
    synced && break
    kill -0 "$DAEMON" 2>/dev/null || { tail -n 30 "$OUT/daemon.log" >&2; die "the daemon exited at start"; }
    sleep 1
done
synced || { tail -n 30 "$OUT/daemon.log" >&2; die "the daemon did not synchronise within 60 s"; }

# ---- sampler, load, faults -----------------------------------------------------
EVENTS=$OUT/events.jsonl
event() { # event NAME start|end
    printf '{"t":%s,"fault":"%s","edge":"%s"}\n' "$(date +%s.%N)" "$1" "$2" >>"$EVENTS"
    say "$(date -u +%T) $1 $2"
}
: >"$EVENTS"
"$PY" bench/soak_report.py sample --pid "$DAEMON" --api "http://$ADDR:9559" --log "$OUT/daemon.log" \
    --query "$SIMPLE_NTPD" --served "$ADDR:1123" --reference "$ADDR:1201" --out "$OUT/samples.jsonl" \
    --stop "$WORK/stop" &
PIDS+=($!)

START=$(date +%s)
END=$((START + DURATION))
load() {
    local n=0 rate secs
    while [ "$(date +%s)" -lt "$END" ]; do
        secs=$CHUNK rate=$RATE
        if [ $((n % 4)) = 3 ]; then secs=5 rate=$((RATE * BURST_FACTOR)); fi
        [ $(($(date +%s) + secs)) -le "$END" ] || secs=$((END - $(date +%s)))
        [ "$secs" -ge 2 ] || break
        "$NTP_BENCH" --server "$ADDR:1123" --rate "$rate" --duration "$secs" --warmup 0.2 --no-spin --json 2>/dev/null \
            | tail -n 1 | sed "s/^{/{\"t\":$(date +%s),\"rate\":$rate,/" >>"$OUT/load.jsonl" || true
        n=$((n + 1))
    done
}
: >"$OUT/load.jsonl"
load &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

# Fault windows, one after another after the first fifth, each a tenth of
# the run; the NTS key directory's at least 65 s (the daemon maintains its
# keys every minute).
# Windows start half a reload period off the reload schedule: a window that
# opened in the very second of a reload let that reload's drift write slip
# in before the fault, and the next one after it ended (no failed attempt
# inside the window at all).
WIN=$((DURATION / 10))
NTS_WIN=$((WIN > 65 ? WIN : 65))
declare -A WINDOW WINDOW_END
at=$((START + DURATION / 5 + RELOAD_EVERY / 2))
for f in drift-full nts-keys drift-readonly dns; do
    len=$WIN
    [ "$f" != nts-keys ] || len=$NTS_WIN
    WINDOW[$f]=$at
    WINDOW_END[$f]=$((at + len))
    at=$((at + len))
done
[ "$at" -le "$END" ] || die "--duration $DURATION is too short for the fault windows (with the reload period: try 180 s or more)"
fault_start() {
    case "$1" in
        drift-full) in_ns sh -c "dd if=/dev/zero of='$WORK/drift/filler' bs=4k 2>/dev/null; true" ;;
        drift-readonly) in_ns mount -o remount,ro "$WORK/drift" ;;
        nts-keys) chmod 000 "$WORK/nts-keys" ;;
        dns) printf '127.0.0.1 localhost\n' >"$WORK/hosts" ;;
    esac
    event "$1" start
}
fault_end() {
    case "$1" in
        drift-full) in_ns rm -f "$WORK/drift/filler" ;;
        drift-readonly) in_ns mount -o remount,rw "$WORK/drift" ;;
        nts-keys) chmod 700 "$WORK/nts-keys" ;;
        dns) printf '%s\n' "$HOSTS_UP" >"$WORK/hosts" ;;
    esac
    event "$1" end
}

config=A
next_reload=$((START + RELOAD_EVERY))
next_flap=$((START + FLAP_PERIOD - FLAP_DOWN))
flap_down=0
declare -A ACTIVE=()
while :; do
    now=$(date +%s)
    [ "$now" -lt "$END" ] || break
    kill -0 "$DAEMON" 2>/dev/null || die "the daemon exited during the run (see $OUT/daemon.log)"
    if [ "$now" -ge "$next_reload" ]; then
        if [ "$config" = A ]; then config=B; else config=A; fi
        cp "$WORK/$(tr 'AB' 'ab' <<<"$config").toml" "$WORK/daemon.toml"
        kill -HUP "$DAEMON"
        printf '{"t":%s,"reload":"%s"}\n' "$now" "$config" >>"$EVENTS"
        next_reload=$((next_reload + RELOAD_EVERY))
    fi
    if [ "$now" -ge "$next_flap" ]; then
        if [ "$flap_down" = 0 ]; then
            kill -STOP "$PID_flapping"
            event flap start
            flap_down=1 next_flap=$((now + FLAP_DOWN))
        else
            kill -CONT "$PID_flapping"
            event flap end
            flap_down=0 next_flap=$((now + FLAP_PERIOD - FLAP_DOWN))
        fi
    fi
    for f in drift-full nts-keys drift-readonly dns; do
        s=${WINDOW[$f]} e=${WINDOW_END[$f]}
        if [ -z "${ACTIVE[$f]:-}" ] && [ "$now" -ge "$s" ] && [ "$now" -lt "$e" ]; then
            fault_start "$f"
            ACTIVE[$f]=1
        elif [ "${ACTIVE[$f]:-}" = 1 ] && [ "$now" -ge "$e" ]; then
            fault_end "$f"
            ACTIVE[$f]=done
        fi
    done
    sleep 1
done
for f in "${!ACTIVE[@]}"; do [ "${ACTIVE[$f]}" = 1 ] && fault_end "$f"; done
[ "$flap_down" = 0 ] || { kill -CONT "$PID_flapping"; event flap end; }
# The load ends by itself at END (no chunk runs past it).
wait "$LOAD_PID" || true
touch "$WORK/stop"
sleep 6
kill -0 "$DAEMON" 2>/dev/null || die "the daemon exited at the end of the run (see $OUT/daemon.log)"
for n in steady flapping rate nts; do cp "$WORK/$n.log" "$OUT/upstream-$n.log"; done

"$PY" bench/soak_report.py report --dir "$OUT" --duration "$DURATION" --rate "$RATE" \
    --load-average "$(cut -d' ' -f1-3 /proc/loadavg)"
