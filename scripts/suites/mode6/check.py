#!/usr/bin/env python3
"""Checks for the mode6 suite: NTPsec's ntpq and ntpstat output against the
daemon's own status API, and raw control requests (writes refused, rate
limits). Run inside the server's network namespace; every check prints what
it compared and exits non-zero on the first mismatch."""

import json
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request


def fail(msg):
    print(f"mode6: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def api(base, path):
    with urllib.request.urlopen(f"http://{base}{path}", timeout=5) as r:
        return json.load(r)


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def ntpq_vars(text):
    """key=value pairs of ntpq's cooked `rv` output."""
    body = text.split("\n", 1)[1] if text.startswith("associd=") else text
    out = {}
    for item in re.split(r",\s*", body.replace("\n", " ")):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def close(a, b, tol, what):
    if abs(a - b) > tol:
        fail(f"{what}: ntpq {a} vs API {b} (tolerance {tol})")
    print(f"mode6: {what}: ntpq {a} = API {b}")


def stable(base, path, fn):
    """Runs fn() between two API reads until both reads agree (a clock
    update between them would make the comparison meaningless)."""
    for _ in range(10):
        before = api(base, path)
        result = fn()
        after = api(base, path)
        keys = ("offset_seconds", "jitter_seconds", "frequency_ppm", "root_delay_seconds")
        if path.endswith("status"):
            same = all(before[k] == after[k] for k in keys)
        else:
            same = [(s["offset_seconds"], s["delay_seconds"], s["jitter_seconds"], s["reachability"]) for s in before["sources"]] == [
                (s["offset_seconds"], s["delay_seconds"], s["jitter_seconds"], s["reachability"]) for s in after["sources"]]
        if same:
            return after, result
        time.sleep(0.3)
    fail(f"{path} kept changing under the comparison")


def check_rv(base, server):
    def query():
        rc, out, err = run("ntpq", "-c", "rv", server)
        if rc != 0 or "associd=0" not in out:
            fail(f"ntpq -c rv {server}: rc {rc}\n{out}\n{err}")
        return out
    status, out = stable(base, "/api/v1/status", query)
    print(out, end="")
    v = ntpq_vars(out)
    if not status["synchronised"]:
        fail(f"the daemon is not synchronised: {status}")
    if int(v["leap"], 2) != status["leap"]:
        fail(f"leap: ntpq {v['leap']} vs API {status['leap']}")
    if int(v["stratum"]) != status["stratum"]:
        fail(f"stratum: ntpq {v['stratum']} vs API {status['stratum']}")
    if v["refid"] != status["reference_id"]:
        fail(f"refid: ntpq {v['refid']} vs API {status['reference_id']}")
    if int(v["precision"]) != status["precision"]:
        fail(f"precision: ntpq {v['precision']} vs API {status['precision']}")
    print(f"mode6: leap {v['leap']}, stratum {v['stratum']}, refid {v['refid']}, precision {v['precision']} as the API says")
    close(float(v["offset"]), status["offset_seconds"] * 1e3, 1e-6, "offset (ms)")
    close(float(v["sys_jitter"]), status["jitter_seconds"] * 1e3, 1e-6, "sys_jitter (ms)")
    close(float(v["frequency"]), status["frequency_ppm"], 1e-6, "frequency (ppm)")
    close(float(v["rootdelay"]), status["root_delay_seconds"] * 1e3, 1e-6, "rootdelay (ms)")
    # Root dispersion grows at 15 ppm between the two reads.
    close(float(v["rootdisp"]), status["root_dispersion_seconds"] * 1e3, 0.01, "rootdisp (ms)")
    if "status=06" not in out or "sync_ntp" not in out:
        fail("the system status word does not say synchronised to an NTP server")
    return v


def check_peers(base, server, upstream):
    def query():
        rc, out, err = run("ntpq", "-p", "-n", server)
        if rc != 0:
            fail(f"ntpq -p -n: rc {rc}\n{out}\n{err}")
        return out
    sources, out = stable(base, "/api/v1/sources", query)
    print(out, end="")
    rows = [l for l in out.splitlines()[2:] if l.strip()]
    api_sources = [s for s in sources["sources"] if s["address"]]
    if len(rows) != len(api_sources):
        fail(f"{len(rows)} ntpq rows for {len(api_sources)} sources")
    row = rows[0]
    tally, rest = row[0], row[1:].split()
    remote, refid, st, kind, when, poll, reach, delay, offset, jitter = rest
    src = api_sources[0]
    if src["address"] != upstream or remote != upstream.rsplit(":", 1)[0]:
        fail(f"remote {remote} vs API address {src['address']}")
    if tally != "*" or src["state"] != "selected":
        fail(f"tally {tally!r} vs API state {src['state']}")
    if int(st) != src["stratum"] or kind != "u":
        fail(f"st {st} {kind} vs API stratum {src['stratum']}")
    if int(reach, 8) != src["reachability"]:
        fail(f"reach {reach} vs API {src['reachability']:o}")
    if int(poll) != int(src["poll_seconds"]):
        fail(f"poll {poll} vs API {src['poll_seconds']}")
    close(float(delay), src["delay_seconds"] * 1e3, 6e-4, "peer delay (ms)")
    close(float(offset), src["offset_seconds"] * 1e3, 6e-4, "peer offset (ms)")
    close(float(jitter), src["jitter_seconds"] * 1e3, 6e-4, "peer jitter (ms)")
    print(f"mode6: peer {remote} refid {refid} '{tally}' st {st} poll {poll} reach {reach} as the API says")
    return refid


def check_ntpstat(base, ntpstat):
    rc, out, err = run(ntpstat)
    status = api(base, "/api/v1/status")
    print(out, end="")
    if rc != 0:
        fail(f"ntpstat exit {rc}\n{out}\n{err}")
    m = re.search(r"synchronised to NTP server \((\S+)\) at stratum (\d+)", out)
    if not m or m.group(1) != status["reference_id"] or int(m.group(2)) != status["stratum"]:
        fail(f"ntpstat says {out!r}; the API: refid {status['reference_id']} stratum {status['stratum']}")
    m = re.search(r"time correct to within (\d+) ms", out)
    bound = status["root_dispersion_seconds"] * 1e3 + status["root_delay_seconds"] * 1e3 / 2
    if not m or abs(int(m.group(1)) - round(bound)) > 1:
        fail(f"ntpstat accuracy {out!r} vs API root distance {bound} ms")
    if not re.search(r"polling server every \d+ s", out):
        fail(f"no poll interval: {out!r}")
    print("mode6: ntpstat agrees with the API")


def control(op, assoc=0, data=b"", seq=1, version=2):
    pkt = struct.pack("!BBHHHHH", (version << 3) | 6, op, seq, 0, assoc, 0, len(data)) + data
    return pkt + b"\0" * (-len(pkt) % 4)


def ask(server, pkt, wait=1.0):
    """Sends one control request; returns the datagrams that came back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(wait)
    s.sendto(pkt, (server, 123))
    got = []
    try:
        while True:
            got.append(s.recv(2048))
            s.settimeout(0.2)
    except socket.timeout:
        pass
    s.close()
    return got


def check_writes(server):
    for op, name in [(3, "WRITEVAR"), (5, "WRITECLOCK"), (8, "CONFIGURE"), (6, "SETTRAP")]:
        got = ask(server, control(op, data=b"leap=3"))
        if len(got) != 1 or len(got[0]) != 12:
            fail(f"{name}: expected one 12-byte error reply, got {[len(g) for g in got]}")
        r_e_m_op, status = got[0][1], struct.unpack("!H", got[0][4:6])[0]
        if r_e_m_op & 0xC0 != 0xC0 or status >> 8 != 1:
            fail(f"{name}: not a permission error: {got[0].hex()}")
    print("mode6: WRITEVAR, WRITECLOCK, CONFIGURE, SETTRAP refused with permission errors")


def check_rate_limit(base, server, n):
    before = api(base, "/api/v1/serverstats")["dropped"].get("rate_limited", 0)
    answered = sum(1 for i in range(n) if ask(server, control(2, seq=100 + i), wait=0.5))
    after = api(base, "/api/v1/serverstats")["dropped"].get("rate_limited", 0)
    if answered >= n or after - before != n - answered:
        fail(f"rate limit: {answered} of {n} answered, rate_limited {before} -> {after}")
    print(f"mode6: rate limited like time requests: {answered} of {n} back-to-back queries answered, {after - before} counted rate_limited")


def main():
    cmd = sys.argv[1]
    if cmd == "rv":
        check_rv(sys.argv[2], sys.argv[3])
    elif cmd == "peers":
        check_peers(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "ntpstat":
        check_ntpstat(sys.argv[2], sys.argv[3])
    elif cmd == "writes":
        check_writes(sys.argv[2])
    elif cmd == "ratelimit":
        check_rate_limit(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "silent":
        # From a network that may not ask: nothing comes back.
        got = ask(sys.argv[2], control(2), wait=2.0)
        if got:
            fail(f"a control reply to a client outside mode6_allow: {got[0].hex()}")
        print("mode6: no control reply outside mode6_allow")
    elif cmd == "answered":
        got = ask(sys.argv[2], control(2), wait=2.0)
        if not got:
            fail("no control reply to an allowed client")
        print(f"mode6: answered ({sum(len(g) for g in got)} bytes in {len(got)} datagram(s))")
    else:
        fail(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
