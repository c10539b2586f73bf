#!/usr/bin/env bash
# ntpq-compatible mode 6 against real NTPsec tools. In a network namespace
# made here (so the daemon can use port 123, which ntpq and ntpstat always
# ask), a simple-ntpd follows an upstream simple-ntpd (local reference,
# stratum 1) on a virtual clock (never the system clock). Then:
#   - `ntpq -c rv`, `ntpq -p -n` and `ntpstat` (Debian's ntpsec and ntpstat
#     packages) show the same leap, stratum, refid, offset, jitter,
#     frequency, root delay/dispersion, peer state, reach, poll, delay,
#     offset and jitter as /api/v1/status and /api/v1/sources;
#   - writes are refused (ntpq `:config` with a key, raw WRITEVAR/CONFIGURE);
#   - a client in a second namespace gets time but no mode 6 reply (counted
#     as control_mode) until a reload adds its network to
#     [security] mode6_allow;
#   - with rate limiting on, back-to-back queries are limited like time
#     requests.
# Namespaces, veth and processes are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=mode6
. scripts/lib/packages.sh

install_packages ntpsec ntpstat python3 iproute2
NTPQ=/usr/bin/ntpq
NTPSTAT=/usr/bin/ntpstat
PYTHON=/usr/bin/python3
[ -x "$NTPQ" ] || die "$NTPQ is missing after installing ntpsec"
[ -x "$NTPSTAT" ] || die "$NTPSTAT is missing after installing ntpstat"

export NTPD_TEST_READ_ONLY_CLOCK=1
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SIMPLE_NTPD_' || true)
say "building simple-ntpd"
cargo build --locked -q -p simple-ntpd --bin simple-ntpd
BIN=$PWD/target/debug/simple-ntpd
CHECK=("$PYTHON" "$PWD/scripts/suites/mode6/check.py")
ART=$PWD/target/mode6
rm -rf "$ART"
mkdir -p "$ART"
WORK=$(mktemp -d)
SRV=m6srv-$$
CLI=m6cli-$$
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$SRV" 2>/dev/null || true
    ip netns del "$CLI" 2>/dev/null || true
    cp "$WORK"/*.log "$WORK"/*.toml "$ART"/ 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start=$SECONDS
ip netns add "$SRV"
ip netns add "$CLI"
ip -n "$SRV" link set lo up
ip -n "$CLI" link set lo up
ip link add "m6s$$" netns "$SRV" type veth peer name "m6c$$" netns "$CLI"
ip -n "$SRV" addr add 192.0.2.1/24 dev "m6s$$"
ip -n "$CLI" addr add 192.0.2.2/24 dev "m6c$$"
ip -n "$SRV" link set "m6s$$" up
ip -n "$CLI" link set "m6c$$" up
in_srv() { ip netns exec "$SRV" "$@"; }
in_cli() { ip netns exec "$CLI" "$@"; }

API=127.0.0.1:8123
UPSTREAM=127.0.0.2:1123
printf '%s\n' '[network]' 'listen_address = "127.0.0.2"' 'listen_port = 1123' '[ntp_server]' 'stratum = 1' \
    '[monitoring]' 'enabled = false' '[security]' 'user = "root"' >"$WORK/upstream.toml"
# The daemon under test; $1 = extra lines after [security].
write_config() {
    printf '%s\n' '[network]' 'listen_address = "0.0.0.0"' 'listen_port = 123' \
        '[[sources.servers]]' "address = \"$UPSTREAM\"" 'iburst = true' 'minpoll = 1' 'maxpoll = 3' \
        '[clock]' 'discipline = "virtual"' '[monitoring]' "listen = \"$API\"" \
        '[security]' 'user = "root"' "$1" >"$WORK/server.toml"
}
write_config ""

# Started directly (not through a shell function) so that $! is the daemon:
# `ip netns exec` execs it.
ip netns exec "$SRV" "$BIN" run -c "$WORK/upstream.toml" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
ip netns exec "$SRV" "$BIN" run -c "$WORK/server.toml" >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=($SERVER)

api_get() {
    in_srv "$PYTHON" -c "import json, sys, urllib.request
d = json.load(urllib.request.urlopen('http://$API$1', timeout=2))
print(eval(sys.argv[1], {'d': d}))" "$2"
}

# Bounded wait until the daemon is synchronised to the upstream.
synced=0
for _ in $(seq 1 150); do
    kill -0 "$SERVER" 2>/dev/null || die "the daemon exited; see $ART/server.log"
    if [ "$(api_get /api/v1/sources "any(x['state'] == 'selected' for x in d['sources'])" 2>/dev/null)" = True ] \
        && [ "$(api_get /api/v1/status "d['synchronised']" 2>/dev/null)" = True ]; then
        synced=1
        break
    fi
    sleep 0.2
done
[ "$synced" = 1 ] || die "not synchronised to the upstream within 30 s; see $ART/server.log"
say "synchronised to $UPSTREAM after $((SECONDS - start)) s"

say "ntpq -c rv against /api/v1/status"
in_srv "${CHECK[@]}" rv "$API" 127.0.0.1 | tee "$ART/rv.txt"
say "ntpq -p -n against /api/v1/sources"
in_srv "${CHECK[@]}" peers "$API" 127.0.0.1 "$UPSTREAM" | tee "$ART/peers.txt"
say "ntpstat"
in_srv "${CHECK[@]}" ntpstat "$API" "$NTPSTAT" | tee "$ART/ntpstat.txt"
say "ntpq associations"
in_srv "$NTPQ" -c as 127.0.0.1 | tee "$ART/as.txt"
grep -q "sys.peer" "$ART/as.txt" || die "ntpq -c as shows no sys.peer: $(cat "$ART/as.txt")"

say "writes are refused"
printf '1 SHA1 0123456789abcdef0123456789abcdef01234567\n' >"$WORK/ntpq.keys"
chmod 600 "$WORK/ntpq.keys"
in_srv "$NTPQ" -k "$WORK/ntpq.keys" -a 1 -c ":config tos minsane 1" 127.0.0.1 >"$ART/config.txt" 2>&1 || true
grep -q "PERMISSION" "$ART/config.txt" || die "ntpq :config was not refused: $(cat "$ART/config.txt")"
in_srv "${CHECK[@]}" writes 127.0.0.1

say "a client in another namespace"
# It gets time (the path works) ...
in_cli "$BIN" query --timeout 2 192.0.2.1:123 >"$ART/cli-query.txt" || die "no time from 192.0.2.1 to the client"
dropped_before=$(api_get /api/v1/serverstats "d['dropped']['control_mode']")
# ... but no mode 6 reply, neither to ntpq nor to a raw request.
in_cli timeout 20 "$NTPQ" -c rv 192.0.2.1 >"$ART/cli-ntpq-denied.txt" 2>&1 || true
grep -q "associd=" "$ART/cli-ntpq-denied.txt" && die "ntpq from 192.0.2.2 got an answer: $(cat "$ART/cli-ntpq-denied.txt")"
grep -qi "timed out" "$ART/cli-ntpq-denied.txt" || die "ntpq from 192.0.2.2: $(cat "$ART/cli-ntpq-denied.txt")"
in_cli "${CHECK[@]}" silent 192.0.2.1
dropped_after=$(api_get /api/v1/serverstats "d['dropped']['control_mode']")
[ "$dropped_after" -gt "$dropped_before" ] || die "refused control queries not counted ($dropped_before -> $dropped_after)"
say "refused and counted as control_mode ($dropped_before -> $dropped_after)"

say "reload with mode6_allow for the client's network"
write_config 'mode6_allow = ["127.0.0.0/8", "192.0.2.0/24"]'
kill -HUP "$SERVER"
answered=0
for _ in $(seq 1 50); do
    if in_cli "${CHECK[@]}" answered 192.0.2.1 >/dev/null 2>&1; then
        answered=1
        break
    fi
    sleep 0.2
done
[ "$answered" = 1 ] || die "no mode 6 answer to 192.0.2.2 after the reload; see $ART/server.log"
in_cli "$NTPQ" -c rv 192.0.2.1 >"$ART/cli-ntpq-allowed.txt" 2>&1 || true
grep -q "stratum=2" "$ART/cli-ntpq-allowed.txt" || die "ntpq from the allowed client: $(cat "$ART/cli-ntpq-allowed.txt")"
say "answered after the reload"

say "rate limited like time requests"
write_config 'mode6_allow = ["127.0.0.0/8"]
[security.ratelimit]
enabled = true
interval = 4
burst = 4
leak = 4'
kill -HUP "$SERVER"
sleep 1
in_srv "${CHECK[@]}" ratelimit "$API" 127.0.0.1 12

kill -0 "$SERVER" || die "the daemon died"
[ "$(cat "/proc/$SERVER/comm")" = simple-ntpd ] || die "PID $SERVER is not the daemon"
say "passed in $((SECONDS - start)) s; outputs in $ART"
