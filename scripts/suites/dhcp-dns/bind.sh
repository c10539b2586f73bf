#!/usr/bin/env bash
# Part 3 of dhcp-dns.sh: `[dns]` against BIND 9 on loopback (an ephemeral
# port), with a TSIG key (tsig-keygen, hmac-sha256) and allow-update for it.
# A daemon serving a local reference registers its A record; the record is
# gone after SIGTERM; a daemon with the wrong secret for the same key name is
# refused (NOTAUTH, BADSIG), says so in status and metrics, and still serves.
# Usage: bind.sh BIN TMPDIR (the caller's cleanup removes TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/../../.."
SAY_PREFIX=dhcp-dns
# shellcheck source=../../lib/packages.sh
. scripts/lib/packages.sh
BIN=$1
TMP=$2/bind
mkdir -p "$TMP"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() {
    /usr/bin/python3 scripts/lib/free_port.py both
}
json() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
DNS_PORT=$(free_port)

tsig-keygen -a hmac-sha256 ntp-update >"$TMP/ntp-update.key"
tsig-keygen -a hmac-sha256 ntp-update >"$TMP/wrong.key"
cmp -s "$TMP/ntp-update.key" "$TMP/wrong.key" && die "tsig-keygen gave the same secret twice"
cat >"$TMP/lan.example.net.db" <<'EOF'
$TTL 300
@   IN SOA ns.lan.example.net. hostmaster.lan.example.net. ( 1 3600 600 86400 300 )
@   IN NS  ns.lan.example.net.
ns  IN A   127.0.0.1
EOF
cat >"$TMP/named.conf" <<EOF
options {
    directory "$TMP";
    pid-file "$TMP/named.pid";
    session-keyfile "$TMP/session.key";
    listen-on port $DNS_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
};
controls { };
include "$TMP/ntp-update.key";
zone "lan.example.net" {
    type primary;
    file "$TMP/lan.example.net.db";
    allow-update { key ntp-update; };
};
EOF
named-checkconf "$TMP/named.conf" || die "named-checkconf refuses the test configuration"
named -g -c "$TMP/named.conf" >"$TMP/named.log" 2>&1 &
PIDS+=($!)
# `dig +short` prints the answer's addresses, one per line, but also its own
# errors (";; communications error to 127.0.0.1#PORT: connection refused")
# on standard output: only whole-line addresses count. (Matching the address
# anywhere let that error, printed while named was still starting, pass for
# an answer; the query that followed reached named before its zone was
# loaded, and the suite failed.)
answers() { dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries="$2" "$1" A 2>/dev/null | grep -v '^;' || true; }
lookup() { answers ntp.lan.example.net 1; }
for _ in $(seq 100); do
    grep -qx 127.0.0.1 <<<"$(answers ns.lan.example.net 1)" && break
    sleep 0.2
done
grep -qx 127.0.0.1 <<<"$(answers ns.lan.example.net 2)" || { tail -20 "$TMP/named.log"; die "named does not answer on 127.0.0.1:$DNS_PORT"; }
say "BIND $(named -v | awk '{print $2}') serves lan.example.net on 127.0.0.1:$DNS_PORT, updates allowed for key ntp-update"

ntp_addr() { echo "127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"; }
daemon_config() { # FILE NTP_ADDR API_PORT KEYFILE
    cat >"$1" <<EOF
[network]
listen_address = "$2:$(free_port)"
[clock]
discipline = "virtual"
[monitoring]
listen = "127.0.0.1:$3"
[dns]
enabled = true
server = "127.0.0.1:$DNS_PORT"
zone = "lan.example.net"
hostname = "ntp"
key_file = "$4"
ttl = 60
[development]
enable_test_endpoints = true
EOF
}

# ---------------------------------------------------------------- the right key
ADDR=$(ntp_addr)
API=$(free_port)
daemon_config "$TMP/good.toml" "$ADDR" "$API" "$TMP/ntp-update.key"
"$BIN" config check "$TMP/good.toml" >/dev/null || die "config check refuses the [dns] configuration"
"$BIN" run -c "$TMP/good.toml" >"$TMP/good.log" 2>&1 &
GOOD=$!
PIDS+=($GOOD)
STARTED=$SECONDS
for _ in $(seq 100); do
    [ "$(lookup)" = "$ADDR" ] && break
    sleep 0.2
done
[ "$(lookup)" = "$ADDR" ] || die "ntp.lan.example.net A is not $ADDR after 20 s: '$(lookup)'"
say "registered: ntp.lan.example.net A $ADDR, $((SECONDS - STARTED)) s after start"
"$BIN" status --api "127.0.0.1:$API" --json >"$TMP/good-status.json"
[ "$(json 'd["dns"]["registered"]' <"$TMP/good-status.json")" = True ] || die "status does not show the registration: $(cat "$TMP/good-status.json")"
/usr/bin/python3 -c 'import urllib.request, sys; t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode(); sys.exit(0 if "ntp_dns_registered 1" in t else 1)' "$API" ||
    die "metrics do not show ntp_dns_registered 1"
# Losing synchronisation (the test fault makes the served state unsynchronised for 4 s) withdraws the record; it comes back after.
/usr/bin/python3 -c 'import urllib.request, sys
r = urllib.request.Request("http://127.0.0.1:%s/test/fault" % sys.argv[1], data=b"{\"fault\":\"unsynchronised\",\"duration_seconds\":4}", headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(r).read()' "$API" || die "cannot inject the unsynchronised fault"
for _ in $(seq 50); do
    [ -z "$(lookup)" ] && break
    sleep 0.1
done
[ -z "$(lookup)" ] || die "the record stayed while the daemon served unsynchronised time"
say "unsynchronised: record withdrawn"
for _ in $(seq 100); do
    [ "$(lookup)" = "$ADDR" ] && break
    sleep 0.1
done
[ "$(lookup)" = "$ADDR" ] || die "the record did not come back after synchronisation returned"
say "synchronised again: record registered again"
kill -TERM "$GOOD"
wait "$GOOD" || die "the daemon did not stop cleanly"
[ -z "$(lookup)" ] || die "the record is still there after the daemon stopped: '$(lookup)'"
grep -q 'DNS records withdrawn (stopping)' "$TMP/good.log" || die "the daemon did not log the withdrawal"
say "withdrawn at shutdown: ntp.lan.example.net has no A record"

# ---------------------------------------------------------------- the wrong key
ADDR=$(ntp_addr)
API=$(free_port)
daemon_config "$TMP/bad.toml" "$ADDR" "$API" "$TMP/wrong.key"
"$BIN" run -c "$TMP/bad.toml" >"$TMP/bad.log" 2>&1 &
BAD=$!
PIDS+=($BAD)
for _ in $(seq 100); do
    failed=$("$BIN" status --api "127.0.0.1:$API" --json 2>/dev/null | json 'd["dns"]["updates_failed"]' 2>/dev/null || echo 0)
    [ "$failed" -ge 1 ] && break
    sleep 0.2
done
"$BIN" status --api "127.0.0.1:$API" --json >"$TMP/bad-status.json"
"$BIN" status --api "127.0.0.1:$API" >"$TMP/bad-status.txt"
grep -q "last error.*NOTAUTH" "$TMP/bad-status.txt" || die "status (text) does not show the DNS error: $(cat "$TMP/bad-status.txt")"
/usr/bin/python3 - "$TMP/bad-status.json" <<'EOF' || die "status does not report the refused update: $(cat "$TMP/bad-status.json")"
import json, sys
d = json.load(open(sys.argv[1]))["dns"]
assert d["updates_failed"] >= 1 and d["updates_ok"] == 0 and not d["registered"], d
assert "NOTAUTH" in d["last_error"] and "BADSIG" in d["last_error"], d
print("dhcp-dns: wrong key refused:", d["last_error"])
EOF
/usr/bin/python3 -c 'import urllib.request, sys, re; t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode(); m = re.search(r"ntp_dns_updates_total\{result=\"failed\"\} (\d+)", t); sys.exit(0 if m and int(m.group(1)) >= 1 else 1)' "$API" ||
    die "metrics do not count the failed update"
[ -z "$(lookup)" ] || die "a refused update left a record: '$(lookup)'"
"$BIN" query "$ADDR:$(sed -n 's/^listen_address = ".*:\([0-9]*\)"$/\1/p' "$TMP/bad.toml")" --timeout 1 >/dev/null || die "a refused DNS update affected serving"
grep -q 'DNS update failed' "$TMP/bad.log" || die "the refusal is not logged"
say "wrong key: refused (NOTAUTH/BADSIG), counted in status and metrics, serving unaffected"
