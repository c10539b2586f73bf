#!/usr/bin/env python3
"""Checks the alerting rules (deploy/monitoring/alerts.yaml) beyond what
promtool checks.

    alerts.py static ALERTS TESTS OPERATIONS_MD RENDERED_YAML...
        every alert has a severity, summary, description and a runbook
        annotation naming a section of docs/operations.md that exists; the
        promtool unit tests make every alert fire at least once and stay
        quiet at least once; every PrometheusRule object in the rendered
        overlays carries exactly the groups of alerts.yaml.
    alerts.py live ALERTS PROMETHEUS_URL EXPECTED
        against a Prometheus that loaded ALERTS and scrapes live daemons:
        every rule is loaded and evaluates without error, every metric an
        alert reads exists, and the alerts pending or firing are exactly
        EXPECTED (comma-separated alertname/state/instance; may be empty).
"""

import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

SEVERITIES = {"warning", "critical"}
METRIC = re.compile(r"\b(ntp_[a-z_]+|up|process_[a-z_]+)\b")


def rules(path):
    groups = yaml.safe_load(Path(path).read_text())["groups"]
    return groups, [r for g in groups for r in g["rules"] if "alert" in r]


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def static(alerts_path, tests_path, operations_path, rendered):
    failures = []
    groups, alerts = rules(alerts_path)
    headings = {anchor(h) for h in re.findall(r"^#{2,4} (.+)$", Path(operations_path).read_text(), re.M)}
    for a in alerts:
        name, ann = a["alert"], a.get("annotations", {})
        if a.get("labels", {}).get("severity") not in SEVERITIES:
            failures.append(f"{name}: severity is not one of {sorted(SEVERITIES)}")
        for key in ("summary", "description"):
            if not ann.get(key, "").strip():
                failures.append(f"{name}: no {key}")
        runbook = ann.get("runbook", "")
        if runbook != f"docs/operations.md#{name.lower()}":
            failures.append(f"{name}: runbook annotation {runbook!r}")
        elif name.lower() not in headings:
            failures.append(f"{name}: docs/operations.md has no section #{name.lower()}")
    fired, quiet, cases = set(), set(), 0
    for test in yaml.safe_load(Path(tests_path).read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases += 1
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {a["alert"] for a in alerts}
    for name in sorted(names - fired):
        failures.append(f"{name}: no unit test makes it fire")
    for name in sorted(names - quiet):
        failures.append(f"{name}: no unit test expects it to stay quiet")
    objects = 0
    for path in rendered:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if doc and doc.get("kind") == "PrometheusRule":
                if doc["spec"]["groups"] == groups:
                    objects += 1
                else:
                    failures.append(f"{path}: PrometheusRule {doc['metadata']['name']} differs from alerts.yaml")
    if objects == 0:
        failures.append("no PrometheusRule in the rendered overlays")
    for f in failures:
        print(f"alerts: FAILED: {f}", file=sys.stderr)
    print(f"alerts: {len(alerts)} alerts, each with a runbook section, firing and quiet in {cases} unit test "
          f"cases; {objects} rendered PrometheusRule objects equal alerts.yaml")
    return 1 if failures else 0


def api(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def live(alerts_path, base, expected):
    failures = []
    _, alerts = rules(alerts_path)
    loaded = {r["name"]: r for g in api(base, "/api/v1/rules")["groups"] for r in g["rules"]}
    for a in alerts:
        r = loaded.get(a["alert"])
        if r is None:
            failures.append(f"{a['alert']}: not loaded by Prometheus")
        elif r.get("health") != "ok" or r.get("lastError"):
            failures.append(f"{a['alert']}: health {r.get('health')}, error {r.get('lastError')!r}")
    metrics = sorted({m for a in alerts for m in METRIC.findall(a["expr"])})
    for m in metrics:
        if not api(base, "/api/v1/query", query=f'count({{__name__="{m}"}})')["result"]:
            failures.append(f"metric {m} (read by an alert) is not in the live scrape")
    active = sorted(
        f"{a['labels']['alertname']}/{a['state']}/{a['labels'].get('instance', '')}"
        for a in api(base, "/api/v1/alerts")["alerts"]
    )
    want = sorted(e for e in expected.split(",") if e)
    if active != want:
        failures.append(f"alerts pending or firing: {active}, expected {want}")
    for f in failures:
        print(f"alerts: FAILED: {f}", file=sys.stderr)
    print(f"alerts: {len(loaded)} rules loaded and healthy; the {len(metrics)} metrics they read are scraped "
          f"({', '.join(metrics)}); active: {active or 'none'}")
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "static":
        return static(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) == 5 and argv[1] == "live":
        return live(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
