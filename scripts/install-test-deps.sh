#!/usr/bin/env bash
# Install the real NTP peers that the interoperability tests talk to.
#
#   - Debian packages: ntpsec (ntpd, ntpq), ntpsec-ntpdig (ntpdig),
#     python3-ntplib (for /usr/bin/python3), iproute2.
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

PEERS_DIR=${SIMPLE_NTPD_PEERS_DIR:-/opt/simple-ntpd-peers}
CACHE_DIR=${SIMPLE_NTPD_PEERS_CACHE:-/var/cache/simple-ntpd-peers}
CHRONY_DIR="$PEERS_DIR/chrony"
CHRONYD="$CHRONY_DIR/usr/sbin/chronyd"
CHRONYC="$CHRONY_DIR/usr/bin/chronyc"
PROMTOOL="$PEERS_DIR/prometheus/usr/bin/promtool"
DEB_PACKAGES=(ntpsec ntpsec-ntpdig python3-ntplib iproute2)

export DEBIAN_FRONTEND=noninteractive

say() { echo "install-test-deps: $*"; }
die() {
    echo "install-test-deps: ERROR: $*" >&2
    exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
        say "not root: using sudo"
    else
        die "must run as root (or with sudo available)"
    fi
fi

if [ -n "${SIMPLE_NTPD_CHRONY_DEB:-}" ] && [ ! -f "$SIMPLE_NTPD_CHRONY_DEB" ]; then
    die "SIMPLE_NTPD_CHRONY_DEB=$SIMPLE_NTPD_CHRONY_DEB does not exist"
fi
command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script needs Debian/Ubuntu"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs Debian/Ubuntu"

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "running apt-get update"
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
}

# Keep maintainer scripts from starting ntpd (or anything else) during install.
POLICY=/usr/sbin/policy-rc.d
OUR_POLICY=0
cleanup() {
    if [ "$OUR_POLICY" -eq 1 ]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
block_service_start() {
    if [ ! -e "$POLICY" ] && [ "$OUR_POLICY" -eq 0 ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
        "${SUDO[@]}" chmod 755 "$POLICY"
        OUR_POLICY=1
        say "temporary $POLICY installed so that no service is started"
    fi
}

# install_packages PKG... : installs the ones that are missing, reports each.
install_packages() {
    local missing=()
    local p
    for p in "$@"; do
        if is_installed "$p"; then
            say "found package $p"
        else
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    apt_update_once
    block_service_start
    say "installing ${missing[*]}"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
    for p in "${missing[@]}"; do
        is_installed "$p" || die "package $p is still not installed"
        say "installed package $p"
    done
}

# ---------------------------------------------------------------- Debian packages
install_packages "${DEB_PACKAGES[@]}"
[ -x /usr/bin/ntpdig ] || die "/usr/bin/ntpdig missing after installing ntpsec-ntpdig"
/usr/bin/python3 -c 'import ntplib' 2>/dev/null \
    || die "/usr/bin/python3 cannot import ntplib after installing python3-ntplib"
say "found /usr/bin/ntpdig and ntplib for /usr/bin/python3"

# ---------------------------------------------------------------- chrony (unpacked)
chrony_works() {
    [ -x "$CHRONYD" ] || return 1
    if ldd "$CHRONYD" 2>/dev/null | grep -q 'not found'; then return 1; fi
    "$CHRONYD" -v >/dev/null 2>&1 || return 1
    if [ -x "$CHRONYC" ] && ldd "$CHRONYC" 2>/dev/null | grep -q 'not found'; then return 1; fi
    return 0
}

# Prints the newest cached PKG_*.deb, downloading it into $CACHE_DIR first
# when there is none (apt-get update once if the download fails).
fetch_deb() {
    local pkg=$1 deb
    deb=$(ls -1t "$CACHE_DIR"/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -n "$deb" ]; then
        echo "$deb"
        return 0
    fi
    "${SUDO[@]}" mkdir -p "$CACHE_DIR"
    say "downloading $pkg .deb into $CACHE_DIR" >&2
    if ! (cd "$CACHE_DIR" && "${SUDO[@]}" apt-get download -qq -o APT::Sandbox::User=root "$pkg") >&2; then
        apt_update_once >&2
        (cd "$CACHE_DIR" && "${SUDO[@]}" apt-get download -qq -o APT::Sandbox::User=root "$pkg") >&2 \
            || die "apt-get download $pkg failed"
    fi
    deb=$(ls -1t "$CACHE_DIR"/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || die "no ${pkg}_*.deb in $CACHE_DIR after apt-get download"
    echo "$deb"
}

# Unpacks DEB into DEST atomically (temporary directory, then rename).
unpack_deb() {
    local deb=$1 dest=$2 tmp
    tmp="$PEERS_DIR/.$(basename "$dest").tmp.$$"
    "${SUDO[@]}" rm -rf "$tmp"
    "${SUDO[@]}" mkdir -p "$tmp"
    "${SUDO[@]}" dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
    "${SUDO[@]}" rm -rf "$dest"
    "${SUDO[@]}" mv "$tmp" "$dest"
    say "unpacked $deb into $dest"
}

# Install the library packages the chrony .deb depends on (libnettle8, libgnutls30,
# libseccomp2, libcap2, libedit2, ...), as listed in its control file.
install_chrony_libs() {
    local deb=$1
    local deps libs=() d
    deps=$(dpkg-deb -f "$deb" Depends) || die "cannot read Depends of $deb"
    # "libc6 (>= 2.34), libcap2 (>= 1:2.10), a | b" -> one name per alternative group
    while IFS= read -r d; do
        d=${d%%|*}
        d=$(echo "$d" | sed -e 's/(.*)//' -e 's/:any//' | tr -d ' ')
        case "$d" in
            lib*) libs+=("$d") ;;
        esac
    done < <(echo "$deps" | tr ',' '\n')
    if [ "${#libs[@]}" -gt 0 ]; then
        install_packages "${libs[@]}"
    fi
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
    install_chrony_libs "$DEB"
    unpack_deb "$DEB" "$CHRONY_DIR"
    if [ -x "$CHRONYD" ] && ldd "$CHRONYD" 2>/dev/null | grep -q 'not found'; then
        ldd "$CHRONYD" | grep 'not found' >&2
        die "chronyd is missing shared libraries (see above)"
    fi
    chrony_works || die "$CHRONYD does not run: $("$CHRONYD" -v 2>&1 || true)"
    say "chronyd works: $("$CHRONYD" -v 2>&1 | head -n 1)"
fi

# ---------------------------------------------------------------- promtool (unpacked)
# Only promtool (a static binary) is needed to lint /metrics; the Debian
# package would also install and start a Prometheus server, so unpack it.
if [ -x "$PROMTOOL" ] && "$PROMTOOL" --version >/dev/null 2>&1; then
    say "found promtool at $PROMTOOL"
else
    unpack_deb "$(fetch_deb prometheus)" "$PEERS_DIR/prometheus"
    "$PROMTOOL" --version >/dev/null 2>&1 || die "$PROMTOOL does not run"
    say "unpacked promtool: $("$PROMTOOL" --version 2>&1 | head -n 1)"
fi

# ---------------------------------------------------------------- warnings
if command -v ss >/dev/null 2>&1 && ss -H -ulpn 'sport = :123' 2>/dev/null | grep -q .; then
    say "WARNING: something already listens on UDP port 123 (tests bind 127.x.y.z:123):"
    ss -H -ulpn 'sport = :123' | sed 's/^/install-test-deps:   /'
fi

say "done"
