#!/usr/bin/env python3
"""A steady NTP client for availability tests (rolling updates, restarts).

Sends one mode-3 request every INTERVAL seconds, each from a fresh socket (a
new source port, so SO_REUSEPORT spreads the requests over every process
sharing the server's port, as a population of clients would), and sorts the
outcome of each request:

  good            a reply with usable time (leap != 3, stratum 1..15)
  unsynchronised  a reply without usable time (leap 3 / stratum 0, no kiss code)
  kod             a kiss-o'-death
  lost            no valid reply within TIMEOUT

A reply's delay is measured from its kernel receive timestamp
(SO_TIMESTAMPNS), so a probe that is itself descheduled for a while (a busy
machine) does not count replies that arrived in time as lost.

Runs until DURATION seconds have passed or the file STOP exists (bounded by
--max-duration either way), then prints one JSON object with the counts and
the send times (seconds since START, the wall-clock start time) of every
request that was not good.

  ntp_probe.py --server 127.0.0.1:123 [--interval 0.05] [--timeout 0.5]
               [--duration S | --stop-file PATH] [--max-duration 600]
"""

import argparse
import json
import os
import selectors
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = 35  # Linux; Python's socket module lacks the name
KISS_CODES = {b"DENY", b"RSTR", b"RATE", b"NTSN"}


def parse_server(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    return host, int(port)


def request(transmit):
    """A 48-byte NTPv4 client request carrying TRANSMIT (64-bit) as its transmit timestamp."""
    return struct.pack("!B B b b I I 4s Q Q Q Q", (0 << 6) | (4 << 3) | 3, 0, 6, -20, 0, 0, b"\0" * 4, 0, 0, 0, transmit)


def classify(data, transmit):
    """'good', 'unsynchronised', 'kod', or None when it is not the answer to our request."""
    if len(data) < 48:
        return None
    first, stratum = data[0], data[1]
    refid = data[12:16]
    origin = struct.unpack("!Q", data[24:32])[0]
    if first & 0x7 != 4 or origin != transmit:
        return None
    leap = first >> 6
    if stratum == 0 and refid in KISS_CODES:
        return "kod"
    if leap == 3 or not 1 <= stratum <= 15:
        return "unsynchronised"
    return "good"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--stop-file")
    ap.add_argument("--max-duration", type=float, default=600.0)
    args = ap.parse_args()
    if args.duration is None and not args.stop_file:
        ap.error("give --duration or --stop-file")
    host, port = parse_server(args.server)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    limit = min(args.duration if args.duration is not None else args.max_duration, args.max_duration)

    sel = selectors.DefaultSelector()
    counts = {"sent": 0, "good": 0, "unsynchronised": 0, "kod": 0, "lost": 0}
    bad = []  # (send time, outcome)
    start = time.monotonic()
    start_wall = time.time()
    next_send = start
    sending = True

    def finish(sock, sent_at, outcome):
        sel.unregister(sock)
        sock.close()
        counts[outcome] += 1
        if outcome != "good":
            bad.append((round(sent_at - start, 3), outcome))

    def receive(sock, sent_wall, transmit):
        """The outcome of the replies waiting in SOCK, or None."""
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(1024, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                return None
            arrived = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    arrived = sec + nsec * 1e-9
            outcome = classify(data, transmit)
            if outcome is None:
                continue
            if arrived is not None and arrived - sent_wall > args.timeout:
                return "lost"
            return outcome

    while sending or sel.get_map():
        now = time.monotonic()
        if sending and (now - start >= limit or (args.stop_file and os.path.exists(args.stop_file))):
            sending = False
        if sending and now >= next_send:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            transmit = int.from_bytes(os.urandom(8), "big")
            sent_wall = time.time()
            try:
                sock.sendto(request(transmit), (host, port))
            except OSError:
                pass  # counted as lost when the timeout passes
            sel.register(sock, selectors.EVENT_READ, (now, sent_wall, transmit))
            counts["sent"] += 1
            next_send += args.interval
            continue
        # Time out requests whose reply did not come (read what is there first).
        for key in list(sel.get_map().values()):
            sent_at, sent_wall, transmit = key.data
            if now - sent_at >= args.timeout:
                finish(key.fileobj, sent_at, receive(key.fileobj, sent_wall, transmit) or "lost")
        wait = args.timeout
        if sending:
            wait = min(wait, max(0.0, next_send - time.monotonic()))
        for key, _ in sel.select(timeout=wait):
            sent_at, sent_wall, transmit = key.data
            outcome = receive(key.fileobj, sent_wall, transmit)
            if outcome is not None:
                finish(key.fileobj, sent_at, outcome)

    counts["not_good"] = counts["sent"] - counts["good"]
    counts["loss_percent"] = round(100.0 * counts["not_good"] / counts["sent"], 3) if counts["sent"] else 100.0
    counts["duration"] = round(time.monotonic() - start, 3)
    counts["start"] = start_wall
    counts["bad"] = bad
    json.dump(counts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
