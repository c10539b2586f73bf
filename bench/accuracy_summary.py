#!/usr/bin/env python3
"""Summarise a bench/accuracy.sh run directory: one row per case with
simple-ntpd's and chronyd's served-time error (mean / sd / RMS, µs), the
ratio of their RMS, and the issue's targets.

Figures are over the exchanges that did not stall on the way (the probe's
`error_us_unstalled`: round trip within twice the server's median + 10 µs;
a stall shows as half its length in the error whatever the server's clock,
and any NTP client discards such an exchange by its delay). Where some
stalled, the cell adds the RMS over every exchange and how many stalled,
and the raw ratio has its own column.

Usage: accuracy_summary.py [--load TEXT] [--json] RUN_DIR
"""
import argparse
import glob
import json
import os
import sys


def fmt_us(s):
    return f"{s:+.1f}" if abs(s) < 1000 else f"{s:+.0f}"


def errors(r):
    """The unstalled figures (the raw ones for reports from before they existed)."""
    return r.get("error_us_unstalled", r["error_us"])


def cell(r):
    if r is None or errors(r)["n"] == 0:
        return "—"
    e = errors(r)
    text = f"{fmt_us(e['mean'])} / {e['sd']:.1f} / {e['rms']:.1f}"
    if r.get("stalled"):
        text += f" (all: {r['error_us']['rms']:.1f}; {r['stalled']} stalled)"
    return text


def rms_ratio(a, b, key=errors):
    if a is None or b is None or key(a)["n"] == 0 or key(b)["n"] == 0 or key(b)["rms"] <= 0:
        return None
    return key(a)["rms"] / key(b)["rms"]


def label(c):
    parts = [f"{c['drift_ppm']:g} ppm"]
    parts.append("no jitter" if c["jitter_s"] == 0 else f"{c['jitter_s'] * 1e6:g} µs jitter")
    if c["asymmetry_s"]:
        parts.append(f"{c['asymmetry_s'] * 1e6:g} µs asymmetry")
    if c["offset_s"] != 0.05:
        parts.append(f"offset {c['offset_s']:g} s")
    return ", ".join(parts)


def targets(c, ours, theirs):
    """The issue's targets for this case: (text, met?)."""
    if ours is None or theirs is None or errors(ours)["n"] == 0 or errors(theirs)["n"] == 0:
        return ("", None)
    o, t = errors(ours), errors(theirs)
    if c["asymmetry_s"] != 0:
        return ("", None)
    if c["jitter_s"] == 0:
        ok = abs(o["mean"]) <= 2.0 and o["rms"] <= t["rms"]
        return ("|mean| ≤ 2, RMS ≤ chronyd", ok)
    ok = o["rms"] <= 0.5 * t["rms"]
    return ("RMS ≤ 0.5 × chronyd", ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--load", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cases = []
    for path in sorted(glob.glob(os.path.join(a.run_dir, "case*.json"))):
        with open(path) as f:
            cases.append(json.load(f))
    if not cases:
        sys.exit(f"no case*.json in {a.run_dir}")
    rows = []
    print()
    print(f"served time − reference time, µs: mean / sd / RMS  ({a.run_dir})")
    if a.load:
        print(f"load average before / after: {a.load}")
    print()
    has_base = any(r["name"] == "baseline" for c in cases for r in c["servers"])
    base_head = " baseline | RMS ratio b/c |" if has_base else ""
    print(f"| upstream | simple-ntpd | chronyd | RMS ratio s/c | raw ratio |{base_head} reference (probe check) | target |")
    print(f"|---|---|---|---:|---:|{'---|---:|' if has_base else ''}---|---|")
    fmt = lambda x: "" if x is None else f"{x:.2f}"
    for c in cases:
        by = {r["name"]: r for r in c["servers"]}
        ours, theirs, ref = by.get("simple-ntpd"), by.get("chronyd"), by.get("reference")
        ratio = rms_ratio(ours, theirs)
        raw_ratio = rms_ratio(ours, theirs, key=lambda r: r["error_us"])
        base = by.get("baseline")
        base_ratio = rms_ratio(base, theirs)
        base_cells = f" {cell(base)} | {fmt(base_ratio)} |" if has_base else ""
        text, ok = targets(c, ours, theirs)
        verdict = "" if ok is None else (f"{text}: **met**" if ok else f"{text}: **NOT met**")
        print(f"| {label(c)} | {cell(ours)} | {cell(theirs)} | {fmt(ratio)} | {fmt(raw_ratio)} |{base_cells} "
              f"{cell(ref)} | {verdict} |")
        rows.append({"case": label(c), "ratio": ratio, "raw_ratio": raw_ratio, "baseline_ratio": base_ratio, "met": ok, **c})
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
