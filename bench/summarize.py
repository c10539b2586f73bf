#!/usr/bin/env python3
"""Summaries of ntp-bench runs for bench/compare.sh.

  summarize.py --brief FILE.json
      one line about one ntp-bench JSON report (progress output);
  summarize.py RUN_DIR --json-out OUT.json [--setting k=v ...] [--machine k=v ...]
      medians per server over the rounds in RUN_DIR (files NAME.rROUND.KIND.json
      and NAME.rROUND.rss_kb), the ratio simple-ntpd / chronyd, the single-core
      targets; printed as a table and written to OUT.json.
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

RUN_FILE = re.compile(r"^(?P<server>[\w.-]+?)\.r(?P<round>\d+)\.(?P<kind>[\w-]+)\.json$")
RSS_FILE = re.compile(r"^(?P<server>[\w.-]+?)\.r(?P<round>\d+)\.rss_kb$")

# (field name in the summary, path in an ntp-bench report)
FIELDS = [
    ("replies_per_s", ("reply_rate",)),
    ("send_per_s", ("send_rate",)),
    ("answered_pct", ("answered_pct",)),
    ("rtt_p50_us", ("rtt_us", "p50")),
    ("rtt_p99_us", ("rtt_us", "p99")),
    ("rtt_p999_us", ("rtt_us", "p999")),
    ("tx_error_p50_us", ("tx_error_us", "p50")),
    ("tx_error_p99_us", ("tx_error_us", "p99")),
    ("tx_error_max_us", ("tx_error_us", "max")),
    ("tx_abs_error_p50_us", ("tx_abs_error_us", "p50")),
    ("tx_abs_error_p99_us", ("tx_abs_error_us", "p99")),
    ("rx_sanity_p50_us", ("rx_sanity_us", "p50")),
    ("rx_sanity_p99_us", ("rx_sanity_us", "p99")),
    ("lost", ("lost",)),
    ("late", ("late",)),
    ("unmatched", ("unmatched",)),
    ("malformed", ("malformed",)),
    ("unsynchronised", ("unsynchronised",)),
    ("schedule_skipped", ("schedule_skipped",)),
]


def dig(report, path):
    for key in path:
        if not isinstance(report, dict):
            return None
        report = report.get(key)
    return report


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def brief(path):
    r = json.loads(Path(path).read_text())
    load = f"closed {r['in_flight']}" if r["mode"] == "closed" else f"open {r['target_rate']:.0f}/s"
    print(
        f"    {load:<14} {r['reply_rate']:>9.0f} replies/s  answered {r['answered_pct']:7.3f} %"
        f"  RTT p50/p99 {dig(r, ('rtt_us', 'p50'))}/{dig(r, ('rtt_us', 'p99'))} µs"
        f"  T3 err p99 {dig(r, ('tx_error_us', 'p99'))} µs"
        f"  (sent {r['send_rate']:.0f}/s, skipped {r['schedule_skipped']})"
    )


def collect(run_dir):
    """{server: {kind: [report, ...]}}, {server: [rss_kb, ...]}"""
    runs, rss = {}, {}
    for f in sorted(Path(run_dir).iterdir()):
        m = RUN_FILE.match(f.name)
        if m:
            try:
                report = json.loads(f.read_text())
            except json.JSONDecodeError:
                print(f"summarize: skipping unreadable {f}", file=sys.stderr)
                continue
            if m["kind"] == "ke":  # NTS-KE handshake runs: bench/nts_summary.py
                continue
            runs.setdefault(m["server"], {}).setdefault(m["kind"], []).append(report)
            continue
        m = RSS_FILE.match(f.name)
        if m and f.read_text().strip().isdigit():
            rss.setdefault(m["server"], []).append(int(f.read_text().strip()))
    return runs, rss


def summarise(runs, rss):
    out = {}
    for server in sorted(set(runs) | set(rss)):
        s = {"idle_rss_mb": None, "rounds": len(rss.get(server, [])), "runs": {}}
        if rss.get(server):
            s["idle_rss_mb"] = round(median(rss[server]) / 1024, 2)
            s["idle_rss_kb_all"] = rss[server]
        for kind, reports in sorted(runs.get(server, {}).items()):
            s["runs"][kind] = {name: median(dig(r, path) for r in reports) for name, path in FIELDS}
            s["runs"][kind]["rounds"] = len(reports)
        out[server] = s
    return out


def kind_sort_key(kind):
    m = re.search(r"(\d+)$", kind)
    return (0 if kind == "closed" else 1 if kind.startswith("open") else 2, int(m[1]) if m else 0)


def rows(summary):
    """(label, server -> value) for the table, in a fixed order."""
    kinds = sorted({k for s in summary.values() for k in s["runs"]}, key=kind_sort_key)
    metrics = [
        ("send_per_s", "sent/s", "{:.0f}"),
        ("replies_per_s", "replies/s", "{:.0f}"),
        ("answered_pct", "answered %", "{:.3f}"),
        ("rtt_p50_us", "RTT p50 µs", "{:.1f}"),
        ("rtt_p99_us", "RTT p99 µs", "{:.1f}"),
        ("tx_error_p50_us", "T3 error p50 µs", "{:.2f}"),
        ("tx_error_p99_us", "T3 error p99 µs", "{:.2f}"),
        ("tx_abs_error_p99_us", "|T3 error| p99 µs", "{:.2f}"),
        ("rx_sanity_p50_us", "T2 − send p50 µs", "{:.2f}"),
    ]
    out = []
    for kind in kinds:
        rate_kind = kind.startswith(("open-", "sweep-"))
        title = kind.replace("open-", "open ").replace("sweep-", "sweep ") + ("/s" if rate_kind else "")
        for key, label, fmt in metrics:
            if kind.startswith("sweep") and key not in ("send_per_s", "replies_per_s", "answered_pct",
                                                        "tx_abs_error_p99_us"):
                continue
            if not rate_kind and key == "send_per_s":
                continue
            out.append((f"{title}: {label}", fmt, {n: s["runs"].get(kind, {}).get(key) for n, s in summary.items()}))
    out.append(("idle RSS MB", "{:.2f}", {n: s["idle_rss_mb"] for n, s in summary.items()}))
    return out


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b != 0:
        return round(a / b, 3)
    return None


def abs_p99(run):
    v = run.get("tx_abs_error_p99_us")
    return v if v is not None else run.get("tx_error_p99_us")


def targets(summary, rate):
    """The single-core targets of docs/performance.md, checked for simple-ntpd."""
    me, peer = summary.get("simple-ntpd"), summary.get("chronyd")
    if not me:
        return []
    closed = me["runs"].get("closed", {})
    opened = me["runs"].get(f"open-{rate}", {})
    peer_closed = (peer or {}).get("runs", {}).get("closed", {})
    r = ratio(closed.get("replies_per_s"), peer_closed.get("replies_per_s"))
    # |T3 error|: a timestamp early by 5 µs is as wrong as one late by 5 µs
    # (reports from before this field existed fall back to the signed p99).
    tx = [v for v in (abs_p99(run) for run in me["runs"].values()) if v is not None]
    checks = [
        ("closed loop replies/s >= 1.3 x chronyd", r, None if r is None else r >= 1.3),
        (f"open loop {rate}/s answered >= 99 %", opened.get("answered_pct"),
         None if opened.get("answered_pct") is None else opened["answered_pct"] >= 99.0),
        ("|T3 error| p99 <= 3 us (worst of all runs)", max(tx) if tx else None, (max(tx) <= 3.0) if tx else None),
        ("idle RSS <= 10 MB", me["idle_rss_mb"], None if me["idle_rss_mb"] is None else me["idle_rss_mb"] <= 10.0),
    ]
    return [{"target": t, "value": v, "met": ok} for t, v, ok in checks]


def shortfalls(summary):
    """Open-loop runs whose generator sent < 98 % of the target rate (results not valid)."""
    out = []
    for server, s in summary.items():
        for kind, r in s["runs"].items():
            m = re.search(r"(\d+)$", kind)
            if kind != "closed" and m and r.get("send_per_s") is not None and r["send_per_s"] < 0.98 * int(m[1]):
                out.append(f"{server} {kind}: generator sent {r['send_per_s']:.0f}/s of {m[1]}/s")
    return out


def fmt_value(fmt, v):
    return fmt.format(v) if isinstance(v, (int, float)) else "-"


def print_table(summary, table, target_list, meta):
    servers = [s for s in ("simple-ntpd", "chronyd") if s in summary] + [
        s for s in summary if s not in ("simple-ntpd", "chronyd")
    ]
    both = "simple-ntpd" in summary and "chronyd" in summary
    head = f"{'metric (median of rounds)':<34}" + "".join(f"{s:>14}" for s in servers)
    head += f"{'ratio s/c':>11}" if both else ""
    print()
    print(f"== simple-ntpd vs chronyd — {meta.get('cpu_model', '?')}, {meta.get('cpus', '?')} CPUs, "
          f"load average before {meta.get('loadavg_before', '?')} after {meta.get('loadavg_after', '?')}")
    print(head)
    print("-" * len(head))
    for label, fmt, values in table:
        line = f"{label:<34}" + "".join(f"{fmt_value(fmt, values.get(s)):>14}" for s in servers)
        if both:
            line += f"{fmt_value('{:.3f}', ratio(values.get('simple-ntpd'), values.get('chronyd'))):>11}"
        print(line)
    if target_list:
        print()
        print("single-core targets (simple-ntpd):")
        for t in target_list:
            mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
            print(f"  {t['target']:<46} {fmt_value('{:.3f}', t['value']):>10}  {mark}")
        print("  zero heap allocations per packet                 not measured by this script")
    short = shortfalls(summary)
    if short:
        print()
        print("WARNING: the generator did not reach the open-loop rate (busy machine?); those rows are not valid:")
        for line in short:
            print(f"  {line}")


def parse_kv(items):
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        try:
            out[k] = json.loads(v) if re.fullmatch(r"-?\d+(\.\d+)?", v) else v
        except ValueError:
            out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--brief", action="store_true")
    ap.add_argument("--json-out")
    ap.add_argument("--setting", action="append")
    ap.add_argument("--machine", action="append")
    a = ap.parse_args()
    if a.brief:
        brief(a.path)
        return
    settings, machine = parse_kv(a.setting), parse_kv(a.machine)
    runs, rss = collect(a.path)
    summary = summarise(runs, rss)
    table = rows(summary)
    target_list = targets(summary, settings.get("rate", 250000))
    print_table(summary, table, target_list, machine)
    doc = {
        "run_dir": str(a.path),
        "machine": machine,
        "settings": settings,
        "servers": summary,
        "table": [
            {"metric": label, **{s: v for s, v in values.items()},
             "ratio_simple_over_chronyd": ratio(values.get("simple-ntpd"), values.get("chronyd"))}
            for label, _, values in table
        ],
        "targets": target_list,
        "generator_shortfalls": shortfalls(summary),
    }
    if a.json_out:
        Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json_out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwritten: {a.json_out}")


if __name__ == "__main__":
    main()
