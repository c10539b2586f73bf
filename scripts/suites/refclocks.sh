#!/usr/bin/env bash
# Reference clocks with the real gpsd (Debian's gpsd 3.22), as seed 002's
# hardware section deploys them: simple-ntpd with
# `[sources.hardware.gps] enabled = true` (chrony's `refclock SHM 0 refid
# GPS`) starts first and creates NTP shared-memory unit 0; gpsd starts later,
# reads a fake receiver that serves NMEA with the current time over
# tcp://127.0.0.1 (gpsd exports no pseudo-terminal device to NTP shared
# memory, but does export TCP sources), and writes unit 0. The daemon must
# then serve stratum 1, refid GPS, within 20 ms of the host clock as a real
# client (ntpdig, and simple-ntpd query) measures it, and list the clock in
# `sources --json`.
#
# SHM units 0 and 1 are machine-wide, so everything runs in a private System
# V IPC namespace (unshare --ipc): gpsd's unit 0 is this test's own, nothing
# else on the machine sees or disturbs it, and the segments vanish with the
# namespace (they are removed explicitly too). The daemon uses the virtual
# clock: the host clock is never touched. Processes are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=refclocks
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

[ "$(id -u)" -eq 0 ] || die "must run as root (gpsd and the daemon open NTP shared memory as root; unshare --ipc)"

if [ -z "${REFCLOCKS_IPC_NAMESPACE:-}" ]; then
    # Debian's gpsd package would start gpsd.socket/gpsd.service: the
    # package helper keeps maintainer scripts from starting services.
    install_packages gpsd gpsd-clients ntpsec-ntpdig python3 util-linux
    command -v unshare >/dev/null || die "unshare (util-linux) is missing"
    say "building simple-ntpd"
    cargo build --locked -q -p simple-ntpd --bin simple-ntpd
    exec unshare --ipc env REFCLOCKS_IPC_NAMESPACE=1 bash "$0" "$@"
fi

START=$SECONDS
BIN=$PWD/target/debug/simple-ntpd
TMP=$(mktemp -d /tmp/simple-ntpd-refclocks.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ipcrm -M 0x4e545030 2>/dev/null || true
    ipcrm -M 0x4e545031 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        for f in "$TMP"/*.log; do
            [ -e "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
export NTPD_TEST_READ_ONLY_CLOCK=1

if [ -n "$(ipcs -m | grep -i '^0x4e54503')" ]; then
    die "NTP shared memory exists in the fresh IPC namespace?"
fi

free_tcp_port() {
    /usr/bin/python3 scripts/lib/free_port.py tcp
}
# ntpdig only asks port 123: a spare loopback address of our own.
ADDR="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
API="127.0.0.1:$(free_tcp_port)"
GPSD_PORT=$(free_tcp_port)

# ---------------------------------------------------------------- receiver
/usr/bin/python3 scripts/suites/refclocks/fake_nmea_receiver.py 0.005 300 >"$TMP/receiver.port" 2>"$TMP/receiver.log" &
PIDS+=($!)
for _ in $(seq 50); do
    [ -s "$TMP/receiver.port" ] && break
    sleep 0.1
done
RX_PORT=$(head -n 1 "$TMP/receiver.port")
[ -n "$RX_PORT" ] || die "the fake receiver did not start"
say "fake receiver: NMEA 5 ms after every second on tcp://127.0.0.1:$RX_PORT"

# ---------------------------------------------------------------- daemon first
cat >"$TMP/simple-ntpd.toml" <<EOF
[network]
listen_address = "$ADDR"
listen_port = 123
[clock]
discipline = "virtual"
[monitoring]
listen = "$API"
# Seed 002's hardware section: chrony's "refclock SHM 0 refid GPS prefer".
[sources.hardware.gps]
enabled = true
device = "tcp://127.0.0.1:$RX_PORT"
refclock = true
prefer = true
EOF
"$BIN" config check "$TMP/simple-ntpd.toml" >/dev/null || die "config check failed"
"$BIN" run -c "$TMP/simple-ntpd.toml" >"$TMP/simple-ntpd.log" 2>&1 &
PIDS+=($!)
DAEMON_STARTED=$SECONDS
for _ in $(seq 100); do
    rc=0
    "$BIN" query "$ADDR" --timeout 0.2 >/dev/null 2>&1 || rc=$?
    [ "$rc" -ne 2 ] && break
    sleep 0.1
done
[ "$rc" -ne 2 ] || die "simple-ntpd does not answer on $ADDR:123"
ipcs -m | grep -i '^0x4e545030 .* 600 ' >/dev/null || die "the daemon did not create SHM unit 0 with mode 0600: $(ipcs -m)"
say "simple-ntpd serves $ADDR:123 and created SHM unit 0 before gpsd runs"

# ---------------------------------------------------------------- gpsd
/usr/sbin/gpsd -N -n -S "$GPSD_PORT" "tcp://127.0.0.1:$RX_PORT" >"$TMP/gpsd.log" 2>&1 &
PIDS+=($!)
if ! timeout 20 ntpshmmon -n 2 >"$TMP/ntpshmmon.log" 2>&1 || ! grep -q 'NTP0' "$TMP/ntpshmmon.log"; then
    die "gpsd wrote no sample to SHM unit 0 within 20 s"
fi
say "gpsd writes SHM unit 0: $(grep NTP0 "$TMP/ntpshmmon.log" | tail -n 1)"

# ---------------------------------------------------------------- stratum 1
json_field() { /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
SYNCED=""
for _ in $(seq 90); do
    out=$("$BIN" query "$ADDR" --json --timeout 1 2>/dev/null || true)
    if [ -n "$out" ] && [ "$(echo "$out" | json_field stratum)" = 1 ] && [ "$(echo "$out" | json_field refid)" = GPS ]; then
        SYNCED=$((SECONDS - DAEMON_STARTED))
        break
    fi
    sleep 1
done
[ -n "$SYNCED" ] || die "never stratum 1 with refid GPS; last reply: ${out:-none}"
say "stratum 1, refid GPS, $SYNCED s after the daemon started"

# Let the first slew finish, then measure with two real clients.
sleep 5
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
OURS=$(for _ in $(seq 5); do "$BIN" query "$ADDR" --json | json_field offset; sleep 0.5; done | median)
NTPDIG=$(for _ in $(seq 3); do ntpdig -j -t 2 "$ADDR" | json_field offset; sleep 0.5; done | median)
say "served minus host clock: simple-ntpd query $OURS s, ntpdig $NTPDIG s (median)"
/usr/bin/python3 - "$OURS" "$NTPDIG" <<'EOF' || die "served time is not within 20 ms of the host clock"
import sys
bad = [v for v in map(float, sys.argv[1:]) if abs(v) >= 0.020]
sys.exit(1 if bad else 0)
EOF

# ---------------------------------------------------------------- sources --json
"$BIN" sources --api "$API" --json >"$TMP/sources.json"
/usr/bin/python3 - "$TMP/sources.json" <<'EOF' || die "sources --json does not show the GPS clock selected and ok: $(cat "$TMP/sources.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
gps = [s for s in doc["sources"] if s["name"] == "GPS"]
assert len(gps) == 1, doc
g = gps[0]
assert g["address"] == "SHM 0", g
assert g["state"] in ("selected", "combined"), g
assert g["refclock"]["driver"] == "SHM" and g["refclock"]["status"] == "ok", g
assert g["refclock"]["readings"] >= 10, g
print("refclocks: sources --json: GPS (SHM 0) %s, %d readings, offset %+.6f s" % (g["state"], g["refclock"]["readings"], g["offset_seconds"]))
EOF
"$BIN" sources --api "$API"

say "passed in $((SECONDS - START)) s (inside the IPC namespace)"
