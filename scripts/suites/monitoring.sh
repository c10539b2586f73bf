#!/usr/bin/env bash
# The alerting rules (deploy/monitoring) and the Grafana dashboards
# (deploy/grafana):
#
#  1. the generated files are current: prometheusrule.yaml from alerts.yaml,
#     dashboards/*.json from generate.py;
#  2. `promtool check rules` and `promtool test rules` (every alert fires and
#     stays quiet in its unit tests); scripts/deploy-checks/alerts.py: each
#     alert's runbook section exists in docs/operations.md, and the
#     PrometheusRule objects of the rendered overlays equal alerts.yaml;
#  3. the dashboards' structure (scripts/deploy-checks/dashboards.py);
#  4. a real Prometheus (Debian's, unpacked) on loopback with a 1 s scrape
#     interval and alerts.yaml scrapes live daemons: an upstream simple-ntpd
#     serving NTP and NTS and a second one following it over NTS with the
#     virtual clock (the system clock is never touched), plus a target where
#     nothing listens. Every rule loads and evaluates cleanly, every metric an
#     alert reads is scraped, exactly the two up-based alerts are pending for
#     the dead target and nothing else, and every dashboard query is valid
#     PromQL that returns data (but the one allowed to be empty, with why).
#
# Loopback only: a random 127.x.y.z address per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=monitoring
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

command -v kubectl >/dev/null 2>&1 || die "kubectl not found: it renders the kustomizations (kubectl 1.32 or later)"
install_packages curl openssl
ensure_prometheus
PROMTOOL="$PROMETHEUS_DIR/usr/bin/promtool"
PROMETHEUS="$PROMETHEUS_DIR/usr/bin/prometheus"
VENV="$PEERS_DIR/venv-deploy-checks"
ensure_venv "$VENV" kubernetes-validate==1.37.0
PY="$VENV/bin/python"
cargo build --quiet --locked -p simple-ntpd --bin simple-ntpd
BIN="$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug/simple-ntpd"
# The daemons run with a clean environment: the test scripts' own
# SIMPLE_NTPD_* variables would be read as configuration. The interlock
# against writing the kernel clock stays.
CLEAN_ENV=(env -i "PATH=$PATH" NTPD_TEST_READ_ONLY_CLOCK=1)

WORK=$(mktemp -d /tmp/simple-ntpd-monitoring.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------ 1. generated files
bash deploy/monitoring/generate.sh --check
/usr/bin/python3 deploy/grafana/generate.py --check
say "prometheusrule.yaml and dashboards/*.json are current"

# ------------------------------------------------------------ 2. rules
"$PROMTOOL" check rules deploy/monitoring/alerts.yaml
(cd deploy/monitoring && "$PROMTOOL" test rules alerts.test.yaml)
for o in test prod node-clock; do
    kubectl kustomize "deploy/kubernetes/overlays/$o" >"$WORK/$o.yaml"
done
"$PY" scripts/deploy-checks/alerts.py static deploy/monitoring/alerts.yaml deploy/monitoring/alerts.test.yaml \
    docs/operations.md "$WORK/test.yaml" "$WORK/prod.yaml" "$WORK/node-clock.yaml"

# ------------------------------------------------------------ 3. dashboards
"$PY" scripts/deploy-checks/dashboards.py structure deploy/grafana/dashboards

# ------------------------------------------------------------ 4. live
ADDR="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
say "live daemons and Prometheus on $ADDR"
(
    cd "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=simple-ntpd test CA" \
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
cat >"$WORK/upstream.toml" <<EOF
[network]
listen_address = "$ADDR"
listen_port = 1123
[ntp_server]
stratum = 1
[security.nts]
enabled = true
ke_listen = "$ADDR:4460"
certificate_chain = "$WORK/chain.pem"
private_key = "$WORK/key.pem"
key_directory = "$WORK/nts-keys"
[monitoring]
listen = "$ADDR:9559"
EOF
cat >"$WORK/follower.toml" <<EOF
[network]
listen_address = "$ADDR"
listen_port = 1124
[[sources.servers]]
address = "$ADDR:4460"
nts = true
ca = "$WORK/ca.pem"
iburst = true
minpoll = 0
maxpoll = 1
[clock]
discipline = "virtual"
[monitoring]
listen = "$ADDR:9560"
EOF
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $(pwd)/deploy/monitoring/alerts.yaml
scrape_configs:
  - job_name: simple-ntpd
    static_configs:
      # The upstream, the follower, and an address where nothing listens.
      - targets: ["$ADDR:9559", "$ADDR:9560", "$ADDR:9561"]
EOF
"${CLEAN_ENV[@]}" "$BIN" run -c "$WORK/upstream.toml" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
"${CLEAN_ENV[@]}" "$BIN" run -c "$WORK/follower.toml" >"$WORK/follower.log" 2>&1 &
PIDS+=($!)
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="$ADDR:9090" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM="http://$ADDR:9090"

query() { # query PROMQL -> number of series in the result
    curl -s --max-time 5 --get --data-urlencode "query=$1" "$PROM/api/v1/query" \
        | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))' 2>/dev/null || echo 0
}
wait_for() { # wait_for SECONDS WHAT PROMQL: until PROMQL returns a series
    local i
    for i in $(seq 1 $(($1 * 2))); do
        [ "$(query "$3")" -gt 0 ] && return 0
        sleep 0.5
    done
    tail -n 20 "$WORK"/*.log >&2
    die "$2 (no result for $3 within $1 s)"
}
wait_for 30 "Prometheus never scraped the daemons" "up{instance=\"$ADDR:9559\"} == 1"
# Traffic for the client panels: queries, a too-short datagram each, and a
# connection to NTS-KE that is no TLS (a key-exchange failure).
for port in 1123 1124; do
    for _ in 1 2 3; do "${CLEAN_ENV[@]}" "$BIN" query "$ADDR:$port" --timeout 2 >/dev/null 2>&1 || true; done
    printf 'x' >"/dev/udp/$ADDR/$port"
done
exec 3<>"/dev/tcp/$ADDR/4460"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
exec 3>&-
wait_for 40 "the follower never synchronised over NTS" "ntp_sync{instance=\"$ADDR:9560\"} == 1"
wait_for 20 "no NTS-KE failure was counted" "ntp_nts_ke_failures_total{reason=\"error\"} > 0"
wait_for 30 "too few samples" "count_over_time(ntp_sync{instance=\"$ADDR:9560\"}[1m]) >= 15"
# Rules evaluate every second: give pending alerts of the start-up (not yet
# synchronised) two evaluations to resolve.
sleep 2

"$PY" scripts/deploy-checks/alerts.py live deploy/monitoring/alerts.yaml "$PROM" \
    "NtpTargetDown/pending/$ADDR:9561,NtpAvailabilityLow/pending/$ADDR:9561"
"$PY" scripts/deploy-checks/dashboards.py live deploy/grafana/dashboards "$PROM"
say "passed"
