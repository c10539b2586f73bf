#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), without a cluster:
#
#  1. every overlay (and the base) renders with `kubectl kustomize` and passes
#     `kubernetes-validate --strict` for Kubernetes 1.32 (PyPI, in a venv);
#  2. scripts/deploy-checks/manifests.py: seed 001's invariant (the same
#     Deployment in dev, test and prod but for replicas, resources and the
#     environment's log level and thresholds), the prod serving tier and the
#     node clock as the issue describes them, selectors, probes, the image;
#  3. every TOML document in a rendered ConfigMap, and each pod's files in
#     the order it loads them, pass `simple-ntpd config check` without a
#     warning; an `images:` override replaces the image everywhere;
#  4. the prod pod as rendered, run for real: in a network namespace with the
#     pod's sysctl, as its uid with no capability, loading its ConfigMap files
#     (an extra file swaps pool.ntp.org for an upstream simple-ntpd on the
#     pod's loopback) and the token of the optional Secret; a second
#     namespace plays the node and the monitoring network (documentation
#     addresses, veth): kubelet probes, a scrape with and without the token,
#     and NTP queries over IPv4 and IPv6.
#
# kubectl (1.32, with kustomize) must be on the PATH; everything else is
# installed here. Needs root (network namespaces, setpriv).
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=kubernetes
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

command -v kubectl >/dev/null 2>&1 || die "kubectl not found: it renders the kustomizations (kubectl 1.32 or later)"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, setpriv)"
say "using $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
install_packages curl iproute2 util-linux
VENV="$PEERS_DIR/venv-deploy-checks"
ensure_venv "$VENV" kubernetes-validate==1.37.0
PY="$VENV/bin/python"

cargo build --quiet --locked -p simple-ntpd --bin simple-ntpd
BIN="${CARGO_TARGET_DIR:-target}/debug/simple-ntpd"
# The daemons run with a clean environment: the test scripts' own
# SIMPLE_NTPD_* variables would be read as configuration. The interlock
# against writing the kernel clock stays.
CLEAN_ENV=(env -i "PATH=$PATH" NTPD_TEST_READ_ONLY_CLOCK=1)
VERSION=$(cargo metadata --format-version 1 --no-deps | "$PY" -c \
    'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="simple-ntpd"))')

WORK=$(mktemp -d /tmp/simple-ntpd-kubernetes.XXXXXX)
chmod 755 "$WORK"
PIDS=()
NAMESPACES=()
IMAGE_TEST="${CARGO_TARGET_DIR:-target}/kubernetes-image-test.$$"
cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK" "$IMAGE_TEST"
}
trap cleanup EXIT

# ------------------------------------------------------------ 1. render, validate
OVERLAYS=(dev test prod node-clock)
kubectl kustomize deploy/kubernetes/base >"$WORK/base.yaml"
for o in "${OVERLAYS[@]}"; do
    kubectl kustomize "deploy/kubernetes/overlays/$o" >"$WORK/$o.yaml"
    say "rendered $o: $(grep -c '^kind:' "$WORK/$o.yaml") objects ($(grep '^kind:' "$WORK/$o.yaml" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $3; sep=", "}'))"
done
for o in base "${OVERLAYS[@]}"; do
    # Exit 1 on a schema error; kinds without a bundled schema (the
    # Prometheus Operator's CRDs) are only warned about.
    "$VENV/bin/kubernetes-validate" --strict --quiet -k 1.32.0 "$WORK/$o.yaml" \
        || die "$o does not validate against Kubernetes 1.32"
    say "$o validates (kubernetes-validate --strict -k 1.32.0)"
done

# ------------------------------------------------------------ 2. invariants
"$PY" scripts/deploy-checks/manifests.py "$WORK" "$WORK/config" "$VERSION"

# ------------------------------------------------------------ 3. configuration
checked=0
while IFS= read -r file; do
    out=$("$BIN" config check --no-env "$file" 2>&1) || die "config check $file: $out"
    case "$out" in *"(0 warning(s))"*) ;; *) die "config check $file warns: $out" ;; esac
    checked=$((checked + 1))
done < <(find "$WORK/config" -name '*.toml' | sort)
for o in base "${OVERLAYS[@]}"; do
    while IFS= read -r loads; do
        IFS=: read -r -a files <<<"$loads"
        out=$("$BIN" config check --no-env "${files[@]}" 2>&1) || die "config check of $o's pod files: $out"
        case "$out" in *"(0 warning(s))"*) ;; *) die "$o's pod configuration warns: $out" ;; esac
        checked=$((checked + 1))
    done <"$WORK/config/$o.loads"
done
say "simple-ntpd config check: $checked files and pod configurations OK, no warnings"

# The customisations deploy/kubernetes/README.md shows: another image, and
# the PodMonitor sending the optional Secret's token.
mkdir -p "$IMAGE_TEST"
cat >"$IMAGE_TEST/kustomization.yaml" <<'EOF'
resources:
  - ../../deploy/kubernetes/overlays/prod
images:
  - name: simple-ntpd
    newName: registry.example.net/ntp/simple-ntpd
    newTag: "9.9"
patches:
  - target: {kind: PodMonitor, name: simple-ntpd}
    patch: |
      - op: add
        path: /spec/podMetricsEndpoints/0/authorization
        value: {type: Bearer, credentials: {name: simple-ntpd-monitoring, key: token}}
EOF
kubectl kustomize "$IMAGE_TEST" >"$WORK/customised.yaml"
images=$(grep 'image:' "$WORK/customised.yaml" | sort -u | tr -s ' ')
[ "$images" = " image: registry.example.net/ntp/simple-ntpd:9.9" ] || die "images: override not applied: $images"
grep -A4 'authorization:' "$WORK/customised.yaml" | grep 'name: simple-ntpd-monitoring' >/dev/null \
    || die "the PodMonitor token patch of the README does not apply"
say "the README's customisations render: $images, PodMonitor with the token"

# ------------------------------------------------------------ 4. the prod pod, run
# shellcheck disable=SC1091
. "$WORK/config/prod.pod"
POD_NS="sntpd-k8s-$$-pod"
NODE_NS="sntpd-k8s-$$-node"
NAMESPACES=("$POD_NS" "$NODE_NS")
POD_V4=192.0.2.10 NODE_V4=192.0.2.1 POD_V6=2001:db8:1::10 NODE_V6=2001:db8:1::1
ip netns add "$POD_NS"
ip netns add "$NODE_NS"
ip link add "vp$$" netns "$POD_NS" type veth peer name "vn$$" netns "$NODE_NS"
ip -n "$POD_NS" addr add "$POD_V4/24" dev "vp$$"
ip -n "$POD_NS" addr add "$POD_V6/64" dev "vp$$" nodad
ip -n "$NODE_NS" addr add "$NODE_V4/24" dev "vn$$"
ip -n "$NODE_NS" addr add "$NODE_V6/64" dev "vn$$" nodad
for ns in "$POD_NS" "$NODE_NS"; do
    ip -n "$ns" link set lo up
done
ip -n "$POD_NS" link set "vp$$" up
ip -n "$NODE_NS" link set "vn$$" up
for s in $POD_SYSCTLS; do
    ip netns exec "$POD_NS" sh -c "echo '${s#*=}' > /proc/sys/$(echo "${s%%=*}" | tr . /)"
done

cat >"$WORK/upstream.toml" <<'EOF'
[network]
listen_address = "127.0.0.1"
listen_port = 1123
[ntp_server]
stratum = 1
[monitoring]
enabled = false
EOF
# The pod's own files, then one that replaces pool.ntp.org (unreachable
# here) with the upstream on the pod's loopback.
cat >"$WORK/test-sources.toml" <<'EOF'
[sources]
pools = []
[[sources.servers]]
address = "127.0.0.1:1123"
iburst = true
minpoll = 0
maxpoll = 1
EOF
chmod -R a+rX "$WORK"
ip netns exec "$POD_NS" "${CLEAN_ENV[@]}" "$BIN" run -c "$WORK/upstream.toml" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
TOKEN="token-from-the-optional-secret"
ip netns exec "$POD_NS" setpriv --reuid="$POD_USER" --regid="$POD_GROUP" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs \
    "${CLEAN_ENV[@]}" "SIMPLE_NTPD_CONFIG=$(head -n 1 "$WORK/config/prod.loads"):$WORK/test-sources.toml" \
    "SIMPLE_NTPD_MONITORING_TOKEN=$TOKEN" "$BIN" run >"$WORK/pod.log" 2>&1 &
POD_PID=$!
PIDS+=("$POD_PID")

http() { # http URL [TOKEN] -> status code, from the node namespace
    local auth=()
    [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $2")
    ip netns exec "$NODE_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "${auth[@]}" "$1" || true
}
ready=""
for _ in $(seq 1 60); do
    ready=$(http "http://$POD_V4:$POD_READINESS_PORT$POD_READINESS")
    [ "$ready" = 200 ] && break
    kill -0 "$POD_PID" 2>/dev/null || { cat "$WORK/pod.log" >&2; die "the pod's daemon exited"; }
    sleep 0.5
done
if [ "$ready" != 200 ]; then
    tail -n 30 "$WORK/upstream.log" "$WORK/pod.log" >&2
    die "readiness probe $POD_READINESS answered $ready, not 200, within 30 s"
fi
status=$(grep -E '^(Uid|CapEff):' "/proc/$POD_PID/status" | tr -s '\t ' ' ')
case "$status" in
    *"Uid: $POD_USER $POD_USER $POD_USER $POD_USER"*"CapEff: 0000000000000000"*) ;;
    *) die "the pod's daemon runs with $status" ;;
esac
say "the pod's daemon serves port $POD_NTP_PORT as uid $POD_USER with no capability"
for url in "http://$POD_V4:$POD_LIVENESS_PORT$POD_LIVENESS" "http://[$POD_V6]:$POD_LIVENESS_PORT$POD_LIVENESS" \
    "http://[$POD_V6]:$POD_READINESS_PORT$POD_READINESS"; do
    code=$(http "$url")
    [ "$code" = 200 ] || die "probe $url from the node answered $code"
done
say "kubelet probes from the node ($NODE_V4, $NODE_V6): $POD_LIVENESS and $POD_READINESS answer 200"
code=$(http "http://$POD_V4:$POD_METRICS_PORT/metrics")
[ "$code" = 401 ] || die "/metrics without the token answered $code, not 401"
code=$(http "http://$POD_V4:$POD_METRICS_PORT/metrics" "$TOKEN")
[ "$code" = 200 ] || die "/metrics with the token answered $code, not 200"
ip netns exec "$NODE_NS" curl -s --max-time 3 -H "Authorization: Bearer $TOKEN" \
    "http://$POD_V4:$POD_METRICS_PORT/metrics" | grep -x 'ntp_sync 1' >/dev/null || die "the scraped pod is not synchronised"
grep -q "monitoring.allow has no effect while monitoring.token is set" "$WORK/pod.log" \
    || die "the pod did not warn that the token overrides monitoring.allow"
say "a scrape from $NODE_V4: 401 without the Secret's token, 200 and ntp_sync 1 with it"
for server in "$POD_V4" "[$POD_V6]:$POD_NTP_PORT"; do
    out=$(ip netns exec "$NODE_NS" "${CLEAN_ENV[@]}" "$BIN" query "$server" --timeout 3 2>&1) || die "NTP query of $server: $out"
    echo "$out" | grep "stratum *2" >/dev/null || die "NTP query of $server: $out"
done
say "NTP over IPv4 and IPv6 from the node: stratum 2, synchronised"
# The peak resident memory against the container's limit (a debug build
# here, larger than the release build the image ships).
case "$POD_MEMORY_LIMIT" in
    *Mi) limit_kb=$((${POD_MEMORY_LIMIT%Mi} * 1024)) ;;
    *) die "memory limit $POD_MEMORY_LIMIT is not in Mi" ;;
esac
peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$POD_PID/status")
[ "$peak_kb" -lt "$limit_kb" ] || die "the pod's daemon peaked at $peak_kb kB, over its $POD_MEMORY_LIMIT limit"
say "peak resident memory $((peak_kb / 1024)) MiB of the $POD_MEMORY_LIMIT limit"
say "passed"
