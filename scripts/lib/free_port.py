#!/usr/bin/env python3
"""Print a port free on a loopback address, for a server a test script starts next.

Usage: free_port.py [udp|tcp|both] [IP]   (default: udp 127.0.0.1)

The port is drawn at random from the 12,000 ports below the kernel's ephemeral
range, so no client socket bound to port 0 (an HTTP request, a probe, another
test's daemon) can take it between this check and the server's bind — the race
that picking "bind port 0, read it, close" leaves open. Same rule as the Rust
tests' `ntp_test_support::free_udp_port`.
"""
import random
import socket
import sys


def ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(ip: str, port: int, kinds) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for kind in kinds:
        with socket.socket(family, kind) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


def main() -> int:
    proto = sys.argv[1] if len(sys.argv) > 1 else "udp"
    ip = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    kinds = {"udp": [socket.SOCK_DGRAM], "tcp": [socket.SOCK_STREAM],
             "both": [socket.SOCK_DGRAM, socket.SOCK_STREAM]}.get(proto)
    if kinds is None:
        print(f"free_port.py: protocol must be udp, tcp or both, not {proto!r}", file=sys.stderr)
        return 2
    start = ephemeral_start()
    low = max(1024, start - 12000)
    if start - low >= 1000:
        for _ in range(500):
            port = random.randrange(low, start)
            if bindable(ip, port, kinds):
                print(port)
                return 0
    # No room below the ephemeral range: ask the kernel.
    for _ in range(100):
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, kinds[0]) as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        if bindable(ip, port, kinds):
            print(port)
            return 0
    print(f"free_port.py: no free port on {ip}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
