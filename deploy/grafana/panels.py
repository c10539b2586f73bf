"""Building blocks of the Grafana dashboards (Grafana 10+ JSON model):
queries, panels, the grid layout and the dashboard frame with its
`datasource` and `instance` variables. generate.py composes them.
"""

DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'instance=~"$instance"'
RATE = "$__rate_interval"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11


def target(expr, legend="{{instance}}", ref="A", table=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if table:
        t.update({"format": "table", "instant": True, "range": False})
    else:
        t["range"] = True
    return t


def thresholds(steps, base="green"):
    """The base colour, then (value, colour) pairs from that value up."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in steps],
    }


def value_map(pairs):
    return [
        {
            "type": "value",
            "options": {str(v): {"text": text, "color": colour, "index": i} for i, (v, text, colour) in enumerate(pairs)},
        }
    ]


def panel(kind, title, description, targets, w, h, unit=None, steps=(), base="green", mappings=None, options=None,
          **extra):
    defaults = {"thresholds": thresholds(steps, base)}
    if unit:
        defaults["unit"] = unit
    if mappings:
        defaults["mappings"] = mappings
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 0,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "line" if steps else "off"},
        }
        defaults["color"] = {"mode": "palette-classic"}
        options = options or {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        }
    elif kind == "stat":
        defaults["color"] = {"mode": "thresholds"}
        options = options or {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "_size": (w, h),
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }
    p.update(extra)
    return p


def timeseries(title, description, targets, unit, w=12, h=8, steps=()):
    return panel("timeseries", title, description, targets, w, h, unit=unit, steps=steps)


def stat(title, description, expr, unit=None, w=4, h=4, steps=(), base="green", mappings=None):
    return panel("stat", title, description, [target(expr)], w, h, unit=unit, steps=steps, base=base,
                 mappings=mappings)


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "_size": (24, 1), "panels": []}


def text(title, content, w=24, h=3):
    return {
        "type": "text",
        "title": title,
        "_size": (w, h),
        "options": {"mode": "markdown", "content": content},
    }


def layout(panels):
    """Places panels left to right, wrapping at Grafana's 24 columns."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_size")
        if x + w > 24 or p["type"] == "row":
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
    return panels


def dashboard(uid, title, description, panels):
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["ntp", "simple-ntpd"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "title": "simple-ntpd",
                "tags": ["simple-ntpd"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                    "refresh": 1,
                    "regex": "",
                },
                {
                    "name": "instance",
                    "label": "Instance",
                    "type": "query",
                    "datasource": DS,
                    "definition": "label_values(ntp_build_info, instance)",
                    "query": {
                        "query": "label_values(ntp_build_info, instance)",
                        "refId": "PrometheusVariableQueryEditor-VariableQuery",
                        "qryType": 1,
                    },
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "hide": 0,
                    "includeAll": True,
                    "multi": True,
                    "options": [],
                    "refresh": 2,
                    "regex": "",
                    "sort": 1,
                },
            ]
        },
        "panels": layout(panels),
    }


SYNC_MAP = value_map([(0, "no", "red"), (1, "yes", "green")])
HEALTH_MAP = value_map([(0, "ok", "green"), (1, "warning", "orange"), (2, "critical", "red")])
LEAP_MAP = value_map([(0, "none", "green"), (1, "insert", "blue"), (2, "delete", "blue"), (3, "unsynchronised", "red")])
SRC = "{{instance}} {{name}}"
