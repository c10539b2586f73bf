#!/usr/bin/env python3
"""A fake GNSS receiver for the refclocks suite: serves NMEA 0183 over TCP
on loopback, as gpsd's tcp:// source reads it. Every second of the system
clock, LATENCY seconds after it, each connected client gets an RMC (status A),
a GGA (fix quality 1) and a ZDA naming that second.

Usage: fake_nmea_receiver.py LATENCY LIFETIME
Prints the chosen port on the first line of stdout; exits after LIFETIME
seconds (a bound, in case nobody stops it).
"""
import socket
import sys
import threading
import time


def sentence(body):
    checksum = 0
    for c in body.encode("ascii"):
        checksum ^= c
    return "$%s*%02X\r\n" % (body, checksum)


def burst(second):
    t = time.gmtime(second)
    hms = time.strftime("%H%M%S", t)
    return (
        sentence("GPRMC,%s.00,A,4807.038,N,01131.000,E,0.0,0.0,%s,,,A" % (hms, time.strftime("%d%m%y", t)))
        + sentence("GPGGA,%s.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,," % hms)
        + sentence("GPZDA,%s.00,%s,00,00" % (hms, time.strftime("%d,%m,%Y", t)))
    ).encode("ascii")


def serve(conn, latency, until):
    with conn:
        while time.time() < until:
            now = time.time()
            second = int(now) + 1
            time.sleep(max(0.0, second + latency - time.time()))
            try:
                conn.sendall(burst(second))
            except OSError:
                return


def main():
    latency = float(sys.argv[1])
    until = time.time() + float(sys.argv[2])
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(1.0)
    print(srv.getsockname()[1], flush=True)
    while time.time() < until:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, latency, until), daemon=True).start()


if __name__ == "__main__":
    main()
