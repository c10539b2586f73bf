#!/usr/bin/env python3
"""Checks the Grafana dashboards (deploy/grafana/dashboards/*.json). No
Grafana runs here, so the structure is checked against what Grafana 10+
needs, and every query runs against a real Prometheus.

    dashboards.py structure DIR
        JSON model: unique uid and title, schemaVersion >= 38 (Grafana 10),
        a `datasource` variable (Prometheus) and a multi-value `instance`
        variable read from ntp_build_info, panels with unique ids on the
        24-column grid without overlaps, every query panel on
        ${datasource} with refIds unique per panel and a non-empty
        expression that filters on $instance, known panel types and units.
    dashboards.py live DIR PROMETHEUS_URL
        the instance variable's values, then every panel query with the
        variables substituted as Grafana would ($instance as a regex of all
        instances, $__rate_interval as 1m): valid PromQL (status success)
        and data returned, except the queries ALLOWED_EMPTY names, with the
        reason.
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"row", "text", "stat", "timeseries", "table", "state-timeline", "gauge", "bargauge"}
UNITS = {"s", "ms", "ppm", "short", "reqps", "percentunit", "percent", "bytes", "none"}
INSTANCE_QUERY = re.compile(r"^label_values\((\w+),\s*instance\)$")
# (dashboard uid, panel title) -> why the query may return nothing.
ALLOWED_EMPTY = {
    ("simple-ntpd-server-health", "Firing alerts"):
        "lists simple-ntpd alerts in state firing: none fire while the daemons are healthy",
}


def dashboards(directory):
    return [(p.name, json.loads(p.read_text())) for p in sorted(Path(directory).glob("*.json"))]


def queries(board):
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            yield panel, t


def structure(directory):
    failures = []
    boards = dashboards(directory)
    uids, titles, count = set(), set(), 0
    for name, b in boards:
        def fail(msg):
            failures.append(f"{name}: {msg}")

        for key, seen in (("uid", uids), ("title", titles)):
            if not b.get(key) or b[key] in seen:
                fail(f"{key} missing or not unique")
            seen.add(b.get(key))
        if len(b.get("uid", "")) > 40:
            fail("uid longer than 40 characters")
        if b.get("schemaVersion", 0) < 38:
            fail(f"schemaVersion {b.get('schemaVersion')} is older than Grafana 10 (38)")
        variables = {v["name"]: v for v in b.get("templating", {}).get("list", [])}
        ds = variables.get("datasource", {})
        if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            fail("no Prometheus `datasource` variable")
        inst = variables.get("instance", {})
        query = inst.get("query", {})
        query = query.get("query") if isinstance(query, dict) else query
        if inst.get("type") != "query" or inst.get("datasource") != DS or not INSTANCE_QUERY.match(query or ""):
            fail("no `instance` query variable on ${datasource} reading label_values(<metric>, instance)")
        if not (inst.get("multi") and inst.get("includeAll")):
            fail("the instance variable is not multi-value with All")
        ids, cells = set(), {}
        for p in b["panels"]:
            title = p.get("title", "?")
            if p.get("type") not in PANEL_TYPES:
                fail(f"panel {title!r}: unknown type {p.get('type')}")
            if not isinstance(p.get("id"), int) or p["id"] in ids:
                fail(f"panel {title!r}: id missing or not unique")
            ids.add(p.get("id"))
            g = p.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in "xywh") or g["w"] < 1 or g["h"] < 1 or g["x"] < 0 \
                    or g["x"] + g["w"] > 24:
                fail(f"panel {title!r}: gridPos {g} is not on the 24-column grid")
                continue
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        fail(f"panel {title!r} overlaps {cells[(x, y)]!r}")
                        break
                    cells[(x, y)] = title
                else:
                    continue
                break
            if p["type"] in ("row", "text"):
                continue
            unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
            if unit is not None and unit not in UNITS:
                fail(f"panel {title!r}: unknown unit {unit}")
            if p.get("datasource") != DS or not p.get("targets"):
                fail(f"panel {title!r}: not a query panel on ${{datasource}}")
            refs = [t.get("refId") for t in p.get("targets", [])]
            if len(set(refs)) != len(refs) or not all(refs):
                fail(f"panel {title!r}: refIds {refs} not unique")
            for t in p.get("targets", []):
                count += 1
                expr = t.get("expr", "")
                if t.get("datasource") != DS or not expr.strip():
                    fail(f"panel {title!r} {t.get('refId')}: no expression on ${{datasource}}")
                if "$instance" not in expr:
                    fail(f"panel {title!r} {t.get('refId')}: does not filter on $instance")
                if any(expr.count(o) != expr.count(c) for o, c in ("()", "{}", "[]")):
                    fail(f"panel {title!r} {t.get('refId')}: unbalanced brackets")
    for f in failures:
        print(f"dashboards: FAILED: {f}", file=sys.stderr)
    print(f"dashboards: {len(boards)} dashboards, {sum(len(b['panels']) for _, b in boards)} panels, {count} "
          f"queries: structure OK" if not failures else "dashboards: structure check failed")
    return 1 if failures else 0


def api(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry the PromQL error
        return json.load(e)


def live(directory, base):
    failures, used, rows = [], set(), []
    for name, b in dashboards(directory):
        inst = next(v for v in b["templating"]["list"] if v["name"] == "instance")
        metric = INSTANCE_QUERY.match(inst["query"]["query"]).group(1)
        values = api(base, "/api/v1/label/instance/values", {"match[]": metric})["data"]
        if not values:
            failures.append(f"{name}: the instance variable has no values")
            continue
        # Grafana's formatting of a multi-value variable in a PromQL regex:
        # special characters escaped with a backslash, itself escaped for
        # the PromQL string.
        regex = "(" + "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", v) for v in values) + ")"
        for panel, t in queries(b):
            expr = t["expr"].replace("$instance", regex).replace("$__rate_interval", "1m")
            body = api(base, "/api/v1/query", {"query": expr})
            key = (b["uid"], panel["title"])
            if body.get("status") != "success":
                failures.append(f"{name} / {panel['title']} / {t['refId']}: {body.get('error')}")
                continue
            n = len(body["data"]["result"])
            rows.append(f"{b['uid']:28} {panel['title'][:44]:44} {t['refId']}  {n} series")
            if n == 0 and key in ALLOWED_EMPTY:
                used.add(key)
            elif n == 0:
                failures.append(f"{name} / {panel['title']} / {t['refId']}: no data: {expr}")
    for key in sorted(set(ALLOWED_EMPTY) - used):
        print(f"dashboards: note: {key[0]} / {key[1]} was not empty ({ALLOWED_EMPTY[key]})")
    print("\n".join(rows))
    for key in sorted(used):
        print(f"dashboards: empty as allowed: {key[0]} / {key[1]}: {ALLOWED_EMPTY[key]}")
    for f in failures:
        print(f"dashboards: FAILED: {f}", file=sys.stderr)
    print(f"dashboards: {len(rows)} queries valid PromQL, {len(rows) - len(used)} returned data, "
          f"{len(used)} empty as allowed")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "structure":
        return structure(argv[2])
    if len(argv) == 4 and argv[1] == "live":
        return live(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
