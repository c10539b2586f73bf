#!/usr/bin/env bash
# The built-in status page in a real browser: an upstream simple-ntpd on
# loopback (local reference, stratum 1) and a second daemon following it on
# a virtual clock (never the system clock) with a symmetric key, its
# monitoring endpoint guarded by a token. Debian's headless Chromium, driven over the DevTools protocol
# (status-page.py), opens http://ADDR/?token=..., and the test asserts that
# the charts have data points, the sources table shows the upstream as
# selected, no request leaves for another host, and that the page fits a
# phone in dark mode; then `status --watch` shows the same in a terminal.
#
# Artefacts in target/status-page/: desktop-light.png and phone-dark.png
# (look at them), dom.html, network.log, facts-*.json, watch.txt, rss.txt,
# the daemons' logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=status-page
. scripts/lib/packages.sh

install_packages chromium python3 python3-websocket
PYTHON=/usr/bin/python3 # Debian's, which has python3-websocket
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] || die "$CHROMIUM is missing after installing chromium"

export NTPD_TEST_READ_ONLY_CLOCK=1
# The daemons read every SIMPLE_NTPD_* variable as configuration and refuse
# unknown ones: start them from a clean environment whatever the caller set.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SIMPLE_NTPD_' || true)
say "building simple-ntpd"
cargo build --locked -q -p simple-ntpd --bin simple-ntpd
BIN=$PWD/target/debug/simple-ntpd
ART=$PWD/target/status-page
rm -rf "$ART"
mkdir -p "$ART"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    cp "$WORK"/*.log "$ART"/ 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# free_port udp|tcp: a free port on 127.0.0.1 below the ephemeral range.
free_port() {
    "$PYTHON" scripts/lib/free_port.py "$1"
}

# wait_serving PORT PID: bounded wait until the daemon answers NTP.
wait_serving() {
    local i
    for i in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || die "the daemon on port $1 exited; see $ART"
        "$BIN" query --timeout 0.2 "127.0.0.1:$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "no NTP answer on 127.0.0.1:$1 within 10 s"
}

UP_PORT=$(free_port udp)
NTP_PORT=$(free_port udp)
API_PORT=$(free_port tcp)
TOKEN=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)

cat >"$WORK/upstream.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $UP_PORT
[ntp_server]
stratum = 1
[monitoring]
enabled = false
[security.authentication]
enabled = true
[[security.authentication.keys]]
id = 9
type = "AES128"
value = "HEX:$KEY"
EOF
cat >"$WORK/follower.toml" <<EOF
[network]
listen_address = "127.0.0.1"
listen_port = $NTP_PORT
[[sources.servers]]
address = "127.0.0.1:$UP_PORT"
iburst = true
minpoll = 0
maxpoll = 2
key = 9
[clock]
discipline = "virtual"
[monitoring]
listen = "127.0.0.1:$API_PORT"
token = "$TOKEN"
[[security.authentication.keys]]
id = 9
type = "AES128"
value = "HEX:$KEY"
EOF

start=$SECONDS
"$BIN" run -c "$WORK/upstream.toml" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
wait_serving "$UP_PORT" "${PIDS[0]}"
"$BIN" run -c "$WORK/follower.toml" >"$WORK/follower.log" 2>&1 &
FOLLOWER=$!
PIDS+=($FOLLOWER)
wait_serving "$NTP_PORT" "$FOLLOWER"
say "upstream on 127.0.0.1:$UP_PORT, follower on 127.0.0.1:$NTP_PORT, its page on http://127.0.0.1:$API_PORT/"

# Clients for the busiest-clients table and the request chart (from spare
# loopback addresses), and a datagram too short to answer for the drops.
"$PYTHON" - "$NTP_PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
for rounds in range(3):
    for n, src in enumerate(["127.0.0.1", "127.0.0.2", "127.0.0.3"]):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(1)
        for _ in range(n + 1):
            s.sendto(b"\x23" + bytes(39) + time.time_ns().to_bytes(8, "big"), ("127.0.0.1", port))
            try:
                s.recv(512)
            except OSError:
                pass
        s.close()
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"short", ("127.0.0.1", port))
    time.sleep(2)
EOF

"$PYTHON" scripts/suites/status-page.py --url "http://127.0.0.1:$API_PORT/" --token "$TOKEN" \
    --upstream "127.0.0.1:$UP_PORT" --artefacts "$ART" --chromium "$CHROMIUM" --wait-history 3 \
    --clients 127.0.0.2,127.0.0.3 --auth "key 9"

# The terminal view of the same daemon (not a terminal here: frames in sequence).
"$BIN" status --watch --count 2 --interval 1 --api "127.0.0.1:$API_PORT" --token "$TOKEN" >"$ART/watch.txt" \
    || die "status --watch failed: $(cat "$ART/watch.txt")"
grep -q "Synchronised to 127.0.0.1 at stratum 2" "$ART/watch.txt" || die "status --watch: $(cat "$ART/watch.txt")"
grep -q "127.0.0.1:$UP_PORT" "$ART/watch.txt" || die "status --watch shows no upstream: $(cat "$ART/watch.txt")"

# Memory of the follower after it has served the page for a while. This is
# the debug build: its code and debug info are file-backed pages, so the
# budget is checked on the anonymous (heap, stacks) part, which is what the
# history ring and the page add; docs/performance.md has release figures.
grep -E 'VmRSS|RssAnon|RssFile|VmHWM' "/proc/$FOLLOWER/status" | tee "$ART/rss.txt"
anon_kb=$(awk '/RssAnon/ {print $2}' "/proc/$FOLLOWER/status")
[ "$anon_kb" -le 10240 ] || die "the follower holds $anon_kb kB of anonymous memory, over 10 MB"
kill -0 "$FOLLOWER" || die "the follower died"
say "passed in $((SECONDS - start)) s; screenshots: $ART/desktop-light.png $ART/phone-dark.png"
