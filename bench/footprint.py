#!/usr/bin/env python3
"""Memory footprint of simple-ntpd, chronyd and ntpd-rs, side by side (bench/footprint.sh).

For every scenario and daemon (order alternates per round) it starts the daemon,
measures the time from fork to the first NTP reply on loopback, lets it settle,
then reads RSS, PSS and anonymous memory from /proc/PID/smaps_rollup and the
thread count from /proc/PID/status. Scenarios:

  idle      the default configuration, no sources: the local clock is served
  sources4  4 upstream servers on 127.77.0.1-4 (a responder in this script,
            stratum 1, answering every request from the system clock)
  nts       idle plus the NTS-KE server (throw-away certificate for 127.0.0.1)
  load      idle, then LOAD_SECONDS of RATE requests/s (ntp-bench, open loop),
            measured after that and again after a second LOAD_SECONDS period
            (growth = second - first)

No daemon may steer the real clock: chronyd runs with -x, simple-ntpd with
NTPD_TEST_READ_ONLY_CLOCK=1, ntpd-rs without CAP_SYS_TIME (capsh) and with
minimum-agreeing-sources above the number of sources. Only processes this
script started are stopped (by PID).
"""

import argparse
import json
import os
import random
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NTP_EPOCH = 2208988800
UPSTREAMS = [f"127.77.0.{i}" for i in range(1, 5)]


def ntp_ts(t):
    secs = int(t) + NTP_EPOCH
    return struct.pack("!II", secs & 0xFFFFFFFF, int((t % 1) * 2**32) & 0xFFFFFFFF)


class Upstream:
    """Four stratum-1 NTP responders on 127.77.0.1-4, one port, one thread."""

    def __init__(self):
        self.socks = []
        for _ in range(20):
            port = random.randint(20000, 60000)
            try:
                socks = []
                for addr in UPSTREAMS:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind((addr, port))
                    s.setblocking(False)
                    socks.append(s)
                self.socks, self.port = socks, port
                break
            except OSError:
                for s in socks:
                    s.close()
        if not self.socks:
            raise SystemExit("footprint: no free port for the upstream responders")
        self.stop = threading.Event()
        self.answered = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in sel.select(0.2):
                try:
                    data, peer = key.fileobj.recvfrom(2048)
                except OSError:
                    continue
                if len(data) < 48 or data[0] & 7 != 3:
                    continue
                rx = time.time()
                vn = (data[0] >> 3) & 7
                head = struct.pack("!BBbbII4s", (vn << 3) | 4, 1, data[2], -20, 0, 0x10, b"GPS\0")
                reply = head + ntp_ts(rx - 1) + data[40:48] + ntp_ts(rx) + ntp_ts(time.time())
                try:
                    key.fileobj.sendto(reply, peer)
                    self.answered += 1
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(2)
        for s in self.socks:
            s.close()


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- configurations ---------------------------------------------------------------


def simple_ntpd(args, name, scenario, tmp, port, upstream_port, pki):
    mon = free_tcp_port()
    lines = [
        "[network]",
        'listen_address = "127.0.0.1"',
        f"listen_port = {port}",
        "[monitoring]",
        f'listen = "127.0.0.1:{mon}"',
        "[logging]",
        'level = "WARN"',
    ]
    if scenario == "sources4":
        for a in UPSTREAMS:
            lines += ["[[sources.servers]]", f'address = "{a}:{upstream_port}"', "iburst = true"]
    if scenario == "nts":
        keys = tmp / "simple-ntpd-keys"
        keys.mkdir(exist_ok=True)
        lines += [
            "[security.nts]",
            "enabled = true",
            f'ke_listen = "127.0.0.1:{free_tcp_port()}"',
            f'certificate_chain = "{pki}/chain.pem"',
            f'private_key = "{pki}/server.key"',
            f'key_directory = "{keys}"',
        ]
    if args.simple_workers:
        lines += ["[performance]", f"worker_threads = {args.simple_workers}"]
    conf = tmp / "simple-ntpd.toml"
    conf.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, NTPD_TEST_READ_ONLY_CLOCK="1")
    return [binary_of(args, name), "run", "-c", str(conf)], env


def chronyd(args, name, scenario, tmp, port, upstream_port, pki):
    d = tmp / "chronyd"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    lines = [
        f"pidfile {d}/chronyd.pid",
        f"driftfile {d}/chronyd.drift",
        "cmdport 0",
        "bindcmdaddress /",
        f"port {port}",
        "bindaddress 127.0.0.1",
        "allow 127.0.0.0/8",
    ]
    if scenario == "sources4":
        lines += [f"server {a} port {upstream_port} iburst" for a in UPSTREAMS]
    else:
        lines += ["local stratum 10"]
    if scenario == "nts":
        (d / "nts").mkdir()
        lines += [
            f"ntsserverkey {pki}/server.key",
            f"ntsservercert {pki}/chain.pem",
            f"ntsport {free_tcp_port()}",
            f"ntsdumpdir {d}/nts",
        ]
    conf = tmp / "chronyd.conf"
    conf.write_text("\n".join(lines) + "\n")
    user = ["-u", "root"] if os.getuid() == 0 else ["-U", "-u", os.environ.get("USER", "nobody")]
    return [binary_of(args, name), "-x", "-d", *user, "-4", "-f", str(conf)], dict(os.environ)


def ntpd_rs(args, name, scenario, tmp, port, upstream_port, pki):
    lines = [
        "[observability]",
        'log-level = "warn"',
        "[synchronization]",
        "local-stratum = 10",
        # More than the sources configured: never enough agreeing sources to
        # steer the clock (it has no CAP_SYS_TIME either).
        "minimum-agreeing-sources = 5",
        "[[server]]",
        f'listen = "127.0.0.1:{port}"',
    ]
    if scenario == "sources4":
        for a in UPSTREAMS:
            lines += ["[[source]]", 'mode = "server"', f'address = "{a}:{upstream_port}"']
    if scenario == "nts":
        lines += [
            "[[nts-ke-server]]",
            f'listen = "127.0.0.1:{free_tcp_port()}"',
            f'certificate-chain-path = "{pki}/chain.pem"',
            f'private-key-path = "{pki}/server.key"',
            # The key set (cookie keys) is its own table in ntpd-rs 1.x.
            "[keyset]",
            f'key-storage-path = "{tmp}/ntpd-rs-keys"',
        ]
    conf = tmp / "ntpd-rs.toml"
    conf.write_text("\n".join(lines) + "\n")
    argv = [binary_of(args, name), "-c", str(conf)]
    if os.getuid() == 0:
        argv = ["capsh", "--drop=cap_sys_time", "--", "-c", 'exec "$0" "$@"', *argv]
    return argv, dict(os.environ)


KINDS = {"simple-ntpd": simple_ntpd, "chronyd": chronyd, "ntpd-rs": ntpd_rs}


def kind_of(name):
    """simple-ntpd, simple-ntpd-static, simple-ntpd-before... share a configuration."""
    for kind in KINDS:
        if name == kind or name.startswith(kind + "-"):
            return KINDS[kind]
    raise SystemExit(f"footprint: unknown daemon {name}")


def binary_of(args, name):
    return args.binaries[name]


# ---- measurements ------------------------------------------------------------------


def first_reply_ms(proc, port, limit_s=10.0):
    """Milliseconds from fork (t0 = just before Popen) until the first reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.002)
    req = bytes([0x23]) + bytes(39) + ntp_ts(time.time())
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None
            try:
                s.sendto(req, ("127.0.0.1", port))
            except OSError:
                pass
            try:
                data = s.recv(2048)
                if len(data) >= 48:
                    return time.monotonic()
            except (socket.timeout, OSError):
                pass
        return None
    finally:
        s.close()


def descendants(pid):
    """pid and every process below it (chronyd's NTS-KE helpers are forks)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def smaps(pid):
    """Memory of the daemon's whole process tree, summed (PSS adds up
    exactly; RSS and anonymous count pages shared between the processes
    once per process)."""
    total = {"rss_kb": 0, "pss_kb": 0, "anon_kb": 0, "pss_anon_kb": 0, "threads": 0, "processes": 0}
    for p in descendants(pid):
        out = {}
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                        out[parts[0][:-1]] = int(parts[1])
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        out["Threads"] = int(line.split()[1])
        except OSError:
            continue
        total["rss_kb"] += out.get("Rss", 0)
        total["pss_kb"] += out.get("Pss", 0)
        total["anon_kb"] += out.get("Anonymous", 0)
        total["pss_anon_kb"] += out.get("Pss_Anon", 0)
        total["threads"] += out.get("Threads", 0)
        total["processes"] += 1
    return total


def daemon_pid(proc):
    """The daemon's PID: capsh execs it, so it is the child we started."""
    return proc.pid


def stop(proc, timeout_s=5):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_pki(d):
    d.mkdir()

    def ssl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=footprint test CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ssl("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf", "-out", f"{d}/server.crt")
    (d / "chain.pem").write_text((d / "server.crt").read_text() + (d / "ca.pem").read_text())
    os.chmod(d / "server.key", 0o644)


def run_one(args, name, scenario, tmp, upstream, pki):
    port = free_udp_port()
    argv, env = kind_of(name)(args, name, scenario, tmp, port, upstream.port, pki)
    log = open(tmp / f"{name}.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        t1 = first_reply_ms(proc, port)
        if t1 is None:
            log.flush()
            tail = (tmp / f"{name}.log").read_text()[-1500:]
            raise RuntimeError(f"{name} ({scenario}) gave no reply in 10 s:\n{tail}")
        result = {"startup_ms": round((t1 - t0) * 1000, 1)}
        time.sleep(args.settle)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} ({scenario}) exited: {(tmp / f'{name}.log').read_text()[-1500:]}")
        pid = daemon_pid(proc)
        if scenario == "load":
            result["before_load"] = smaps(pid)
            for phase in ("first", "second"):
                bench = subprocess.run(
                    [args.ntp_bench, "--server", f"127.0.0.1:{port}", "--rate", str(args.rate),
                     "--duration", str(args.load_seconds), "--warmup", "0", "--json"],
                    capture_output=True, text=True)
                if bench.returncode != 0:
                    raise RuntimeError(f"ntp-bench failed: {bench.stderr[-800:]}")
                report = json.loads(bench.stdout.strip().splitlines()[-1])
                result[f"after_{phase}"] = smaps(pid)
                result[f"after_{phase}"]["answered_pct"] = report.get("answered_pct")
            result.update(result["after_second"])
            result["growth_kb"] = {k: result["after_second"][k] - result["after_first"][k]
                                   for k in ("rss_kb", "pss_kb", "anon_kb")}
        else:
            result.update(smaps(pid))
        return result
    finally:
        stop(proc)
        log.close()


def binary_sizes(args, tmp):
    sizes = {}
    for name in args.daemons:
        path = binary_of(args, name)
        size = os.path.getsize(path)
        stripped = tmp / f"{name}.stripped"
        shutil.copy(path, stripped)
        subprocess.run(["strip", str(stripped)], check=False, capture_output=True)
        sizes[name] = {"file_kb": size // 1024, "stripped_kb": os.path.getsize(stripped) // 1024}
        stripped.unlink()
    return sizes


def median_of(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--daemon", action="append", required=True, metavar="NAME=BINARY",
                   help="a daemon to measure; NAME is simple-ntpd[-X], chronyd[-X] or ntpd-rs[-X]")
    p.add_argument("--ntp-bench", required=True)
    p.add_argument("--scenarios", nargs="+", default=["idle", "sources4", "nts", "load"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=float, default=5.0, help="seconds between first reply and reading memory")
    p.add_argument("--rate", type=int, default=50000)
    p.add_argument("--load-seconds", type=float, default=60)
    p.add_argument("--simple-workers", type=int, default=0, help="simple-ntpd worker_threads (0: default)")
    p.add_argument("--json-out", required=True)
    args = p.parse_args()
    args.binaries = dict(d.split("=", 1) for d in args.daemon)
    args.daemons = list(args.binaries)
    for name in args.daemons:
        kind_of(name)

    tmp = Path(tempfile.mkdtemp(prefix="ntp-footprint."))
    upstream = Upstream()
    results = {}
    failures = {}
    try:
        pki = tmp / "pki"
        if "nts" in args.scenarios:
            make_pki(pki)
        load_before = open("/proc/loadavg").read().split()[:3]
        for scenario in args.scenarios:
            for rnd in range(args.rounds):
                order = args.daemons if rnd % 2 == 0 else list(reversed(args.daemons))
                for name in order:
                    try:
                        r = run_one(args, name, scenario, tmp, upstream, pki)
                    except RuntimeError as e:
                        # A daemon that cannot run a scenario here (ntpd-rs with
                        # sources exits without clock permission) is reported as
                        # such; the other daemons' figures still count.
                        failures.setdefault(scenario, {})[name] = str(e).splitlines()[-1][:300]
                        print(f"footprint: {scenario} r{rnd + 1} {name}: FAILED: {e}", file=sys.stderr)
                        continue
                    results.setdefault(scenario, {}).setdefault(name, []).append(r)
                    print(f"footprint: {scenario} r{rnd + 1} {name}: " + ", ".join(
                        f"{k}={v}" for k, v in r.items() if not isinstance(v, dict)), file=sys.stderr)
        summary = {"scenarios": {}, "binaries": binary_sizes(args, tmp),
                   "machine": {"loadavg_before": load_before,
                               "loadavg_after": open("/proc/loadavg").read().split()[:3],
                               "cpus": os.cpu_count(), "kernel": os.uname().release},
                   "settings": {k: v for k, v in vars(args).items() if k not in ("json_out", "daemon")},
                   "upstream_replies": upstream.answered, "failures": failures}
        for scenario, per in results.items():
            summary["scenarios"][scenario] = {}
            for name, runs in per.items():
                med = {k: median_of(runs, k) for k in
                       ("rss_kb", "pss_kb", "anon_kb", "pss_anon_kb", "threads", "processes", "startup_ms")}
                if scenario == "load":
                    med["growth_kb"] = {k: statistics.median(r["growth_kb"][k] for r in runs)
                                        for k in ("rss_kb", "pss_kb", "anon_kb")}
                    med["answered_pct"] = min(r["after_second"]["answered_pct"] or 0 for r in runs)
                summary["scenarios"][scenario][name] = {"median": med, "runs": runs}
        Path(args.json_out).write_text(json.dumps(summary, indent=1))
        print_table(summary)
    finally:
        upstream.close()
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(summary):
    print(f"load average before/after: {' '.join(summary['machine']['loadavg_before'])} / "
          f"{' '.join(summary['machine']['loadavg_after'])}")
    print(f"{'scenario':<9} {'daemon':<20} {'RSS MB':>7} {'PSS MB':>7} {'anon MB':>8} {'threads':>7} "
          f"{'procs':>5} {'start ms':>8}  extra")
    for scenario, per in summary["scenarios"].items():
        for name, d in per.items():
            m = d["median"]
            extra = ""
            if "growth_kb" in m:
                g = m["growth_kb"]
                extra = f"growth RSS {g['rss_kb']} kB, anon {g['anon_kb']} kB; answered >= {m['answered_pct']} %"
            print(f"{scenario:<9} {name:<20} {m['rss_kb'] / 1024:7.2f} {m['pss_kb'] / 1024:7.2f} "
                  f"{m['anon_kb'] / 1024:8.2f} {m['threads']:7.0f} {m['processes']:5.0f} {m['startup_ms']:8.1f}  {extra}")
    for scenario, per in summary["failures"].items():
        for name, why in per.items():
            print(f"{scenario:<9} {name:<20} no figures: {why}")
    print(f"upstream replies sent (4 sources scenario): {summary['upstream_replies']}")
    print(f"{'binary':<22} {'file MB':>8} {'stripped MB':>12}")
    for name, b in summary["binaries"].items():
        print(f"{name:<22} {b['file_kb'] / 1024:8.2f} {b['stripped_kb'] / 1024:12.2f}")


if __name__ == "__main__":
    main()
