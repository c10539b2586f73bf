# Shared shell helpers for the test and benchmark scripts: root/sudo
# detection, idempotent Debian package installs that never start a service,
# and downloading and unpacking a .deb without installing it.
#
# Source it (`. scripts/lib/packages.sh`); it only defines variables and
# functions. Set SAY_PREFIX first to name the caller in messages.
#
# Environment:
#   SIMPLE_NTPD_PEERS_DIR   where unpacked packages live   (/opt/simple-ntpd-peers)
#   SIMPLE_NTPD_PEERS_CACHE where downloaded .debs are kept (/var/cache/simple-ntpd-peers)

PEERS_DIR=${SIMPLE_NTPD_PEERS_DIR:-/opt/simple-ntpd-peers}
CACHE_DIR=${SIMPLE_NTPD_PEERS_CACHE:-/var/cache/simple-ntpd-peers}
export DEBIAN_FRONTEND=noninteractive
SAY_PREFIX=${SAY_PREFIX:-$(basename "$0" .sh)}

say() { echo "$SAY_PREFIX: $*"; }
die() {
    echo "$SAY_PREFIX: ERROR: $*" >&2
    exit 1
}
# A command that stops the script under `set -e` names itself, so a failure
# outside `die` is as easy to find in a long CI log (scripts/test.sh repeats
# every `ERROR:` line of a failed suite at the end of its output).
trap 'echo "$SAY_PREFIX: ERROR: exit $? at ${BASH_SOURCE[0]:-?}:$LINENO: $BASH_COMMAND" >&2' ERR

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "must run as root (or with sudo available)"
    fi
fi

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script needs Debian/Ubuntu"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs Debian/Ubuntu"

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null
}

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "running apt-get update"
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
}

# install_packages PKG... : installs the missing ones, reports each. Package
# maintainer scripts are kept from starting services by a policy-rc.d that
# exists only during the install (unless the machine already has one).
install_packages() {
    local missing=() p policy=/usr/sbin/policy-rc.d ours=0
    for p in "$@"; do
        if is_installed "$p"; then
            say "found package $p"
        else
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    apt_update_once
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        ours=1
    fi
    say "installing ${missing[*]}"
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        [ "$ours" -eq 1 ] && "${SUDO[@]}" rm -f "$policy"
        die "apt-get install ${missing[*]} failed"
    fi
    [ "$ours" -eq 1 ] && "${SUDO[@]}" rm -f "$policy"
    for p in "${missing[@]}"; do
        is_installed "$p" || die "package $p is still not installed"
        say "installed package $p"
    done
}

# fetch_deb PKG : prints the newest cached PKG_*.deb, downloading it into
# $CACHE_DIR first when there is none (apt-get update once if that fails).
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

# unpack_deb DEB DEST : unpacks DEB into DEST atomically (temporary
# directory, then rename), replacing what DEST held.
unpack_deb() {
    local deb=$1 dest=$2 tmp
    tmp="$(dirname "$dest")/.$(basename "$dest").tmp.$$"
    "${SUDO[@]}" rm -rf "$tmp"
    "${SUDO[@]}" mkdir -p "$tmp"
    "${SUDO[@]}" dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
    "${SUDO[@]}" rm -rf "$dest"
    "${SUDO[@]}" mv "$tmp" "$dest"
    say "unpacked $deb into $dest"
}

# install_deb_libs DEB : installs the lib* packages DEB depends on (the
# first of each alternative group), so that an unpacked binary runs.
install_deb_libs() {
    local deb=$1 deps libs=() d
    deps=$(dpkg-deb -f "$deb" Depends) || die "cannot read Depends of $deb"
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

# ensure_venv DIR REQUIREMENT... : a Python virtual environment in DIR
# (Debian's python3 and python3-venv) with the pinned REQUIREMENTs installed
# from PyPI; reinstalls only when the list of requirements changes.
ensure_venv() {
    local dir=$1 wanted stamp
    shift
    wanted="$*"
    stamp="$dir/.requirements"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        say "found Python environment $dir ($wanted)"
        return 0
    fi
    install_packages python3 python3-venv
    "${SUDO[@]}" rm -rf "$dir"
    "${SUDO[@]}" /usr/bin/python3 -m venv "$dir" || die "cannot create a virtual environment in $dir"
    "${SUDO[@]}" "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" || die "pip install $* failed"
    echo "$wanted" | "${SUDO[@]}" tee "$stamp" >/dev/null
    say "installed $wanted into $dir"
}

# ensure_prometheus : Debian's prometheus package unpacked (not installed:
# that would start a server) into $PEERS_DIR/prometheus, so that
# $PROMETHEUS_DIR/usr/bin/promtool and .../prometheus run.
PROMETHEUS_DIR="$PEERS_DIR/prometheus"
ensure_prometheus() {
    local bin
    for bin in promtool prometheus; do
        if ! "$PROMETHEUS_DIR/usr/bin/$bin" --version >/dev/null 2>&1; then
            unpack_deb "$(fetch_deb prometheus)" "$PROMETHEUS_DIR"
            break
        fi
    done
    for bin in promtool prometheus; do
        "$PROMETHEUS_DIR/usr/bin/$bin" --version >/dev/null 2>&1 || die "$PROMETHEUS_DIR/usr/bin/$bin does not run"
    done
    say "found $("$PROMETHEUS_DIR/usr/bin/prometheus" --version 2>&1 | head -n 1)"
}
