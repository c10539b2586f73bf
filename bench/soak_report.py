#!/usr/bin/env python3
"""The measuring half of bench/soak.sh.

`sample`: every 5 s until the stop file appears, one JSON line with the
daemon's RSS, open file descriptors and threads (/proc), its log's line
count and the warning/error lines since the last sample, /api/v1/status and
/api/v1/sources, and the served offset against the steady upstream (both
queried with `simple-ntpd query --json` at the same moment).

`report`: from samples.jsonl, load.jsonl (ntp-bench chunks) and events.jsonl
(faults, reloads) writes report.json and chart.png and checks the acceptance
figures; exits 1 when one fails.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

WARN = re.compile(r"\b(WARN|ERROR)\b|recovered: ")
# What each fault is expected to make the daemon log, and show in status
# (health reasons; for failing lookups, a source without an address).
FAULT_LOG = {
    "drift-full": re.compile(r"drift file", re.I),
    "drift-readonly": re.compile(r"drift file", re.I),
    "nts-keys": re.compile(r"NTS cookie key", re.I),
    "dns": re.compile(r"cannot resolve", re.I),
    "flap": re.compile(r"unreachable", re.I),
}


def visible_in_status(name, sample_):
    """A health reason names the fault (lookups: a reason, or a source shown
    without an address)."""
    reasons = sample_.get("status", {}).get("health", {}).get("reasons", [])
    if any(FAULT_LOG[name].search(r) for r in reasons):
        return True
    return name == "dns" and any(row.get("address") is None for row in source_rows(sample_))


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)
    except Exception as e:  # noqa: BLE001 - a failed probe is a data point
        return {"error": str(e)}


def query_offset(binary, server):
    try:
        out = subprocess.run(
            [binary, "query", server, "--json", "--timeout", "1"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout
        line = [l for l in out.splitlines() if l.startswith("{")][-1]
        return json.loads(line).get("offset")
    except Exception:  # noqa: BLE001
        return None


def proc(pid):
    """RSS and its anonymous part (kB), open fds and threads of `pid`. The
    anonymous part is what a leak grows; the rest is program and library
    pages, which creep up as code paths are first run."""
    rss = anon = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, anon, len(os.listdir(f"/proc/{pid}/fd")), threads


def sample(a):
    pos, lines, panics = 0, 0, 0
    with open(a.out, "a") as out:
        while not os.path.exists(a.stop):
            t = time.time()
            try:
                rss, anon, fds, threads = proc(a.pid)
            except OSError:
                rss = anon = fds = threads = None
            warnings = []
            with open(a.log, errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            for line in chunk.splitlines():
                lines += 1
                if "panicked" in line:
                    panics += 1
                if WARN.search(line):
                    warnings.append(line[-400:])
            served = query_offset(a.query, a.served)
            reference = query_offset(a.query, a.reference)
            rec = {
                "t": t, "rss_kb": rss, "anon_kb": anon, "fds": fds, "threads": threads, "log_lines": lines,
                "panics": panics, "warnings": warnings,
                "served_minus_reference_s": None if served is None or reference is None else served - reference,
                "status": get_json(a.api + "/api/v1/status"),
                "sources": get_json(a.api + "/api/v1/sources"),
            }
            out.write(json.dumps(rec) + "\n")
            out.flush()
            time.sleep(max(0.0, 5.0 - (time.time() - t)))


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def windows(events):
    """(name, start, end) of every fault window, in order."""
    open_, out = {}, []
    for e in events:
        if "fault" not in e:
            continue
        if e["edge"] == "start":
            open_[e["fault"]] = e["t"]
        elif e["fault"] in open_:
            out.append((e["fault"], open_.pop(e["fault"]), e["t"]))
    return out


def source_rows(sample_):
    s = sample_.get("sources")
    if isinstance(s, dict):
        s = s.get("sources", [])
    return s if isinstance(s, list) else []


def last_response_at(sample_, port):
    """When the source on `port` last answered (epoch seconds), or None."""
    for row in source_rows(sample_):
        if str(row.get("address") or "").endswith(f":{port}") and row.get("last_response_seconds_ago") is not None:
            return sample_["t"] - row["last_response_seconds_ago"]
    return None


def report(a):
    samples = read_jsonl(os.path.join(a.dir, "samples.jsonl"))
    load = read_jsonl(os.path.join(a.dir, "load.jsonl"))
    events = read_jsonl(os.path.join(a.dir, "events.jsonl"))
    if not samples:
        sys.exit("soak: no samples")
    t0 = samples[0]["t"]
    warm = min(300.0, a.duration / 4)
    after = [s for s in samples if s["t"] - t0 >= warm and s["rss_kb"] is not None]
    first, tail = after[: max(1, len(after) // 5)], after[-max(1, len(after) // 5):]
    rss_growth_kb = max(s["rss_kb"] for s in after) - after[0]["rss_kb"]
    # Floors, not peaks: lookups, key exchanges and reloads use threads and
    # sockets for seconds (tokio's blocking pool idles threads out after
    # 10 s); a leak raises the floor.
    fd_growth = min(s["fds"] for s in tail) - min(s["fds"] for s in first)
    thread_growth = min(s["threads"] for s in tail) - min(s["threads"] for s in first)
    sent = sum(c.get("sent", 0) for c in load)
    matched = sum(c.get("matched", 0) for c in load)
    answered = matched / sent if sent else 0.0
    offsets = [abs(s["served_minus_reference_s"]) for s in samples if s["served_minus_reference_s"] is not None]
    minutes = max(1.0, (samples[-1]["t"] - t0) / 60)
    log_per_min = samples[-1]["log_lines"] / minutes

    faults = []
    flap_recoveries = []
    last_t = samples[-1]["t"]
    for name, start, end in windows(events):
        if name == "flap" and end > last_t - 10:
            continue
        inside = [s for s in samples if start <= s["t"] <= end + 10]
        logged = [w for s in inside for w in s["warnings"] if FAULT_LOG[name].search(w) and "recovered: " not in w]
        in_status = any(visible_in_status(name, s) for s in inside)
        entry = {"fault": name, "start_s": round(start - t0, 1), "end_s": round(end - t0, 1),
                 "warnings_logged": len(logged), "first_log_line": logged[0] if logged else None,
                 "visible_in_status": in_status}
        if name == "flap":
            # Reached again: the first answer after the upstream continued.
            answers = [last_response_at(s, 1202) for s in samples if s["t"] > end]
            back = min((a - end for a in answers if a is not None and a > end), default=None)
            entry["reached_again_after_s"] = None if back is None else round(back, 1)
            flap_recoveries.append(back)
        if name != "flap":
            recovered = next((s["t"] - end for s in samples if s["t"] > end
                              and any("recovered: " in w and FAULT_LOG[name].search(w) for w in s["warnings"])), None)
            entry["recovery_logged_within_s"] = None if recovered is None else round(recovered, 1)
        faults.append(entry)

    loadavg = a.load_average
    checks = {
        "rss_growth_after_warmup_le_2MB": rss_growth_kb <= 2048,
        "no_fd_growth": fd_growth <= 0,
        "no_thread_growth": thread_growth <= 0,
        "answered_ge_99.9pct": answered >= 0.999,
        "no_panic": samples[-1]["panics"] == 0,
        "each_fault_logged": all(f["warnings_logged"] >= 1 for f in faults if f["fault"] != "flap"),
        "each_fault_visible_in_status": all(f["visible_in_status"] for f in faults if f["fault"] != "flap"),
        # One poll of the flapping source is at most 8 s (maxpoll 3).
        "flapping_source_back_within_one_poll": all(r is not None and r <= 8 for r in flap_recoveries),
    }
    result = {
        "duration_s": a.duration,
        "rate_per_s": a.rate,
        "load_average_at_end": loadavg,
        "samples": len(samples),
        "warmup_s": warm,
        "rss_kb": {"start": samples[0]["rss_kb"], "after_warmup": after[0]["rss_kb"],
                   "max": max(s["rss_kb"] for s in after), "end": samples[-1]["rss_kb"]},
        "rss_growth_after_warmup_kb": rss_growth_kb,
        "anon_kb": {"after_warmup": after[0].get("anon_kb"), "max": max((s.get("anon_kb") or 0) for s in after),
                    "end": samples[-1].get("anon_kb")},
        "fds": {"first_fifth_min": min(s["fds"] for s in first), "last_fifth_min": min(s["fds"] for s in tail),
                "max": max(s["fds"] for s in after)},
        "threads": {"first_fifth_min": min(s["threads"] for s in first),
                    "last_fifth_min": min(s["threads"] for s in tail), "max": max(s["threads"] for s in after)},
        "requests": {"sent": sent, "answered": matched, "answered_ratio": round(answered, 6),
                     "unsynchronised_replies": sum(c.get("unsynchronised", 0) for c in load),
                     "chunks": len(load)},
        "served_offset_vs_steady_upstream_s": {
            "max_abs": max(offsets) if offsets else None,
            "median_abs": statistics.median(offsets) if offsets else None,
            "measured": len(offsets)},
        "log_lines_per_minute": round(log_per_min, 1),
        "panics": samples[-1]["panics"],
        "reloads": sum(1 for e in events if "reload" in e),
        "faults": faults,
        "checks": checks,
        "passed": all(checks.values()),
    }
    with open(os.path.join(a.dir, "report.json"), "w") as f:
        json.dump(result, f, indent=2)
    chart(a.dir, samples, load, windows(events), t0)
    print(json.dumps({k: result[k] for k in ("rss_growth_after_warmup_kb", "anon_kb", "fds", "threads", "requests",
                                             "served_offset_vs_steady_upstream_s", "log_lines_per_minute",
                                             "panics", "reloads", "checks")}, indent=1))
    for f in faults:
        if f["fault"] != "flap":
            print(f"fault {f['fault']}: {f['warnings_logged']} warning(s), visible in status: {f['visible_in_status']}, "
                  f"recovered: logged {f.get('recovery_logged_within_s')} s after the end; first: {f['first_log_line']}")
    print(f"flaps: {len(flap_recoveries)}, reached again after (s): {[f.get('reached_again_after_s') for f in faults if f['fault'] == 'flap']}")
    if not result["passed"]:
        print("soak: FAILED: " + ", ".join(k for k, v in checks.items() if not v), file=sys.stderr)
        sys.exit(1)
    print("soak: passed")


def chart(out_dir, samples, load, wins, t0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = lambda t: (t - t0) / 60  # noqa: E731
    fig, ax = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    ts = [m(s["t"]) for s in samples]
    ax[0].plot(ts, [(s["rss_kb"] or 0) / 1024 for s in samples])
    ax[0].set_ylabel("RSS MiB")
    ax[1].plot(ts, [s["fds"] for s in samples], label="open fds")
    ax[1].plot(ts, [s["threads"] for s in samples], label="threads")
    ax[1].legend(loc="upper left")
    ax[2].plot([m(c["t"]) for c in load], [100 * c.get("matched", 0) / max(1, c.get("sent", 0)) for c in load], ".")
    ax[2].set_ylabel("answered %")
    off = [(m(s["t"]), s["served_minus_reference_s"] * 1e3) for s in samples if s["served_minus_reference_s"] is not None]
    ax[3].plot([o[0] for o in off], [o[1] for o in off], ".")
    ax[3].set_ylabel("served - upstream ms")
    ax[3].set_xlabel("minutes")
    colours = {"drift-full": "tab:red", "drift-readonly": "tab:orange", "nts-keys": "tab:purple", "dns": "tab:green"}
    for name, s, e in wins:
        if name in colours:
            for x in ax:
                x.axvspan(m(s), m(e), color=colours[name], alpha=0.15)
            ax[0].text(m(s), ax[0].get_ylim()[1], name, fontsize=7, va="top")
    fig.suptitle("simple-ntpd soak")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "chart.png"), dpi=90)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    for k in ("--pid", "--api", "--log", "--query", "--served", "--reference", "--out", "--stop"):
        s.add_argument(k, required=True)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--rate", type=int, required=True)
    r.add_argument("--load-average", default="")
    a = p.parse_args()
    sample(a) if a.cmd == "sample" else report(a)


if __name__ == "__main__":
    main()
