#!/usr/bin/env python3
"""NTS summary for `NTS=1 bench/compare.sh`.

  nts_summary.py RUN_DIR [--json-out OUT.json] [--machine k=v ...]

Reads NAME.rROUND.{closed,nts-closed,ke}.json from RUN_DIR and prints, per
server, the medians over the rounds of plain and NTS closed-loop replies/s,
the NTS / plain ratio (per round, then the median), the NTS counters and the
NTS-KE handshakes/s, and checks the target: NTS throughput >= 50 % of plain
(simple-ntpd).
"""

import argparse
import json
import re
import statistics
from pathlib import Path

RUN_FILE = re.compile(r"^(?P<server>[\w.-]+?)\.r(?P<round>\d+)\.(?P<kind>closed|nts-closed|ke)\.json$")
TARGET = 0.5


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def collect(run_dir):
    """{server: {round: {kind: report}}}"""
    out = {}
    for f in sorted(Path(run_dir).iterdir()):
        m = RUN_FILE.match(f.name)
        if not m:
            continue
        try:
            report = json.loads(f.read_text())
        except json.JSONDecodeError:
            continue
        out.setdefault(m["server"], {}).setdefault(int(m["round"]), {})[m["kind"]] = report
    return out


def summarise(runs):
    out = {}
    for server, rounds in sorted(runs.items()):
        plain = [r.get("closed", {}).get("reply_rate") for r in rounds.values()]
        nts = [r.get("nts-closed", {}).get("reply_rate") for r in rounds.values()]
        ratios = [n / p for p, n in zip(plain, nts) if isinstance(p, (int, float)) and p and isinstance(n, (int, float))]
        nts_reports = [r["nts-closed"] for r in rounds.values() if "nts-closed" in r]
        counters = {
            k: sum((rep.get("nts") or {}).get(k, 0) for rep in nts_reports)
            for k in ("nts_auth_failures", "nts_naks", "nts_no_cookie", "cookies_received")
        }
        out[server] = {
            "rounds": len(rounds),
            "plain_replies_per_s": median(plain),
            "nts_replies_per_s": median(nts),
            "nts_over_plain": round(median(ratios), 3) if ratios else None,
            "nts_answered_pct": median(rep.get("answered_pct") for rep in nts_reports),
            "nts_rtt_p50_us": median((rep.get("rtt_us") or {}).get("p50") for rep in nts_reports),
            "nts_rtt_p99_us": median((rep.get("rtt_us") or {}).get("p99") for rep in nts_reports),
            "nts_tx_error_p99_us": median((rep.get("tx_error_us") or {}).get("p99") for rep in nts_reports),
            "aead": next(((rep.get("nts") or {}).get("aead") for rep in nts_reports), None),
            "ke_burst_per_s": median((rep.get("nts") or {}).get("ke_per_s") for rep in nts_reports),
            "ke_handshakes_per_s": median(r.get("ke", {}).get("ke_per_s") for r in rounds.values()),
            "nts_counters_total": counters,
        }
    return out


def fmt(v, f="{:.0f}"):
    return f.format(v) if isinstance(v, (int, float)) else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--json-out")
    ap.add_argument("--machine", action="append")
    a = ap.parse_args()
    machine = dict(item.partition("=")[::2] for item in a.machine or [])
    summary = summarise(collect(a.run_dir))
    servers = [s for s in ("simple-ntpd", "chronyd") if s in summary] + [
        s for s in summary if s not in ("simple-ntpd", "chronyd")
    ]
    rows = [
        ("plain closed loop replies/s", "plain_replies_per_s", "{:.0f}"),
        ("NTS closed loop replies/s", "nts_replies_per_s", "{:.0f}"),
        ("NTS / plain", "nts_over_plain", "{:.3f}"),
        ("NTS answered %", "nts_answered_pct", "{:.3f}"),
        ("NTS RTT p50 µs", "nts_rtt_p50_us", "{:.1f}"),
        ("NTS RTT p99 µs", "nts_rtt_p99_us", "{:.1f}"),
        ("NTS T3 error p99 µs", "nts_tx_error_p99_us", "{:.2f}"),
        ("NTS-KE handshakes/s (--ke-only)", "ke_handshakes_per_s", "{:.1f}"),
        ("NTS-KE/s (initial burst)", "ke_burst_per_s", "{:.1f}"),
    ]
    print()
    print(f"== NTS — load average before {machine.get('loadavg_before', '?')} after {machine.get('loadavg_after', '?')}")
    head = f"{'metric (median of rounds)':<34}" + "".join(f"{s:>14}" for s in servers)
    print(head)
    print("-" * len(head))
    for label, key, f in rows:
        print(f"{label:<34}" + "".join(f"{fmt(summary[s][key], f):>14}" for s in servers))
    print(f"{'AEAD':<34}" + "".join(f"{summary[s]['aead'] or '-':>14}" for s in servers))
    for s in servers:
        c = summary[s]["nts_counters_total"]
        print(f"  {s}: auth failures {c['nts_auth_failures']} · NAKs {c['nts_naks']} · "
              f"no cookie {c['nts_no_cookie']} · cookies received {c['cookies_received']}")
    me = summary.get("simple-ntpd", {}).get("nts_over_plain")
    met = None if me is None else me >= TARGET
    print()
    print(f"target: simple-ntpd NTS throughput >= {TARGET:.0%} of plain   {fmt(me, '{:.3f}'):>8}  "
          f"{ {True: 'met', False: 'NOT met', None: 'n/a'}[met] }")
    if a.json_out:
        doc = {"machine": machine, "servers": summary, "target": {"nts_over_plain_min": TARGET, "value": me, "met": met}}
        Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json_out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"written: {a.json_out}")


if __name__ == "__main__":
    main()
