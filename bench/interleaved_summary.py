#!/usr/bin/env python3
"""Summarises the measurements logs bench/interleaved.sh collected.

Each file is named SERVER.CLIENT-MODE.measurements.log (chrony's format; the
last column group reads `4B K K` for basic and `4I K K` for interleaved
samples). Per file: samples by mode, offset mean and standard deviation (µs)
of the samples in the file's own mode (interleaved for xleave clients, once
they interleave), the 99th percentile of |offset - median| and the mean
delay; then the basic/interleaved ratio of the standard deviations per server
and client. The first 5 samples of each file (the iburst start) are skipped.
"""

import argparse
import json
import pathlib
import statistics

SKIP = 5


def samples(path):
    """(mode letter, offset s, delay s) per data line."""
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) < 20 or not f[0][:1].isdigit():
            continue
        try:
            offset, delay = float(f[11]), float(f[12])
        except ValueError:
            continue
        out.append((f[-3][-1:], offset, delay))
    return out[SKIP:]


def describe(rows):
    offsets = [o for _, o, _ in rows]
    if len(offsets) < 2:
        return None
    med = statistics.median(offsets)
    dev = sorted(abs(o - med) for o in offsets)
    return {
        "n": len(offsets),
        "offset_mean_us": statistics.fmean(offsets) * 1e6,
        "offset_sd_us": statistics.stdev(offsets) * 1e6,
        "offset_p99_abs_dev_us": dev[min(len(dev) - 1, int(0.99 * len(dev)))] * 1e6,
        "delay_mean_us": statistics.fmean(d for _, _, d in rows) * 1e6,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=pathlib.Path)
    ap.add_argument("--json-out", type=pathlib.Path)
    ap.add_argument("--setting", action="append", default=[])
    ap.add_argument("--machine", action="append", default=[])
    a = ap.parse_args()
    results = {}
    for path in sorted(a.run_dir.glob("*.measurements.log")):
        server, client = path.name.split(".")[:2]
        rows = samples(path)
        want = "I" if client.endswith("xleave") else "B"
        mine = [r for r in rows if r[0] == want]
        results[f"{server}/{client}"] = {
            "modes": {m: sum(1 for r in rows if r[0] == m) for m in sorted({r[0] for r in rows})},
            "mode": want,
            "stats": describe(mine),
        }
    print(f"{'server / client':44} {'modes':>14} {'n':>5} {'mean µs':>9} {'sd µs':>8} {'p99 |dev| µs':>13} {'delay µs':>9}")
    for name, r in results.items():
        s = r["stats"] or {}
        modes = " ".join(f"{m}:{n}" for m, n in r["modes"].items())
        print(
            f"{name:44} {modes:>14} {s.get('n', 0):>5} {s.get('offset_mean_us', float('nan')):>9.2f} "
            f"{s.get('offset_sd_us', float('nan')):>8.2f} {s.get('offset_p99_abs_dev_us', float('nan')):>13.2f} "
            f"{s.get('delay_mean_us', float('nan')):>9.2f}"
        )
    ratios = {}
    for name in results:
        if not name.endswith("xleave"):
            continue
        basic = results.get(name[: -len("xleave")] + "basic", {}).get("stats")
        inter = results[name]["stats"]
        if basic and inter and inter["offset_sd_us"] > 0:
            ratios[name[: -len("-xleave")]] = basic["offset_sd_us"] / inter["offset_sd_us"]
    for name, r in ratios.items():
        print(f"offset sd basic / interleaved, {name}: {r:.2f}")
    if a.json_out:
        doc = {
            "settings": dict(s.split("=", 1) for s in a.setting),
            "machine": dict(m.split("=", 1) for m in a.machine),
            "results": results,
            "sd_ratio_basic_over_interleaved": ratios,
        }
        a.json_out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
