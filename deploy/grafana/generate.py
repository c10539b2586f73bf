#!/usr/bin/env python3
"""Writes the Grafana dashboards in dashboards/ (Grafana 10+ JSON model).

The dashboards are data: this script is their source, so that every panel
has the same data source, instance filter and layout rules, and the JSON
files are its output (what Grafana and its sidecar load).

    python3 deploy/grafana/generate.py          # rewrite dashboards/*.json
    python3 deploy/grafana/generate.py --check  # exit 1 if they are out of date

Standard library only. Every query filters on the `instance` variable and
uses the daemon's metric names (base units; docs/operations.md maps seed
002's millisecond names).
"""

import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

from panels import (
    HEALTH_MAP, I, LEAP_MAP, RATE, SRC, SYNC_MAP, dashboard, panel, row, stat, target, text, timeseries,
)


def clock_panels():
    """Offset, jitter, frequency with seed 004's thresholds."""
    return [
        timeseries(
            "Offset",
            "Estimated offset of the served clock from its sources (ntp_offset_seconds; seed 002: "
            "ntp_offset_milliseconds). Seed 004: target under 10 ms, warning above 50 ms.",
            [target(f"ntp_offset_seconds{{{I}}}")],
            "s",
            steps=((0.05, "orange"),),
        ),
        timeseries(
            "Jitter",
            "Jitter of the offset estimate (ntp_jitter_seconds; seed 002: ntp_jitter_milliseconds). "
            "Seed 004: target under 50 ms, warning above 100 ms.",
            [target(f"ntp_jitter_seconds{{{I}}}")],
            "s",
            steps=((0.1, "orange"),),
        ),
        timeseries(
            "Frequency correction",
            "Frequency correction applied to the disciplined clock (ntp_frequency_drift_ppm). "
            "Seed 004: target under 5 ppm, warning above 10 ppm.",
            [target(f"ntp_frequency_drift_ppm{{{I}}}")],
            "ppm",
            steps=((10, "orange"),),
        ),
    ]


def overview():
    return dashboard(
        "simple-ntpd-overview",
        "simple-ntpd / Overview",
        "Synchronisation state, offset and jitter, source quality and client request rates (seed 002).",
        [
            row("State"),
            stat("Synchronised", "ntp_sync: 1 while serving usable time.", f"ntp_sync{{{I}}}", mappings=SYNC_MAP,
                 base="red", steps=((1, "green"),)),
            stat("Stratum", "Stratum served (ntp_stratum); 0 while unsynchronised. Seed 004: above 3 is critical.",
                 f"ntp_stratum{{{I}}}", steps=((4, "red"),)),
            stat("Health", "ntp_health_status from the [monitoring] thresholds.", f"ntp_health_status{{{I}}}",
                 mappings=HEALTH_MAP, steps=((1, "orange"), (2, "red"))),
            stat("Usable sources", "Sources usable for synchronisation (ntp_sources_selectable).",
                 f"ntp_sources_selectable{{{I}}}"),
            stat("Leap indicator", "Leap indicator served (ntp_leap_indicator).", f"ntp_leap_indicator{{{I}}}",
                 mappings=LEAP_MAP, steps=((3, "red"),)),
            stat("Uptime", "Seconds since the daemon started (ntp_uptime_seconds).", f"ntp_uptime_seconds{{{I}}}",
                 unit="s"),
            row("Clock"),
            *clock_panels(),
            timeseries(
                "Root delay and dispersion",
                "Root delay and root dispersion served to clients: the error bound they can assume.",
                [
                    target(f"ntp_root_delay_seconds{{{I}}}", "{{instance}} root delay", "A"),
                    target(f"ntp_root_dispersion_seconds{{{I}}}", "{{instance}} root dispersion", "B"),
                ],
                "s",
            ),
            row("Sources"),
            timeseries(
                "Sources: configured, usable, minimum",
                "ntp_sources, ntp_sources_selectable and ntp_sources_minimum (monitoring.sources_minimum).",
                [
                    target(f"ntp_sources{{{I}}}", "{{instance}} configured", "A"),
                    target(f"ntp_sources_selectable{{{I}}}", "{{instance}} usable", "B"),
                    target(f"ntp_sources_minimum{{{I}}}", "{{instance}} minimum", "C"),
                ],
                "short",
            ),
            timeseries(
                "Source reachability",
                "Reachability register of each source (255: the last 8 polls answered).",
                [target(f"ntp_source_reachability{{{I}}}", SRC)],
                "short",
            ),
            row("Clients"),
            timeseries(
                "Requests, replies and drops",
                "Per second. Seed 002's ntp_client_requests_rate is rate(ntp_client_requests_total).",
                [
                    target(f"sum by (instance) (rate(ntp_client_requests_total{{{I}}}[{RATE}]))",
                           "{{instance}} requests", "A"),
                    target(f"sum by (instance) (rate(ntp_server_replies_total{{{I}}}[{RATE}]))",
                           "{{instance}} replies", "B"),
                    target(f"sum by (instance) (rate(ntp_server_dropped_total{{{I}}}[{RATE}]))",
                           "{{instance}} dropped", "C"),
                ],
                "reqps",
            ),
            timeseries(
                "Clients tracked",
                "Distinct client addresses in the bounded client log (ntp_clients_tracked).",
                [target(f"ntp_clients_tracked{{{I}}}")],
                "short",
            ),
        ],
    )


def sources():
    per_source = [
        ("A", f"ntp_source_state{{{I}}} == 1", "State"),
        ("B", f"ntp_source_stratum{{{I}}}", "Stratum"),
        ("C", f"ntp_source_reachability{{{I}}}", "Reach"),
        ("D", f"ntp_source_poll_interval_seconds{{{I}}}", "Poll (s)"),
        ("E", f"ntp_source_offset_seconds{{{I}}}", "Offset (s)"),
        ("F", f"ntp_source_delay_seconds{{{I}}}", "Delay (s)"),
        ("G", f"ntp_source_jitter_seconds{{{I}}}", "Jitter (s)"),
    ]
    table = panel(
        "table",
        "Sources",
        "Every source with its selection state, stratum, reachability, poll interval, offset, delay and jitter "
        "(what `simple-ntpd sources` prints).",
        [target(expr, "", ref, table=True) for ref, expr, _ in per_source],
        24,
        8,
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "job": True, "__name__": True, "Value #A": True},
                    "indexByName": {},
                    "renameByName": {f"Value #{ref}": label for ref, _, label in per_source},
                },
            },
        ],
    )
    return dashboard(
        "simple-ntpd-sources",
        "simple-ntpd / Sources and accuracy",
        "Per-source metrics, selection state, reachability and how the sources agree (seed 002).",
        [
            table,
            timeseries(
                "Offset per source",
                "Offset of each source (source minus us; ntp_source_offset_seconds, seed 002: "
                "ntp_source_offset_milliseconds) beside the combined offset (ntp_offset_seconds).",
                [
                    target(f"ntp_source_offset_seconds{{{I}}}", SRC, "A"),
                    target(f"ntp_offset_seconds{{{I}}}", "{{instance}} combined", "B"),
                ],
                "s",
            ),
            timeseries(
                "Disagreement between sources",
                "Largest minus smallest source offset per instance: how far apart the sources are.",
                [
                    target(
                        f"max by (instance) (ntp_source_offset_seconds{{{I}}})"
                        f" - min by (instance) (ntp_source_offset_seconds{{{I}}})"
                    )
                ],
                "s",
            ),
            timeseries(
                "Delay per source",
                "Round-trip delay to each source (ntp_source_delay_seconds; seed 002: ntp_source_delay_milliseconds).",
                [target(f"ntp_source_delay_seconds{{{I}}}", SRC)],
                "s",
            ),
            timeseries(
                "Jitter per source",
                "Jitter of each source (ntp_source_jitter_seconds; seed 002: ntp_source_jitter_milliseconds).",
                [target(f"ntp_source_jitter_seconds{{{I}}}", SRC)],
                "s",
            ),
            panel(
                "state-timeline",
                "Selection state",
                "The state each source is in over time (ntp_source_state): selected, combined, candidate, "
                "falseticker, outlier, unreachable or pending.",
                [target(f"ntp_source_state{{{I}}} == 1", "{{instance}} {{name}}: {{state}}")],
                24,
                8,
                options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
                         "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
                         "tooltip": {"mode": "single", "sort": "none"}},
            ),
            timeseries(
                "Stratum per source",
                "Stratum of each source (ntp_source_stratum).",
                [target(f"ntp_source_stratum{{{I}}}", SRC)],
                "short",
                w=8,
            ),
            timeseries(
                "Reachability per source",
                "Reachability register (ntp_source_reachability; 255 = the last 8 polls answered).",
                [target(f"ntp_source_reachability{{{I}}}", SRC)],
                "short",
                w=8,
            ),
            timeseries(
                "Poll interval per source",
                "Poll interval of each source (ntp_source_poll_interval_seconds).",
                [target(f"ntp_source_poll_interval_seconds{{{I}}}", SRC)],
                "s",
                w=8,
            ),
        ],
    )


def per_second(metric, by, legend, ref="A"):
    return target(f"sum by (instance, {by}) (rate({metric}{{{I}}}[{RATE}]))", legend, ref)


def clients():
    return dashboard(
        "simple-ntpd-clients",
        "simple-ntpd / Clients and requests",
        "Request rates per listen address and per interface (VLAN), drops by reason, kiss-o'-death, "
        "authentication and NTS (seed 002).",
        [
            timeseries(
                "Requests per listen address",
                "NTP requests received per second on each listen address: the traffic of each interface or VLAN "
                "the daemon listens on.",
                [per_second("ntp_client_requests_total", "listen_address", "{{instance}} {{listen_address}}")],
                "reqps",
            ),
            timeseries(
                "Replies per listen address",
                "Replies sent per second on each listen address.",
                [per_second("ntp_server_replies_total", "listen_address", "{{instance}} {{listen_address}}")],
                "reqps",
            ),
            timeseries(
                "Requests per interface (VLAN)",
                "NTP requests received per second on each network interface, as the kernel reports the arrival "
                "interface ([[vlan_config]]: one VLAN per interface). `other`: interface unknown or beyond the "
                "63 counted one by one.",
                [per_second("ntp_client_requests_total", "interface", "{{instance}} {{interface}}")],
                "reqps",
            ),
            timeseries(
                "Replies and drops per interface (VLAN)",
                "Per second and interface: replies sent, and requests not answered (interface_disabled: a VLAN "
                "with enabled = false).",
                [
                    per_second("ntp_server_replies_total", "interface", "{{instance}} {{interface}} replied", "A"),
                    per_second("ntp_server_dropped_total", "interface", "{{instance}} {{interface}} dropped", "B"),
                ],
                "reqps",
            ),
            timeseries(
                "Drops by reason",
                "Requests not answered, per second, by reason: malformed (too_short, too_long, bad_version, "
                "control_mode, private_mode, not_client_mode, malformed_extension), denied, rate_limited, "
                "authentication_failed, nts, reply_too_large, interface_disabled.",
                [per_second("ntp_server_dropped_total", "reason", "{{instance}} {{reason}}")],
                "reqps",
            ),
            timeseries(
                "Share of requests dropped",
                "Dropped over received requests (NtpDropStorm warns above 20 % and 10/s).",
                [
                    target(
                        f"sum by (instance) (rate(ntp_server_dropped_total{{{I}}}[{RATE}]))"
                        f" / sum by (instance) (rate(ntp_client_requests_total{{{I}}}[{RATE}]))"
                    )
                ],
                "percentunit",
                steps=((0.2, "orange"),),
            ),
            timeseries(
                "Kiss-o'-death, authenticated and NTS replies",
                "Per second: KoD replies (DENY, RATE), replies with a symmetric-key MAC, NTS-protected replies.",
                [
                    target(f"sum by (instance) (rate(ntp_server_kod_sent_total{{{I}}}[{RATE}]))",
                           "{{instance}} kiss-o'-death", "A"),
                    target(f"sum by (instance) (rate(ntp_server_authenticated_replies_total{{{I}}}[{RATE}]))",
                           "{{instance}} MAC", "B"),
                    target(f"sum by (instance) (rate(ntp_server_nts_replies_total{{{I}}}[{RATE}]))",
                           "{{instance}} NTS", "C"),
                ],
                "reqps",
            ),
            timeseries(
                "NTS key exchanges",
                "NTS-KE handshakes that issued cookies and failed connections by reason, per second "
                "(only on servers with [security.nts] enabled).",
                [
                    target(f"sum by (instance) (rate(ntp_nts_ke_handshakes_total{{{I}}}[{RATE}]))",
                           "{{instance}} handshakes", "A"),
                    per_second("ntp_nts_ke_failures_total", "reason", "{{instance}} failed: {{reason}}", "B"),
                ],
                "reqps",
            ),
            timeseries(
                "Errors",
                "Per second: replies the kernel refused to send, failed receives, requests without a kernel "
                "receive timestamp.",
                [
                    target(f"sum by (instance) (rate(ntp_server_send_errors_total{{{I}}}[{RATE}]))",
                           "{{instance}} send errors", "A"),
                    target(f"sum by (instance) (rate(ntp_server_receive_errors_total{{{I}}}[{RATE}]))",
                           "{{instance}} receive errors", "B"),
                    target(f"sum by (instance) (rate(ntp_server_rx_timestamp_fallback_total{{{I}}}[{RATE}]))",
                           "{{instance}} no kernel timestamp", "C"),
                ],
                "reqps",
            ),
            timeseries(
                "Clients tracked",
                "Distinct client addresses in the bounded client log (ntp_clients_tracked).",
                [target(f"ntp_clients_tracked{{{I}}}")],
                "short",
            ),
            text(
                "Top clients",
                "Client addresses are never metric labels (unbounded cardinality, privacy). The busiest clients "
                "are in the daemon's bounded client log: `simple-ntpd clients` or `GET /api/v1/clients?limit=N`.",
            ),
        ],
    )


def server_health():
    up = f'up{{{I}}}'
    return dashboard(
        "simple-ntpd-server-health",
        "NTP Server Health",
        "Seed 004's key NTP metrics against their targets and alert thresholds, availability and resources.",
        [
            stat("Stratum", "Target 2; above 3 is critical (NtpStratumTooHigh).", f"ntp_stratum{{{I}}}",
                 steps=((3, "orange"), (4, "red"))),
            stat("Offset", "Target under 10 ms; above 50 ms warns (NtpOffsetHigh).", f"abs(ntp_offset_seconds{{{I}}})",
                 unit="s", steps=((0.01, "yellow"), (0.05, "orange"))),
            stat("Jitter", "Target under 50 ms; above 100 ms warns (NtpJitterHigh).", f"ntp_jitter_seconds{{{I}}}",
                 unit="s", steps=((0.05, "yellow"), (0.1, "orange"))),
            stat("Frequency", "Target under 5 ppm; above 10 ppm warns (NtpFrequencyHigh).",
                 f"abs(ntp_frequency_drift_ppm{{{I}}})", unit="ppm", steps=((5, "yellow"), (10, "orange"))),
            stat("Uptime (1 day)", "Share of successful scrapes over the last day; target 99 %, below 95 % is "
                 "critical (NtpAvailabilityLow).", f"avg_over_time({up}[1d])", unit="percentunit",
                 base="red", steps=((0.95, "orange"), (0.99, "green"))),
            stat("Health", "ntp_health_status from the [monitoring] thresholds.", f"ntp_health_status{{{I}}}",
                 mappings=HEALTH_MAP, steps=((1, "orange"), (2, "red"))),
            stat("Instances up", "Targets Prometheus scrapes successfully now.", f"count({up} == 1)", w=6),
            stat("Instances synchronised", "Instances serving usable time (their pods are ready).",
                 f"sum(ntp_sync{{{I}}})", w=6),
            panel(
                "table",
                "Firing alerts",
                "simple-ntpd alerts firing now (empty when all is well). The instance filter also keeps alerts "
                "without an instance label, such as NtpTargetMissing.",
                [target(f'ALERTS{{alertname=~"Ntp.+", alertstate="firing", instance=~"$instance|"}}', "", "A",
                        table=True)],
                12,
                4,
                options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"],
                                                                             "fields": ""}},
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                                  "__name__": True}}}],
            ),
            *clock_panels(),
            timeseries(
                "Stratum",
                "Stratum served over time (critical above 3).",
                [target(f"ntp_stratum{{{I}}}")],
                "short",
                steps=((4, "red"),),
            ),
            timeseries(
                "CPU",
                "CPU time used per second (process_cpu_seconds_total); the autoscaler targets 60 % of the request.",
                [target(f"rate(process_cpu_seconds_total{{{I}}}[{RATE}])")],
                "percentunit",
                w=8,
            ),
            timeseries(
                "Memory",
                "Resident memory (process_resident_memory_bytes).",
                [target(f"process_resident_memory_bytes{{{I}}}")],
                "bytes",
                w=8,
            ),
            timeseries(
                "Configuration reloads",
                "ntp_config_last_reload_successful (0 after a refused reload) and reloads in the range.",
                [
                    target(f"ntp_config_last_reload_successful{{{I}}}", "{{instance}} last reload ok", "A"),
                    target(f"increase(ntp_config_reloads_total{{{I}}}[1h])", "{{instance}} reloads per hour", "B"),
                ],
                "short",
                w=8,
            ),
        ],
    )


DASHBOARDS = {
    "simple-ntpd-overview.json": overview,
    "simple-ntpd-sources.json": sources,
    "simple-ntpd-clients.json": clients,
    "ntp-server-health.json": server_health,
}


def render(build):
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] not in ([], ["--check"]):
        print("usage: generate.py [--check]", file=sys.stderr)
        return 2
    out = Path(__file__).resolve().parent / "dashboards"
    stale = []
    for name, build in DASHBOARDS.items():
        path = out / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    extra = sorted(p.name for p in out.glob("*.json") if p.name not in DASHBOARDS)
    if stale or extra:
        print(f"generate.py: out of date: {stale}; not generated here: {extra}; "
              "run python3 deploy/grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
