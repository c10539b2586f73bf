#!/usr/bin/env bash
# DHCP and DNS integration (issue 15, seed 002) with the real servers, in
# network namespaces this script creates (documentation addresses only):
#
#  1. A router namespace with two links: vlan-10 (enabled, 192.0.2.1/24,
#     2001:db8:10::1/64) and vlan-20 (`enabled = false`, 198.51.100.1/24).
#     `simple-ntpd dhcp-config --format dnsmasq` writes the option lines;
#     Debian's dnsmasq loads them and serves both links. busybox udhcpc in a
#     client namespace on vlan-10 receives option 42 = 192.0.2.1; one on
#     vlan-20 receives a lease without option 42; dhclient -6 on vlan-10
#     receives option 56 with 2001:db8:10::1. The Kea and ISC output is
#     checked by `kea-dhcp4 -t` and `dhcpd -t`.
#  2. A client daemon with `[sources] directory` and no configured server
#     synchronises to the router's daemon through the lease: the project's
#     udhcpc hook writes the sources file, the running daemon picks it up
#     (same PID, no reload) and selects 192.0.2.1; releasing the lease
#     removes the file and the source. Then the same with ISC dhclient and
#     the project's exit hook.
#  3. BIND 9 on loopback (ephemeral port) with a TSIG key and allow-update
#     (see scripts/suites/dhcp-dns/bind.sh).
#
# Every daemon uses the virtual clock; processes are stopped by PID and the
# namespaces deleted on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=dhcp-dns
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, DHCP)"
install_packages dnsmasq-base udhcpc isc-dhcp-client bind9 bind9-utils bind9-dnsutils kea-dhcp4-server kea-dhcp6-server isc-dhcp-server iproute2 python3
say "building simple-ntpd"
cargo build --locked -q -p simple-ntpd --bin simple-ntpd

START=$SECONDS
BIN=$PWD/target/debug/simple-ntpd
HOOK=$PWD/deploy/dhcp/udhcpc.script
TMP=$(mktemp -d /tmp/simple-ntpd-dhcp-dns.XXXXXX)
chmod 755 "$TMP"
NS="sntpdhcp$$"
R="$NS-r" C="$NS-c" D="$NS-d"
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Anything still running in our namespaces was started by this script.
    for n in "$R" "$C" "$D"; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    done
    for n in "$R" "$C" "$D"; do
        ip netns del "$n" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        for f in "$TMP"/*.log "$TMP"/bind/*.log; do
            [ -e "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
        done
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
export NTPD_TEST_READ_ONLY_CLOCK=1
# Not for background processes: `ip netns exec` replaces itself with the
# command, so `$!` of a direct call is the process to stop; a shell function
# run in the background would be a subshell instead.
in_ns() {
    local n=$1
    shift
    ip netns exec "$n" "$@"
}
json() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# ---------------------------------------------------------------- the network
for n in "$R" "$C" "$D"; do
    ip netns add "$n"
    in_ns "$n" ip link set lo up
done
ip link add r10 netns "$R" type veth peer name c10 netns "$C"
ip link add r20 netns "$R" type veth peer name d20 netns "$D"
in_ns "$R" ip addr add 192.0.2.1/24 dev r10
in_ns "$R" ip addr add 2001:db8:10::1/64 dev r10 nodad
in_ns "$R" ip addr add 198.51.100.1/24 dev r20
for l in r10 r20; do in_ns "$R" ip link set "$l" up; done
in_ns "$C" ip link set c10 up
in_ns "$D" ip link set d20 up
say "namespaces $R (router), $C (vlan-10 client), $D (vlan-20 client)"

# ---------------------------------------------------------------- router daemon
cat >"$TMP/router.toml" <<EOF
[ntp_server]
stratum = 3
[clock]
discipline = "virtual"
[monitoring]
listen = "127.0.0.1:9123"
[[vlan_config]]
vlan_ref = "vlan-10"
interface = "r10"
[[vlan_config]]
vlan_ref = "vlan-20"
interface = "r20"
enabled = false
EOF
ip netns exec "$R" "$BIN" run -c "$TMP/router.toml" >"$TMP/router.log" 2>&1 &
PIDS+=($!)

# ---------------------------------------------------------------- dhcp-config
in_ns "$R" "$BIN" dhcp-config --format dnsmasq -c "$TMP/router.toml" >"$TMP/ntp-dnsmasq.conf"
grep -qx 'dhcp-option=tag:r10,option:ntp-server,192.0.2.1' "$TMP/ntp-dnsmasq.conf" ||
    die "dnsmasq output lacks option 42 for vlan-10: $(cat "$TMP/ntp-dnsmasq.conf")"
grep -qx 'dhcp-option=tag:r10,option6:ntp-server,\[2001:db8:10::1\]' "$TMP/ntp-dnsmasq.conf" ||
    die "dnsmasq output lacks option 56 for vlan-10: $(cat "$TMP/ntp-dnsmasq.conf")"
if grep -q 'tag:r20' "$TMP/ntp-dnsmasq.conf"; then die "the disabled vlan-20 is announced: $(cat "$TMP/ntp-dnsmasq.conf")"; fi
say "dhcp-config --format dnsmasq: $(grep -c '^dhcp-option' "$TMP/ntp-dnsmasq.conf") option line(s), vlan-20 only commented"

in_ns "$R" "$BIN" dhcp-config --format isc -c "$TMP/router.toml" >"$TMP/ntp-isc.conf"
printf 'authoritative;\ninclude "%s";\n' "$TMP/ntp-isc.conf" >"$TMP/dhcpd.conf"
dhcpd -4 -t -q -cf "$TMP/dhcpd.conf" >"$TMP/dhcpd-t.log" 2>&1 || die "dhcpd -t refuses the ISC output: $(cat "$TMP/dhcpd-t.log")"
grep -q 'option ntp-servers 192.0.2.1;' "$TMP/ntp-isc.conf" || die "ISC output lacks vlan-10's server"
in_ns "$R" "$BIN" dhcp-config --format kea -c "$TMP/router.toml" >"$TMP/ntp-kea.json"
/usr/bin/python3 - "$TMP/ntp-kea.json" "$TMP/kea-dhcp4.json" <<'EOF'
import json, sys
ours = json.load(open(sys.argv[1]))
subnets = ours["Dhcp4"]["subnet4"]
assert [s["interface"] for s in subnets] == ["r10"], subnets
for i, s in enumerate(subnets, 1):
    s["id"] = i
conf = {"Dhcp4": {"interfaces-config": {"interfaces": ["r10"]},
                  "lease-database": {"type": "memfile", "persist": False},
                  "subnet4": subnets}}
json.dump(conf, open(sys.argv[2], "w"))
subnets6 = ours["Dhcp6"]["subnet6"]
assert [s["interface"] for s in subnets6] == ["r10"], subnets6
for i, s in enumerate(subnets6, 1):
    s["id"] = i
conf6 = {"Dhcp6": {"interfaces-config": {"interfaces": ["r10"]},
                   "lease-database": {"type": "memfile", "persist": False},
                   "subnet6": subnets6}}
json.dump(conf6, open(sys.argv[2].replace("dhcp4", "dhcp6"), "w"))
EOF
in_ns "$R" kea-dhcp4 -t "$TMP/kea-dhcp4.json" >"$TMP/kea-t.log" 2>&1 || die "kea-dhcp4 -t refuses the Kea output: $(cat "$TMP/kea-t.log")"
in_ns "$R" kea-dhcp6 -t "$TMP/kea-dhcp6.json" >"$TMP/kea6-t.log" 2>&1 || die "kea-dhcp6 -t refuses the Kea output: $(cat "$TMP/kea6-t.log")"
in_ns "$R" "$BIN" dhcp-config --format networkd -c "$TMP/router.toml" >"$TMP/ntp-networkd.conf"
grep -qx 'NTP=192.0.2.1' "$TMP/ntp-networkd.conf" || die "networkd output lacks NTP=192.0.2.1"
say "ISC output accepted by dhcpd -t, Kea output by kea-dhcp4 -t and kea-dhcp6 -t, networkd output names NTP=192.0.2.1"

# ---------------------------------------------------------------- dnsmasq
cat >"$TMP/dnsmasq.conf" <<EOF
port=0
interface=r10
interface=r20
bind-interfaces
dhcp-authoritative
dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h
dhcp-range=198.51.100.100,198.51.100.150,255.255.255.0,1h
dhcp-range=2001:db8:10::100,2001:db8:10::1ff,64,1h
dhcp-leasefile=$TMP/dnsmasq.leases
pid-file=$TMP/dnsmasq.pid
conf-file=$TMP/ntp-dnsmasq.conf
EOF
ip netns exec "$R" dnsmasq --keep-in-foreground --user=root --group=root --conf-file="$TMP/dnsmasq.conf" --log-facility="$TMP/dnsmasq.log" --log-dhcp &
PIDS+=($!)

# The address part of a real udhcpc script, so the client can talk to the router.
cat >"$TMP/address.sh" <<'EOF'
#!/bin/sh
case "$1" in
    bound|renew) ip addr replace "$ip/${mask:-24}" dev "$interface"; echo "$1 ip=$ip ntpsrv=${ntpsrv:-}" >>"$LEASE_LOG" ;;
    deconfig) ip -4 addr flush dev "$interface"; echo "deconfig" >>"$LEASE_LOG" ;;
esac
EOF
chmod 755 "$TMP/address.sh"

# ---------------------------------------------------------------- vlan-20: no option 42
mkdir -p "$TMP/d-sources"
in_ns "$D" env SIMPLE_NTPD_SOURCES_DIRECTORY="$TMP/d-sources" SIMPLE_NTPD_UDHCPC_CHAIN="$TMP/address.sh" \
    LEASE_LOG="$TMP/d-lease.log" timeout 30 udhcpc -i d20 -f -q -n -t 10 -T 1 -O ntpsrv -s "$HOOK" >"$TMP/d-udhcpc.log" 2>&1 ||
    die "udhcpc on vlan-20 got no lease"
grep -q '^bound ip=198\.51\.100\.1[0-9][0-9] ntpsrv=$' "$TMP/d-lease.log" ||
    die "vlan-20's lease is not a lease without NTP servers: $(cat "$TMP/d-lease.log")"
[ -z "$(ls -A "$TMP/d-sources")" ] || die "the hook wrote sources for vlan-20: $(ls "$TMP/d-sources")"
say "vlan-20 (disabled): udhcpc leased $(sed -n 's/^bound ip=\([^ ]*\).*/\1/p' "$TMP/d-lease.log") with no option 42; no sources file"

# ---------------------------------------------------------------- vlan-10 client daemon
mkdir -p "$TMP/c-sources"
# A hand-written file with a malformed line: reported with file:line, skipped.
printf '# local override\nserver 192.0.2.1 burst\n' >"$TMP/c-sources/local.sources"
cat >"$TMP/client.toml" <<EOF
[network]
listen_address = "127.0.0.1:1123"
[clock]
discipline = "virtual"
[monitoring]
listen = "127.0.0.1:9124"
[sources]
directory = "$TMP/c-sources"
EOF
ip netns exec "$C" "$BIN" run -c "$TMP/client.toml" >"$TMP/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
sources() { in_ns "$C" "$BIN" sources --api 127.0.0.1:9124 --json 2>/dev/null || true; }
for _ in $(seq 50); do
    [ -n "$(sources)" ] && break
    sleep 0.2
done
[ "$(sources | json 'len(d["sources"])')" = 0 ] || die "the client daemon has sources before any lease: $(sources)"
[ "$(readlink "/proc/$CLIENT_PID/exe")" = "$BIN" ] || die "PID $CLIENT_PID is not the client daemon"

ip netns exec "$C" env SIMPLE_NTPD_SOURCES_DIRECTORY="$TMP/c-sources" SIMPLE_NTPD_UDHCPC_CHAIN="$TMP/address.sh" \
    LEASE_LOG="$TMP/c-lease.log" udhcpc -i c10 -f -t 10 -T 1 -O ntpsrv -s "$HOOK" >"$TMP/c-udhcpc.log" 2>&1 &
UDHCPC_PID=$!
PIDS+=($UDHCPC_PID)
for _ in $(seq 100); do
    [ -s "$TMP/c-sources/udhcpc.c10.sources" ] && break
    sleep 0.2
done
grep -qx 'server 192.0.2.1 iburst' "$TMP/c-sources/udhcpc.c10.sources" ||
    die "the udhcpc hook did not write vlan-10's server: $(cat "$TMP/c-lease.log" 2>/dev/null)"
LEASED=$SECONDS
say "vlan-10: udhcpc leased $(sed -n 's/^bound ip=\([^ ]*\).*/\1/p' "$TMP/c-lease.log"), option 42 = 192.0.2.1, written to udhcpc.c10.sources"

SYNCED=""
for _ in $(seq 60); do
    state=$(sources | json '[s["state"] for s in d["sources"] if (s["address"] or "").startswith("192.0.2.1")]' 2>/dev/null || true)
    status=$(in_ns "$C" "$BIN" status --api 127.0.0.1:9124 --json 2>/dev/null | json 'd["mode"]' 2>/dev/null || true)
    if [ "$state" = "['selected']" ] && [ "$status" = synchronised ]; then
        SYNCED=$((SECONDS - LEASED))
        break
    fi
    sleep 1
done
[ -n "$SYNCED" ] || die "the client never synchronised to 192.0.2.1 through the lease: $(sources)"
kill -0 "$CLIENT_PID" || die "the client daemon is gone"
grep -q 'sources directory changed' "$TMP/client.log" || die "the client daemon did not log the pickup"
if grep -q 'reloading configuration' "$TMP/client.log"; then die "the pickup went through a configuration reload"; fi
grep -q "local.sources:2: unknown option \`burst\`; line skipped" "$TMP/client.log" ||
    die "the malformed line was not reported with file and line"
say "client daemon (PID $CLIENT_PID, never reloaded) selected 192.0.2.1 and is synchronised $SYNCED s after the lease; the malformed line of local.sources was reported and skipped"

# Releasing the lease (SIGUSR2) deconfigures: the hook removes the file, the daemon the source.
kill -USR2 "$UDHCPC_PID"
for _ in $(seq 50); do
    [ ! -e "$TMP/c-sources/udhcpc.c10.sources" ] && [ "$(sources | json 'len(d["sources"])')" = 0 ] && break
    sleep 0.2
done
[ ! -e "$TMP/c-sources/udhcpc.c10.sources" ] || die "the hook kept the sources file after the lease ended"
[ "$(sources | json 'len(d["sources"])')" = 0 ] || die "the client daemon kept the source after the lease ended: $(sources)"
say "lease released: sources file removed, the daemon dropped 192.0.2.1"

# ---------------------------------------------------------------- vlan-10 again, with ISC dhclient
# The real dhclient runs its script with only the lease's variables: the
# script stands in for dhclient-script (the address) and sources the
# project's exit hook as dhclient-script does.
cat >"$TMP/dhclient.conf" <<'EOF'
request subnet-mask, broadcast-address, routers, ntp-servers;
EOF
cat >"$TMP/dhclient-script.sh" <<EOF
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
SIMPLE_NTPD_SOURCES_DIRECTORY="$TMP/c-sources"
case "\$reason" in
    BOUND|RENEW|REBIND|REBOOT) ip addr replace "\$new_ip_address/24" dev "\$interface" ;;
    EXPIRE|FAIL|RELEASE|STOP) ip -4 addr flush dev "\$interface" ;;
esac
echo "\$reason ntp=\${new_ntp_servers:-}" >>"$TMP/dhclient-reasons.log"
. "$PWD/deploy/dhcp/dhclient-exit-hook"
EOF
chmod 755 "$TMP/dhclient-script.sh"
DHCLIENT=(dhclient -4 -sf "$TMP/dhclient-script.sh" -cf "$TMP/dhclient.conf" -lf "$TMP/dhclient.leases" -pf "$TMP/dhclient.pid")
ip netns exec "$C" "${DHCLIENT[@]}" -d -1 c10 >"$TMP/dhclient.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    [ -s "$TMP/c-sources/dhclient.c10.sources" ] && break
    sleep 0.2
done
grep -qx 'server 192.0.2.1 iburst' "$TMP/c-sources/dhclient.c10.sources" ||
    die "the dhclient hook did not write vlan-10's server: $(cat "$TMP/dhclient-reasons.log" 2>/dev/null)"
for _ in $(seq 60); do
    state=$(sources | json '[s["state"] for s in d["sources"] if (s["address"] or "").startswith("192.0.2.1")]' 2>/dev/null || true)
    [ "$state" = "['selected']" ] && break
    sleep 1
done
[ "$state" = "['selected']" ] || die "the client did not select 192.0.2.1 from dhclient's lease: $(sources)"
ip netns exec "$C" "${DHCLIENT[@]}" -r c10 >>"$TMP/dhclient.log" 2>&1 || die "dhclient -r failed"
for _ in $(seq 50); do
    [ ! -e "$TMP/c-sources/dhclient.c10.sources" ] && [ "$(sources | json 'len(d["sources"])')" = 0 ] && break
    sleep 0.2
done
[ ! -e "$TMP/c-sources/dhclient.c10.sources" ] || die "the dhclient hook kept the file after RELEASE"
[ "$(sources | json 'len(d["sources"])')" = 0 ] || die "the daemon kept dhclient's source after RELEASE: $(sources)"
say "ISC dhclient: option 42 = 192.0.2.1 through the exit hook, selected by the same daemon; released and dropped"

# ---------------------------------------------------------------- DHCPv6 option 56
# dhclient -6 asks for option 56 (RFC 5908) and hands it to its script as
# hex; it must hold suboption 1 (server address) = the router's vlan-10 address.
cat >"$TMP/dhclient6.conf" <<'EOF'
option dhcp6.ntp-server code 56 = string;
also request dhcp6.ntp-server;
EOF
cat >"$TMP/dhclient6-script.sh" <<EOF
#!/bin/sh
echo "\$reason \${new_dhcp6_ntp_server:-}" >>"$TMP/dhclient6-reasons.log"
EOF
chmod 755 "$TMP/dhclient6-script.sh"
for _ in $(seq 50); do
    [ -n "$(in_ns "$C" ip -6 addr show dev c10 scope link -tentative)" ] && break
    sleep 0.2
done
ip netns exec "$C" dhclient -6 -d -1 -sf "$TMP/dhclient6-script.sh" -cf "$TMP/dhclient6.conf" \
    -lf "$TMP/dhclient6.leases" -pf "$TMP/dhclient6.pid" c10 >"$TMP/dhclient6.log" 2>&1 &
DHCLIENT6_PID=$!
PIDS+=($DHCLIENT6_PID)
for _ in $(seq 100); do
    grep -q '^BOUND6 ' "$TMP/dhclient6-reasons.log" 2>/dev/null && break
    sleep 0.2
done
kill "$DHCLIENT6_PID" 2>/dev/null || true
/usr/bin/python3 - "$TMP/dhclient6-reasons.log" <<'EOF' || die "DHCPv6 option 56 is not the router's address: $(cat "$TMP/dhclient6-reasons.log" 2>/dev/null)"
import ipaddress, sys
line = [l for l in open(sys.argv[1]) if l.startswith("BOUND6 ")][0].split(None, 1)[1].strip().strip('"')
data = bytes(int(x, 16) for x in line.split(":"))
servers = []
while len(data) >= 4:
    code, n = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
    if code == 1 and n == 16:
        servers.append(str(ipaddress.IPv6Address(data[4:20])))
    data = data[4 + n:]
assert servers == ["2001:db8:10::1"], servers
print("dhcp-dns: DHCPv6 option 56, suboption 1 (server address):", servers[0])
EOF

# ---------------------------------------------------------------- dhclient and NetworkManager hooks
# Not run by their clients here: driven with the variables those clients set.
H="$TMP/hook-sources"
for reason in BOUND EXPIRE; do
    env -i PATH="$PATH" SIMPLE_NTPD_SOURCES_DIRECTORY="$H" reason=$reason interface=eth1 \
        new_ntp_servers="192.0.2.7 198.51.100.7" sh -c '. deploy/dhcp/dhclient-exit-hook'
    if [ $reason = BOUND ]; then
        [ "$(grep -c '^server .* iburst$' "$H/dhclient.eth1.sources")" = 2 ] || die "dhclient hook: $(cat "$H/dhclient.eth1.sources")"
    else
        [ ! -e "$H/dhclient.eth1.sources" ] || die "dhclient hook kept the file after EXPIRE"
    fi
done
env -i PATH="$PATH" SIMPLE_NTPD_SOURCES_DIRECTORY="$H" DHCP4_NTP_SERVERS="192.0.2.8" deploy/dhcp/networkmanager-dispatcher eth2 up
grep -qx 'server 192.0.2.8 iburst' "$H/networkmanager.eth2.sources" || die "NetworkManager hook did not write eth2's server"
env -i PATH="$PATH" SIMPLE_NTPD_SOURCES_DIRECTORY="$H" deploy/dhcp/networkmanager-dispatcher eth2 down
[ ! -e "$H/networkmanager.eth2.sources" ] || die "NetworkManager hook kept the file after down"
[ -z "$(ls -A "$H")" ] || die "hooks left files behind: $(ls -A "$H")"
say "dhclient and NetworkManager hooks write and remove their files as udhcpc's does"

# ---------------------------------------------------------------- DNS
bash scripts/suites/dhcp-dns/bind.sh "$BIN" "$TMP"

say "passed in $((SECONDS - START)) s"
