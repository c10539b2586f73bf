#!/usr/bin/env bash
# bench/ab-vlan.sh — interleaved A/B of the serving path: a baseline binary (MAIN, e.g. a
# build of the commit before the per-VLAN work) against this build (BRANCH), plain and with
# three [[vlan_config]] entries (the loopback interface with its own access rules and rate
# limit setting, a clients-only and a disabled VLAN). Each server runs pinned to core 0 on
# the wildcard address (the IP_PKTINFO path that gives the arrival interface), ntp-bench on
# core 1, closed loop 64 in flight, DURATION s after 1 s warm-up, ROUNDS rounds with the
# order rotated per round. Prints per run: name, replies/s, replies, server CPU µs per
# reply (utime + stime over the run). Compare per-round ratios; on a loaded machine the
# CPU time per reply is the steadier figure.
#
#   MAIN=/path/to/baseline/simple-ntpd [BRANCH=target/release/simple-ntpd] \
#   [NTP_BENCH=target/release/ntp-bench] [ROUNDS=6 DURATION=4] bash bench/ab-vlan.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${NTP_BENCH:-$ROOT/target/release/ntp-bench}
MAIN=${MAIN:?set MAIN to the baseline simple-ntpd binary}
BRANCH=${BRANCH:-$ROOT/target/release/simple-ntpd}
ROUNDS=${ROUNDS:-6}; DURATION=${DURATION:-4}
D=$(mktemp -d /tmp/vlan-ab.$$.XXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$D"' EXIT
base='[network]
listen_address = "0.0.0.0"
listen_port = PORT
[ntp_server]
stratum = 2
[performance]
worker_threads = 1
[logging]
level = "WARN"
'
vlan='[[vlan_config]]
vlan_ref = "lo"
access = [{ network = "127.0.0.0/8", permission = "allow" }]
ratelimit = { enabled = false }
[[vlan_config]]
vlan_ref = "iot"
interface = "vlan-20"
clients_only = true
[[vlan_config]]
vlan_ref = "vlan-30"
enabled = false
'
run() { # name bin extra
  local port=$((20000 + RANDOM % 20000))
  printf '%s%s' "${base/PORT/$port}" "$3" > "$D/$1.toml"
  taskset -c 0 "$2" run -c "$D/$1.toml" > "$D/$1.log" 2>&1 & PID=$!
  sleep 1.5
  local r t0 t1
  t0=$(awk '{print $14+$15}' /proc/$PID/stat)
  "$BENCH" --server "127.0.0.1:$port" --pin-cpu 1 --sources 1 --json --in-flight 64 --duration "$DURATION" --warmup 1 2>/dev/null | tail -1 > "$D/r.json"
  t1=$(awk '{print $14+$15}' /proc/$PID/stat)
  r=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); t=(int(sys.argv[2])-int(sys.argv[3]))/100; print(round(j["reply_rate"]), j["matched"], round(t*1e6/max(j["matched"],1),2))' "$D/r.json" "$t1" "$t0")
  kill $PID; wait $PID 2>/dev/null; PID=
  echo "$1 $r"
}
names=(main branch branch+vlan)
for i in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2; do
    j=$(( (k + i) % 3 ))
    case ${names[$j]} in
      main) run main "$MAIN" "";;
      branch) run branch "$BRANCH" "";;
      branch+vlan) run branch+vlan "$BRANCH" "$vlan";;
    esac
  done
done
