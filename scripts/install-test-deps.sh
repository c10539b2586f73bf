#!/usr/bin/env bash
# Install the real NTP peers that the interoperability tests talk to.
#
#   - Debian packages: ntpsec (ntpd, ntpq), ntpsec-ntpdig (ntpdig),
#     python3-ntplib (for /usr/bin/python3), iproute2, tzdata (the leap
#     second tests read its leap-seconds.list and right/UTC; newer Debian
#     ships the right/ zones in tzdata-legacy).
#   - chrony, WITHOUT installing the Debian package (it conflicts with ntpsec):
#     the .deb is downloaded into a cache directory and unpacked into
#     $SIMPLE_NTPD_PEERS_DIR/chrony (default /opt/simple-ntpd-peers/chrony), so
#     that .../chrony/usr/sbin/chronyd and .../chrony/usr/bin/chronyc exist.
#     The shared libraries chrony needs are installed as Debian packages.
#
# Idempotent and fast when everything is present (no apt-get update then).
# Never starts a daemon: package maintainer scripts are prevented from starting
# services through a temporary policy-rc.d when none exists.
#
# Environment:
#   SIMPLE_NTPD_PEERS_DIR   where chrony is unpacked   (/opt/simple-ntpd-peers)
#   SIMPLE_NTPD_PEERS_CACHE where the .deb is kept     (/var/cache/simple-ntpd-peers)
#   SIMPLE_NTPD_CHRONY_DEB  use this chrony .deb instead of downloading one
set -euo pipefail

SAY_PREFIX=install-test-deps
# shellcheck source=lib/packages.sh
. "$(dirname "$0")/lib/packages.sh"

CHRONY_DIR="$PEERS_DIR/chrony"
CHRONYD="$CHRONY_DIR/usr/sbin/chronyd"
CHRONYC="$CHRONY_DIR/usr/bin/chronyc"
DEB_PACKAGES=(ntpsec ntpsec-ntpdig python3-ntplib iproute2 tzdata)

if [ -n "${SIMPLE_NTPD_CHRONY_DEB:-}" ] && [ ! -f "$SIMPLE_NTPD_CHRONY_DEB" ]; then
    die "SIMPLE_NTPD_CHRONY_DEB=$SIMPLE_NTPD_CHRONY_DEB does not exist"
fi

# ---------------------------------------------------------------- Debian packages
install_packages "${DEB_PACKAGES[@]}"
[ -x /usr/bin/ntpdig ] || die "/usr/bin/ntpdig missing after installing ntpsec-ntpdig"
/usr/bin/python3 -c 'import ntplib' 2>/dev/null \
    || die "/usr/bin/python3 cannot import ntplib after installing python3-ntplib"
say "found /usr/bin/ntpdig and ntplib for /usr/bin/python3"
[ -e /usr/share/zoneinfo/right/UTC ] || install_packages tzdata-legacy
[ -e /usr/share/zoneinfo/leap-seconds.list ] && [ -e /usr/share/zoneinfo/right/UTC ] \
    || die "tzdata did not provide /usr/share/zoneinfo/leap-seconds.list and right/UTC"

# ---------------------------------------------------------------- chrony (unpacked)
chrony_works() {
    [ -x "$CHRONYD" ] || return 1
    if ldd "$CHRONYD" 2>/dev/null | grep 'not found' >/dev/null; then return 1; fi
    "$CHRONYD" -v >/dev/null 2>&1 || return 1
    if [ -x "$CHRONYC" ] && ldd "$CHRONYC" 2>/dev/null | grep 'not found' >/dev/null; then return 1; fi
    return 0
}

if chrony_works; then
    say "found chronyd at $CHRONYD ($("$CHRONYD" -v 2>&1 | head -n 1))"
else
    if [ -n "${SIMPLE_NTPD_CHRONY_DEB:-}" ]; then
        DEB=$SIMPLE_NTPD_CHRONY_DEB
    else
        DEB=$(fetch_deb chrony)
    fi
    say "using chrony package $DEB"
    install_deb_libs "$DEB"
    unpack_deb "$DEB" "$CHRONY_DIR"
    if [ -x "$CHRONYD" ] && ldd "$CHRONYD" 2>/dev/null | grep 'not found' >/dev/null; then
        ldd "$CHRONYD" | grep 'not found' >&2
        die "chronyd is missing shared libraries (see above)"
    fi
    chrony_works || die "$CHRONYD does not run: $("$CHRONYD" -v 2>&1 || true)"
    say "chronyd works: $("$CHRONYD" -v 2>&1 | head -n 1)"
fi

# ---------------------------------------------------------------- promtool (unpacked)
# promtool lints /metrics; the Debian package would also install and start a
# Prometheus server, so it is unpacked instead.
ensure_prometheus

# ---------------------------------------------------------------- warnings
if command -v ss >/dev/null 2>&1 && ss -H -ulpn 'sport = :123' 2>/dev/null | grep . >/dev/null; then
    say "WARNING: something already listens on UDP port 123 (tests bind 127.x.y.z:123):"
    ss -H -ulpn 'sport = :123' | sed 's/^/install-test-deps:   /'
fi

say "done"
