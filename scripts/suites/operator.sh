#!/usr/bin/env bash
# The operator's manifests and rendered objects, without a cluster:
#
#  1. `simple-ntpd crd` prints exactly deploy/kubernetes/crd/*.yaml;
#  2. deploy/kubernetes/crd and deploy/kubernetes/operator (CRDs, RBAC,
#     the operator's Deployment) render with `kubectl kustomize` and pass
#     `kubernetes-validate --strict` for Kubernetes 1.32;
#  3. `simple-ntpd operator render` of seed 002's NTPService, of a serving
#     tier (Deployment, HPA, PDB, cert-manager Certificate) with an
#     NTPClient, and of a disabled resource passes the same validation, and
#     each ConfigMap's configuration passes `simple-ntpd config check`.
#
# kubectl (with kustomize) must be on the PATH, as for the kubernetes suite;
# kubernetes-validate is installed here (PyPI, in a venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=operator
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

command -v kubectl >/dev/null 2>&1 || die "kubectl not found: it renders the kustomizations (kubectl 1.32 or later)"
VENV="$PEERS_DIR/venv-deploy-checks"
ensure_venv "$VENV" kubernetes-validate==1.37.0
PY="$VENV/bin/python"
VALIDATE=("$VENV/bin/kubernetes-validate" --strict --quiet -k 1.32.0)

# Both programs: `simple-ntpd operator` and `simple-ntpd crd` run the operator beside it.
cargo build --quiet --locked -p simple-ntpd --bin simple-ntpd -p simple-ntpd-operator --bin simple-ntpd-operator
BIN="${CARGO_TARGET_DIR:-target}/debug/simple-ntpd"

WORK=$(mktemp -d /tmp/simple-ntpd-operator.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# What the NTS certificate Secret mounts at /etc/simple-ntpd-nts in a pod.
install_packages openssl
mkdir -p "$WORK/nts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ntp.example.net \
    -addext subjectAltName=DNS:ntp.example.net -keyout "$WORK/nts/tls.key" -out "$WORK/nts/tls.crt" 2>/dev/null

# ------------------------------------------------------------ 1. the CRDs
"$BIN" crd >"$WORK/crd.yaml"
{ cat deploy/kubernetes/crd/ntpservices.yaml; echo ---; cat deploy/kubernetes/crd/ntpclients.yaml; } >"$WORK/crd-files.yaml"
cmp -s "$WORK/crd.yaml" "$WORK/crd-files.yaml" \
    || die "deploy/kubernetes/crd differs from \`simple-ntpd crd\`: UPDATE_CRDS=1 cargo test -p ntp-operator --test crd"
say "simple-ntpd crd = deploy/kubernetes/crd ($(grep -c '^kind: CustomResourceDefinition' "$WORK/crd.yaml") definitions)"

# ------------------------------------------------------------ 2. manifests
for dir in crd operator; do
    kubectl kustomize "deploy/kubernetes/$dir" >"$WORK/$dir.yaml"
    "${VALIDATE[@]}" "$WORK/$dir.yaml" || die "deploy/kubernetes/$dir does not validate"
    say "deploy/kubernetes/$dir validates (kubernetes-validate --strict -k 1.32.0)"
done

# ------------------------------------------------------------ 3. rendered objects
cat >"$WORK/serving.yaml" <<'YAML'
apiVersion: ntp.fos1.io/v1alpha1
kind: NTPService
metadata:
  name: edge-ntp
  namespace: ntp
spec:
  sources:
    servers:
      - address: 192.0.2.10
        iburst: true
  security:
    nts:
      enabled: true
  kubernetes:
    workload: Deployment
    replicas: 2
    maxReplicas: 6
    serviceType: LoadBalancer
    nts:
      certManager:
        issuerName: ntp-issuer
        dnsNames: [ntp.example.net]
---
apiVersion: ntp.fos1.io/v1alpha1
kind: NTPClient
metadata:
  name: lab
  namespace: ntp
spec:
  serviceRef: edge-ntp
  networks: [198.51.100.0/24]
  permission: allow
YAML
sed 's/^  enabled: true/  enabled: false/' examples/seed002/ntpservice.yaml >"$WORK/disabled.yaml"
grep -q '^  enabled: false' "$WORK/disabled.yaml" || die "could not disable the seed 002 example"
for input in examples/seed002/ntpservice.yaml "$WORK/serving.yaml" "$WORK/disabled.yaml"; do
    name=$(basename "$input" .yaml)
    "$BIN" operator render --namespace network "$input" >"$WORK/rendered-$name.yaml" 2>"$WORK/render-$name.err" \
        || die "operator render $input: $(cat "$WORK/render-$name.err")"
    "${VALIDATE[@]}" "$WORK/rendered-$name.yaml" || die "the objects rendered for $input do not validate"
    mkdir -p "$WORK/config-$name"
    "$PY" - "$WORK/rendered-$name.yaml" "$WORK/config-$name" <<'PYTHON'
import base64, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
secrets = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "Secret"}
env = []
for doc in docs:
    if doc["kind"] == "ConfigMap":
        for key, text in doc["data"].items():
            open(f"{sys.argv[2]}/{doc['metadata']['name']}-{key}", "w").write(text)
    if doc["kind"] in ("DaemonSet", "Deployment"):
        # The container's SIMPLE_NTPD_* variables as the kubelet sets them,
        # values from the rendered Secret.
        for var in doc["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if not var["name"].startswith("SIMPLE_NTPD_") or var["name"] == "SIMPLE_NTPD_CONFIG":
                continue
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                data = secrets.get(ref["name"], {})
                if ref["key"] not in data:
                    continue
                value = base64.b64decode(data[ref["key"]]).decode()
            else:
                value = var.get("value", "")
            env.append(f"{var['name']}={value}")
open(f"{sys.argv[2]}.env", "w").write("\0".join(env) + ("\0" if env else ""))
PYTHON
    mapfile -d '' -t pod_env <"$WORK/config-$name.env"
    for file in "$WORK/config-$name"/*; do
        sed -i "s#/etc/simple-ntpd-nts/#$WORK/nts/#g" "$file"
        out=$(env -i "PATH=$PATH" "${pod_env[@]}" "$BIN" config check "$file" 2>&1) \
            || die "config check of $name's ConfigMap (with the pod's variables ${pod_env[*]%%=*}): $out"
    done
    say "$input: $(grep -c '^kind:' "$WORK/rendered-$name.yaml") objects validate; ConfigMap passes config check"
done
grep -q '^kind: DaemonSet' "$WORK/rendered-ntpservice.yaml" || die "seed 002 renders no DaemonSet"
for kind in Deployment HorizontalPodAutoscaler PodDisruptionBudget Certificate; do
    grep -q "^kind: $kind" "$WORK/rendered-serving.yaml" || die "the serving tier renders no $kind"
done
if grep -qE '^kind: (DaemonSet|Deployment)' "$WORK/rendered-disabled.yaml"; then
    die "a disabled NTPService renders a workload"
fi
say "seed 002 -> DaemonSet; serving tier -> Deployment, HPA, PDB, Certificate; disabled -> no workload"
