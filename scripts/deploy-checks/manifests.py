#!/usr/bin/env python3
"""Checks the rendered Kubernetes manifests (`kubectl kustomize` output of
deploy/kubernetes) for what schema validation cannot see, and extracts the
TOML configuration the pods load so the daemon can check it.

    manifests.py RENDERED_DIR OUT_DIR VERSION

RENDERED_DIR holds base.yaml, dev.yaml, test.yaml, prod.yaml and
node-clock.yaml. Every TOML document of every ConfigMap is written to
OUT_DIR/<overlay>/<configmap>/<key>; OUT_DIR/<overlay>.loads lists, one line
per workload, the files its container loads (SIMPLE_NTPD_CONFIG) joined by
':'; OUT_DIR/prod.pod is what running the prod pod takes (shell variables:
user, group, sysctls, probe paths and ports, memory limit). VERSION is the workspace
version; the image must be simple-ntpd:<major>.<minor>. Exits 1 with every
failed check listed.
"""

import copy
import re
import sys
import tomllib
from pathlib import Path

import yaml

OVERLAYS = ["base", "dev", "test", "prod", "node-clock"]
SERVING = ["dev", "test", "prod"]
# Seed 001: what an environment may change in the configuration.
ENVIRONMENT_KEYS = {
    "logging.level",
    "monitoring.sources_minimum",
    "monitoring.stratum_critical_above",
    "monitoring.jitter_warning_threshold",
    "monitoring.frequency_warning_threshold",
    "monitoring.offset.warning_threshold",
    "monitoring.offset.critical_threshold",
}
HASHED = re.compile(r"^(?P<name>.+)-[a-z0-9]{10}$")

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)


def load(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs, kind, name=None):
    found = find(docs, kind, name)
    check(len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0] if found else {}


def unhashed(name):
    m = HASHED.match(name)
    return m.group("name") if m else name


def leaves(table, prefix=""):
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, path + ".")
        else:
            yield path


def merge(base, layer):
    """The daemon's merge: tables key by key, everything else replaced."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def workloads(docs):
    return find(docs, "Deployment") + find(docs, "DaemonSet")


def pod_config(docs, workload, out_dir, overlay):
    """Writes the ConfigMaps' TOML files; returns (files the container loads, merged TOML)."""
    spec = workload["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    by_mount = {}
    for vol in spec.get("volumes", []):
        if "configMap" in vol and vol["name"] in mounts:
            by_mount[mounts[vol["name"]]] = vol["configMap"]["name"]
    files, merged = [], {}
    for path in env.get("SIMPLE_NTPD_CONFIG", "").split(":"):
        directory, key = path.rsplit("/", 1)
        cm = one(docs, "ConfigMap", by_mount.get(directory, "?"))
        text = cm.get("data", {}).get(key)
        check(text is not None, f"{overlay}: {path} is not in a mounted ConfigMap")
        if text is None:
            continue
        files.append(str(out_dir / overlay / cm["metadata"]["name"] / key))
        merged = merge(merged, tomllib.loads(text))
    return files, merged


def extract_toml(docs, out_dir, overlay):
    for cm in find(docs, "ConfigMap"):
        for key, text in cm.get("data", {}).items():
            if key.endswith(".toml"):
                path = out_dir / overlay / cm["metadata"]["name"] / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def check_common(docs, overlay, image):
    for d in docs:
        check(d["metadata"].get("name"), f"{overlay}: a {d['kind']} without a name")
        if overlay != "base" and d["kind"] != "Namespace":
            check(d["metadata"].get("namespace"), f"{overlay}: {d['kind']} {d['metadata']['name']} has no namespace")
    for w in workloads(docs):
        spec = w["spec"]["template"]["spec"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        check(selects(w["spec"]["selector"]["matchLabels"], labels), f"{overlay}: selector misses its own pods")
        for c in spec["containers"]:
            check(c["image"] == image, f"{overlay}: image {c['image']}, expected {image}")
            ports = {p["name"] for p in c["ports"]}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet", {})
                check(get.get("path") == path and get.get("port") in ports, f"{overlay}: {probe} is not GET {path}")
        cms = {v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v}
        check(cms <= {cm["metadata"]["name"] for cm in find(docs, "ConfigMap")}, f"{overlay}: volume of a missing ConfigMap")
        # Service links would inject SIMPLE_NTPD_SERVICE_HOST & co., which
        # the daemon reads as (unknown) configuration and refuses.
        check(spec.get("enableServiceLinks") is False, f"{overlay}: service links are on")
        check(spec.get("serviceAccountName") in {s["metadata"]["name"] for s in find(docs, "ServiceAccount")},
              f"{overlay}: missing ServiceAccount")
    pods = [w["spec"]["template"]["metadata"]["labels"] for w in workloads(docs)]
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy", "PodMonitor"):
        for d in find(docs, kind):
            sel = d["spec"].get("selector", d["spec"].get("podSelector", {}))
            sel = sel.get("matchLabels", sel)
            check(any(selects(sel, p) for p in pods), f"{overlay}: {kind} {d['metadata']['name']} selects no pod")
    for d in find(docs, "PodMonitor"):
        names = {p["name"] for w in workloads(docs) for c in w["spec"]["template"]["spec"]["containers"]
                 for p in c["ports"]}
        for ep in d["spec"]["podMetricsEndpoints"]:
            check(ep["port"] in names, f"{overlay}: PodMonitor port {ep['port']} is not a container port")
        check(d["spec"].get("jobLabel") == "app.kubernetes.io/name", f"{overlay}: PodMonitor job is not simple-ntpd")


def pod_facts(docs):
    """Shell assignments describing the prod pod, for the suite that runs it."""
    spec = one(docs, "Deployment", "simple-ntpd")["spec"]["template"]["spec"]
    c = spec["containers"][0]
    psc = spec.get("securityContext", {})
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    sysctls = " ".join(f"{s['name']}={s['value']}" for s in psc.get("sysctls", []))

    def probe(name):
        get = c[name]["httpGet"]
        return get["path"], ports.get(get["port"], get["port"])

    (live, live_port), (ready, ready_port) = probe("livenessProbe"), probe("readinessProbe")
    return "\n".join([
        f"POD_USER={psc['runAsUser']}",
        f"POD_GROUP={psc['runAsGroup']}",
        f"POD_SYSCTLS='{sysctls}'",
        f"POD_NTP_PORT={ports['ntp']}",
        f"POD_LIVENESS='{live}' POD_LIVENESS_PORT={live_port}",
        f"POD_READINESS='{ready}' POD_READINESS_PORT={ready_port}",
        f"POD_METRICS_PORT={ports['metrics']}",
        f"POD_MEMORY_LIMIT={c['resources']['limits']['memory']}",
    ]) + "\n"


def check_serving_tier(docs, merged):
    dep = one(docs, "Deployment", "simple-ntpd")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65534, "prod: not non-root uid 65534")
    check(csc.get("readOnlyRootFilesystem") is True, "prod: root filesystem is writable")
    check(csc.get("allowPrivilegeEscalation") is False, "prod: privilege escalation allowed")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc["capabilities"].get("add"),
          "prod: capabilities are not all dropped")
    check({"name": "net.ipv4.ip_unprivileged_port_start", "value": "123"} in psc.get("sysctls", []),
          "prod: port 123 is not unprivileged in the pod")
    keys = {t["topologyKey"] for t in spec.get("topologySpreadConstraints", [])}
    check({"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys, "prod: no spread over nodes and zones")
    check(merged.get("clock", {}).get("discipline") == "virtual", "prod: the clock is not virtual")
    check("replicas" not in dep["spec"], "prod: replicas in the Deployment fight the autoscaler")
    svc = one(docs, "Service", "simple-ntpd")["spec"]
    check(svc.get("type") == "LoadBalancer" and svc.get("externalTrafficPolicy") == "Local",
          "prod: Service is not a LoadBalancer with externalTrafficPolicy Local")
    check(svc.get("ipFamilyPolicy") in ("PreferDualStack", "RequireDualStack"), "prod: Service is not dual-stack")
    check([(p["port"], p["protocol"]) for p in svc["ports"]] == [(123, "UDP")], "prod: Service is not UDP/123")
    hpa = one(docs, "HorizontalPodAutoscaler", "simple-ntpd")["spec"]
    check(hpa["minReplicas"] >= 2 and hpa["maxReplicas"] == 10, "prod: autoscaler is not 2..10")
    check(hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "simple-ntpd"},
          "prod: autoscaler targets another object")
    one(docs, "PodDisruptionBudget", "simple-ntpd")
    np = one(docs, "NetworkPolicy", "simple-ntpd")["spec"]
    rules = {(p["protocol"], p["port"]): r.get("from") for r in np["ingress"] for p in r["ports"]}
    check(set(rules) == {("UDP", 123), ("TCP", 9559)}, f"prod: NetworkPolicy admits {sorted(rules)}")
    check(rules.get(("UDP", 123)) is None, "prod: NTP is not open to everyone")
    check(rules.get(("TCP", 9559)) == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}], "prod: 9559 is open beyond the monitoring namespace")
    check(any("simple-ntpd.toml" in cm.get("data", {}) for cm in find(docs, "ConfigMap")),
          "prod: no ConfigMap key simple-ntpd.toml")
    one(docs, "PodMonitor", "simple-ntpd")
    one(docs, "PrometheusRule", "simple-ntpd")
    boards = [cm for cm in find(docs, "ConfigMap") if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    check(len(boards) == 4, f"prod: {len(boards)} dashboard ConfigMaps, expected 4")


def check_node_clock(docs, merged, serving):
    ds = one(docs, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    c = spec["containers"][0]
    check(spec.get("hostNetwork") is True, "node-clock: not on the host network")
    caps = set(c.get("securityContext", {}).get("capabilities", {}).get("add", []))
    check(caps == {"SYS_TIME", "NET_BIND_SERVICE"}, f"node-clock: capabilities {sorted(caps)}")
    check(merged.get("clock", {}).get("discipline") == "system", "node-clock: does not steer the system clock")
    drift = merged.get("server", {}).get("driftfile", "")
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    mounted = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    directory = drift.rsplit("/", 1)[0]
    check(mounted.get(directory) in host, f"node-clock: drift file {drift!r} is not on a hostPath")
    keys = {t.get("key") for t in spec.get("tolerations", [])}
    check("node-role.kubernetes.io/control-plane" in keys, "node-clock: does not tolerate control-plane nodes")
    # The same container as the serving tier but for what a node clock needs.
    differs = {"securityContext", "resources", "volumeMounts", "lifecycle"}
    a = {k: v for k, v in c.items() if k not in differs}
    b = {k: v for k, v in serving.items() if k not in differs}
    check(a == b, f"node-clock: container differs from the serving tier's beyond {sorted(differs)}")


def main(argv):
    rendered, out_dir, version = Path(argv[1]), Path(argv[2]), argv[3]
    image = "simple-ntpd:" + ".".join(version.split(".")[:2])
    docs = {o: load(rendered / f"{o}.yaml") for o in OVERLAYS}
    merged = {}
    for overlay in OVERLAYS:
        check_common(docs[overlay], overlay, image)
        extract_toml(docs[overlay], out_dir, overlay)
        lines = []
        for w in workloads(docs[overlay]):
            files, merged[overlay] = pod_config(docs[overlay], w, out_dir, overlay)
            lines.append(":".join(files))
        (out_dir / f"{overlay}.loads").write_text("\n".join(lines) + "\n")

    # Seed 001: one Deployment in every environment; only replicas,
    # resources and the ConfigMap's environment.toml differ.
    def normalised(overlay):
        dep = copy.deepcopy(one(docs[overlay], "Deployment", "simple-ntpd"))
        dep["spec"].pop("replicas", None)
        for c in dep["spec"]["template"]["spec"]["containers"]:
            c.pop("resources", None)
        for v in dep["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in v:
                v["configMap"]["name"] = unhashed(v["configMap"]["name"])
        dep["metadata"].pop("namespace", None)
        return dep

    reference = normalised("base")
    for overlay in SERVING:
        check(normalised(overlay) == reference, f"seed 001: {overlay}'s Deployment differs from the base's "
              "beyond replicas and resources")
    cores = {o: one(docs[o], "ConfigMap", next(
        cm["metadata"]["name"] for cm in find(docs[o], "ConfigMap")
        if unhashed(cm["metadata"]["name"]) == "simple-ntpd-config"))["data"] for o in OVERLAYS}
    for overlay in OVERLAYS:
        check(cores[overlay]["simple-ntpd.toml"] == cores["base"]["simple-ntpd.toml"],
              f"seed 001: {overlay} changes the core simple-ntpd.toml")
    for overlay in SERVING:
        keys = set(leaves(tomllib.loads(cores[overlay]["environment.toml"])))
        check(keys <= ENVIRONMENT_KEYS, f"seed 001: {overlay}'s environment.toml sets {sorted(keys - ENVIRONMENT_KEYS)}")

    check_serving_tier(docs["prod"], merged["prod"])
    (out_dir / "prod.pod").write_text(pod_facts(docs["prod"]))
    serving = one(docs["prod"], "Deployment", "simple-ntpd")["spec"]["template"]["spec"]["containers"][0]
    check_node_clock(docs["node-clock"], merged["node-clock"], serving)

    for f in failures:
        print(f"manifests: FAILED: {f}", file=sys.stderr)
    print(f"manifests: {passed} checks passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
