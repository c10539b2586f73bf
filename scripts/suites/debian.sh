#!/usr/bin/env bash
# The Debian package and the systemd unit, for real (issue 22):
#   - deploy/debian/build.sh builds target/debian/simple-ntpd_<version>_<arch>.deb
#     around deploy/build-static.sh's binary (the containers suite, which runs
#     before this one, pays the cold static build; this suite reuses it);
#   - lintian reports no error; the contents have the expected owners and modes;
#   - it installs with dpkg into a Debian 12 chroot made for the test
#     (mmdebstrap, cached as a tarball; this machine's own packages are never
#     touched) that already holds chrony's package: both stay installed;
#   - the system user, its directories and the conffiles are there;
#   - systemd-analyze verify passes on the installed unit, `systemctl enable`
#     works on it, and systemd-analyze security --offline puts its exposure at
#     2.0 or less;
#   - in a network namespace of its own, the installed binary runs as the
#     package's user with only the capability the unit grants ambiently
#     (never CAP_SYS_TIME here: the clock is not touched), tells a
#     NOTIFY_SOCKET it is READY, answers ntpdig on UDP 123 while chronyd from
#     chrony's package runs beside it with Debian's default configuration
#     (command port 323, no NTP server port: no clash);
#   - logrotate with the shipped /etc/logrotate.d/simple-ntpd rotates the log
#     and audit files and sends the unit SIGUSR1 (through a stand-in systemctl,
#     as no systemd runs here); the daemon reopens them and no line is lost;
#   - dpkg -r keeps the conffiles; dpkg -P leaves the chroot as it was before
#     the install (files, user and group, the enablement symlink).
# Everything started is stopped by PID, the namespace and the chroot are
# removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAY_PREFIX=debian
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

SUITE_START=$SECONDS
FIGURES=()
figure() {
    FIGURES+=("$*")
    say "figure: $*"
}
phase() { say "---- $* ($((SECONDS - SUITE_START)) s)"; }

install_packages lintian logrotate mmdebstrap systemd iproute2 python3 ntpsec-ntpdig util-linux
analyze_version=$(systemd-analyze --version | awk 'NR == 1 {print $2}')
[ "${analyze_version:-0}" -ge 252 ] || die "systemd-analyze $analyze_version is too old for security --offline (needs 252)"

WORK=$(mktemp -d /var/tmp/simple-ntpd-debian.XXXXXX)
ROOT="$WORK/root"
NETNS="sntpd-deb-$$"
NS_CREATED=0
PIDS=()
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    [ "$NS_CREATED" = 1 ] && ip netns delete "$NETNS"
    # Nothing is mounted in the chroot; refuse to delete it if something is.
    if grep -q " $WORK/" /proc/mounts; then
        echo "$SAY_PREFIX: $WORK still has mounts; not removing it" >&2
    else
        rm -rf "$WORK"
    fi
    [ "$rc" -ne 0 ] && echo "$SAY_PREFIX: FAILED (exit $rc)" >&2
    exit "$rc"
}
trap cleanup EXIT

in_root() { chroot "$ROOT" "$@"; }
in_ns() { ip netns exec "$NETNS" "$@"; }
expect_eq() { # expect_eq WHAT GOT WANT
    [ "$2" = "$3" ] || die "$1: got '$2', want '$3'"
}

# ---------------------------------------------------------------- package
phase "building the package"
deb=$(bash deploy/debian/build.sh)
[ -f "$deb" ] || die "deploy/debian/build.sh made no package"
figure "package $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB, $(dpkg-deb -f "$deb" Installed-Size) KiB installed"

phase "lintian"
# The verdict comes from a run without --show-overrides: shown overridden
# error tags (see deploy/debian/lintian-overrides) count for the exit status.
lintian_out=$(lintian --fail-on none --display-info --show-overrides "$deb" 2>&1 | grep -v 'running with root privileges')
lintian --fail-on error "$deb" >/dev/null 2>&1 || { echo "$lintian_out" >&2; die "lintian reports errors"; }
echo "$lintian_out" | sed 's/^/    /'
for level in E W I O; do
    eval "lintian_$level=$(echo "$lintian_out" | grep -c "^$level: " || true)"
done
# shellcheck disable=SC2154
figure "lintian: $lintian_E errors, $lintian_W warnings, $lintian_I info, $lintian_O overridden"
[ "$lintian_E" -eq 0 ] || die "lintian errors"

phase "contents"
contents=$(dpkg-deb -c "$deb")
echo "$contents" | awk '{print "    " $1, $2, $6}'
for entry in \
    "-rwxr-xr-x root/root ./usr/sbin/simple-ntpd" \
    "-rw-r--r-- root/root ./etc/simple-ntpd/simple-ntpd.toml" \
    "-rw-r--r-- root/root ./etc/logrotate.d/simple-ntpd" \
    "-rw-r--r-- root/root ./lib/systemd/system/simple-ntpd.service" \
    "-rw-r--r-- root/root ./usr/share/man/man8/simple-ntpd.8.gz" \
    "-rw-r--r-- root/root ./usr/share/doc/simple-ntpd/copyright" \
    "-rw-r--r-- root/root ./usr/share/doc/simple-ntpd/changelog.gz"; do
    read -r mode owner path <<<"$entry"
    echo "$contents" | awk -v m="$mode" -v o="$owner" -v p="$path" '$1 == m && $2 == o && $6 == p {found = 1} END {exit !found}' \
        || die "package lacks $path as $mode $owner"
done
if echo "$contents" | awk '$2 != "root/root"' | grep . >/dev/null; then
    die "files not owned by root in the package"
fi
expect_eq "conffiles" "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | tr '\n' ' ')" \
    "/etc/simple-ntpd/simple-ntpd.toml /etc/logrotate.d/simple-ntpd "
for field in Conflicts Provides Replaces Breaks; do
    [ -z "$(dpkg-deb -f "$deb" "$field")" ] || die "the package declares $field: it must install next to other time daemons"
done
say "no Conflicts/Provides/Replaces/Breaks: installs next to chrony, ntpsec and systemd-timesyncd"

# ---------------------------------------------------------------- chroot
phase "scratch root"
includes="adduser,procps,logrotate,chrony,systemd"
tarball="$CACHE_DIR/debian-bookworm-$(echo "$includes" | md5sum | cut -c1-8).tar"
# Only a non-empty regular file counts as the cache: mmdebstrap picks its
# output format from the name's extension and, without --format, made a
# directory of "….tar.tmp" (left behind by an earlier run of this suite).
if [ ! -f "$tarball" ] || [ ! -s "$tarball" ]; then
    "${SUDO[@]}" mkdir -p "$CACHE_DIR"
    "${SUDO[@]}" rm -rf "$tarball" "$tarball.tmp"
    say "creating a Debian 12 root with $includes (once; cached as $tarball)"
    mmdebstrap --mode=root --variant=minbase --format=tar --include="$includes" --quiet bookworm "$tarball.tmp" \
        || die "mmdebstrap failed"
    mv "$tarball.tmp" "$tarball"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$tarball"
in_root dpkg-query -W -f='${Status}\n' chrony | grep -x 'install ok installed' >/dev/null || die "chrony is not installed in $tarball"

# What the root holds before, to compare after the purge (dpkg's own
# database and logs, caches, scratch space and the state of the chronyd
# this suite runs aside).
snapshot() {
    (cd "$ROOT" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./tmp \
        -o -path ./run -o -path ./var/lib/systemd/deb-systemd-helper-enabled -o -path ./var/lib/logrotate \
        -o -path ./var/lib/chrony \
        -o -name '*-' -o -name '*.dpkg-old' \) -prune -o -print | LC_ALL=C sort)
    for f in passwd group shadow gshadow; do
        echo "== $f"
        cat "$ROOT/etc/$f"
    done
}
snapshot > "$WORK/before.txt"

phase "install"
cp "$deb" "$ROOT/tmp/"
in_root dpkg -i "/tmp/$(basename "$deb")" || die "dpkg -i failed in the chroot"
expect_eq "dpkg status" "$(in_root dpkg-query -W -f='${Status}' simple-ntpd)" "install ok installed"
expect_eq "chrony still installed" "$(in_root dpkg-query -W -f='${Status}' chrony)" "install ok installed"
for entry in \
    "/usr/sbin/simple-ntpd root:root 755" \
    "/etc/simple-ntpd/simple-ntpd.toml root:root 644" \
    "/etc/logrotate.d/simple-ntpd root:root 644" \
    "/lib/systemd/system/simple-ntpd.service root:root 644" \
    "/var/lib/simple-ntpd simple-ntpd:simple-ntpd 750" \
    "/var/log/simple-ntpd simple-ntpd:simple-ntpd 750"; do
    read -r path owner mode <<<"$entry"
    expect_eq "$path" "$(in_root stat -c '%U:%G %a' "$path")" "$owner $mode"
done
IFS=: read -r _ _ uid gid _ home shell <<<"$(in_root getent passwd simple-ntpd)"
[ "$uid" -lt 1000 ] || die "simple-ntpd is not a system user (uid $uid)"
expect_eq "home" "$home" /var/lib/simple-ntpd
expect_eq "shell" "$shell" /usr/sbin/nologin
expect_eq "primary group" "$(in_root getent group "$gid" | cut -d: -f1)" simple-ntpd
say "user simple-ntpd: uid $uid, group $gid, home $home, shell $shell"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' simple-ntpd)
for f in /etc/simple-ntpd/simple-ntpd.toml /etc/logrotate.d/simple-ntpd; do
    grep -q " $f " <<<"$conffiles" || die "$f is not a registered conffile"
done
in_root /usr/sbin/simple-ntpd --version
check=$(in_root /usr/sbin/simple-ntpd config check /etc/simple-ntpd/simple-ntpd.toml 2>&1) || die "$check"
grep -q "configuration OK: /etc/simple-ntpd/simple-ntpd.toml (0 warning(s))" <<<"$check" || die "shipped config: $check"

phase "systemd"
verify=$(systemd-analyze verify --root="$ROOT" simple-ntpd.service 2>&1) || die "systemd-analyze verify: $verify"
[ -z "$verify" ] || die "systemd-analyze verify says: $verify"
say "systemd-analyze verify: clean"
security=$(systemd-analyze security --offline=true --root="$ROOT" --threshold=20 simple-ntpd.service 2>&1) \
    || { echo "$security" >&2; die "exposure above 2.0"; }
figure "systemd-analyze security --offline: $(echo "$security" | tail -n 1 | sed 's/.*: //')"
in_root systemctl enable simple-ntpd.service
expect_eq "enabled" "$(in_root systemctl is-enabled simple-ntpd.service)" enabled
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/simple-ntpd.service" ] || die "no enablement symlink"

# ---------------------------------------------------------------- running it
phase "running beside chronyd"
ip netns add "$NETNS"
NS_CREATED=1
ip -n "$NETNS" link set lo up
# Background programs are started directly (not through a shell function),
# so that $! is the program's own PID: ip, env, chroot and setpriv exec it.
ip netns exec "$NETNS" chroot "$ROOT" /usr/sbin/chronyd -x -d -f /etc/chrony/chrony.conf >"$WORK/chronyd.log" 2>&1 &
CHRONYD_PID=$!
PIDS+=("$CHRONYD_PID")
for _ in $(seq 1 50); do
    in_ns chroot "$ROOT" chronyc -h 127.0.0.1 -n tracking >/dev/null 2>&1 && break
    sleep 0.2
done
in_ns chroot "$ROOT" chronyc -h 127.0.0.1 -n tracking >/dev/null || { cat "$WORK/chronyd.log" >&2; die "chronyd does not answer chronyc"; }

# systemd's side of sd_notify: a datagram socket the daemon is pointed at.
notify_sock="$ROOT/run/sntpd-notify.sock"
/usr/bin/python3 - "$notify_sock" >"$WORK/notify.txt" 2>&1 <<'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.settimeout(20)
deadline = time.time() + 20
while time.time() < deadline:
    msg = s.recv(4096).decode()
    print(msg.replace("\n", " | "), flush=True)
    if "READY=1" in msg:
        break
EOF
NOTIFY_PID=$!
PIDS+=("$NOTIFY_PID")
for _ in $(seq 1 50); do [ -S "$notify_sock" ] && break; sleep 0.1; done

cat >"$ROOT/tmp/overlay.toml" <<'EOF'
# The suite's overlay: no upstream (no network in the namespace), an audit log.
[ntp_server]
upstream_servers = []
[logging]
audit_file = "/var/log/simple-ntpd/audit.log"
EOF
chmod 0644 "$ROOT/tmp/overlay.toml"
# The unit's user, with CAP_NET_BIND_SERVICE ambient and bounding (not
# CAP_SYS_TIME: the clock of this machine is never steered).
ip netns exec "$NETNS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET=/run/sntpd-notify.sock NTPD_TEST_READ_ONLY_CLOCK=1 \
    chroot "$ROOT" setpriv --reuid=simple-ntpd --regid=simple-ntpd --init-groups \
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service --bounding-set=-all,+net_bind_service \
    /usr/sbin/simple-ntpd run -c /etc/simple-ntpd/simple-ntpd.toml -c /tmp/overlay.toml >"$WORK/daemon.out" 2>&1 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
for _ in $(seq 1 100); do
    kill -0 "$NOTIFY_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q "READY=1" "$WORK/notify.txt" || { cat "$WORK/notify.txt" "$WORK/daemon.out" >&2; die "no READY=1 from the daemon"; }
say "sd_notify: $(grep READY=1 "$WORK/notify.txt")"
kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.out" >&2; die "the daemon exited"; }
expect_eq "daemon uid" "$(awk '$1 == "Uid:" {print $2}' "/proc/$DAEMON_PID/status")" "$uid"
expect_eq "daemon CapEff" "$(awk '$1 == "CapEff:" {print $2}' "/proc/$DAEMON_PID/status")" 0000000000000400
ntpdig_out=$(in_ns ntpdig -t 2 127.0.0.1 2>&1) || { cat "$WORK/daemon.out" >&2; die "ntpdig: $ntpdig_out"; }
say "ntpdig in the namespace: $ntpdig_out"
grep -q "s10 " <<<"$ntpdig_out" || die "ntpdig did not get stratum 10: $ntpdig_out"
ports=$(in_ns ss -Hlunpt)
echo "$ports" | sed 's/^/    /'
grep -E ':123 .*"simple-ntpd",pid=' <<<"$ports" >/dev/null || die "simple-ntpd does not hold UDP 123"
grep -E ':323 .*"chronyd",pid=' <<<"$ports" >/dev/null || die "chronyd does not hold its command port 323"
if grep -E ':123 .*"chronyd"' <<<"$ports" >/dev/null; then die "chronyd binds port 123 too"; fi
kill -0 "$CHRONYD_PID" || die "chronyd stopped"
say "simple-ntpd (UDP 123, TCP 9559) and chronyd (UDP 323) run side by side"

phase "log rotation with the shipped logrotate file"
log=/var/log/simple-ntpd
echo "$DAEMON_PID" >"$ROOT/run/simple-ntpd.pid"
mkdir -p "$ROOT/run/systemd/system" "$ROOT/usr/local/sbin"
cat >"$ROOT/usr/local/sbin/systemctl" <<'EOF'
#!/bin/sh
# Stands in for systemctl in the test chroot (no systemd runs here): records
# the call and signals the daemon as `systemctl kill` would.
echo "$*" >> /run/systemctl-calls
if [ "$*" = "kill --kill-whom=main --signal=USR1 simple-ntpd.service" ]; then
    kill -USR1 "$(cat /run/simple-ntpd.pid)"
fi
EOF
chmod 0755 "$ROOT/usr/local/sbin/systemctl"
wait_for() { # wait_for FILE TEXT: until FILE (in the chroot) holds TEXT
    for _ in $(seq 1 50); do
        grep -qF "$2" "$ROOT$1" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$1 never held '$2'"
}
kill -HUP "$DAEMON_PID"
wait_for "$log/simple-ntpd.log" "configuration reloaded"
wait_for "$log/audit.log" '"event":"config_reload"'
in_root env PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin logrotate -f /etc/logrotate.d/simple-ntpd \
    || die "logrotate failed"
expect_eq "postrotate" "$(cat "$ROOT/run/systemctl-calls")" "kill --kill-whom=main --signal=USR1 simple-ntpd.service"
wait_for "$log/simple-ntpd.log" "log files reopened"
kill -HUP "$DAEMON_PID"
wait_for "$log/audit.log" '"event":"config_reload"'
grep -qF "configuration reloaded" "$ROOT$log/simple-ntpd.log.1" || die "the rotated log lacks the lines before rotation"
reloads=$(cat "$ROOT$log"/audit.log* | grep -c '"event":"config_reload"')
expect_eq "audited reloads across the rotated and new audit logs" "$reloads" 2
expect_eq "new log file owner" "$(in_root stat -c %U "$log/simple-ntpd.log")" simple-ntpd
ls -l "$ROOT$log" | sed 's/^/    /'
rm -rf "$ROOT/run/systemd" "$ROOT/usr/local/sbin/systemctl" "$ROOT/run/systemctl-calls" "$ROOT/run/simple-ntpd.pid"

kill -TERM "$DAEMON_PID"
for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && die "the daemon did not stop on SIGTERM"
kill -TERM "$CHRONYD_PID"
for _ in $(seq 1 100); do kill -0 "$CHRONYD_PID" 2>/dev/null || break; sleep 0.1; done
rm -f "$notify_sock"

# ---------------------------------------------------------------- removal
phase "remove and purge"
in_root dpkg -r simple-ntpd || die "dpkg -r failed"
expect_eq "status after remove" "$(in_root dpkg-query -W -f='${Status}' simple-ntpd)" "deinstall ok config-files"
[ ! -e "$ROOT/usr/sbin/simple-ntpd" ] || die "the binary survived dpkg -r"
[ -f "$ROOT/etc/simple-ntpd/simple-ntpd.toml" ] || die "dpkg -r removed the conffile"
in_root dpkg -P simple-ntpd || die "dpkg -P failed"
expect_eq "status after purge" "$(in_root dpkg-query -W -f='${Status}' simple-ntpd 2>/dev/null || echo gone)" gone
in_root getent passwd simple-ntpd >/dev/null && die "user simple-ntpd left after purge"
in_root getent group simple-ntpd >/dev/null && die "group simple-ntpd left after purge"
for path in /etc/simple-ntpd /var/lib/simple-ntpd /var/log/simple-ntpd /etc/logrotate.d/simple-ntpd \
    /etc/systemd/system/multi-user.target.wants/simple-ntpd.service; do
    [ ! -e "$ROOT$path" ] && [ ! -L "$ROOT$path" ] || die "$path left after purge"
done
if grep -rqs simple-ntpd "$ROOT"/var/lib/systemd/deb-systemd-helper-*; then
    die "deb-systemd-helper still knows simple-ntpd after purge"
fi
snapshot >"$WORK/after.txt"
if ! diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/purge.diff"; then
    cat "$WORK/purge.diff" >&2
    die "the purge left the chroot different from before the install"
fi
expect_eq "chrony after our purge" "$(in_root dpkg-query -W -f='${Status}' chrony)" "install ok installed"
say "purge left nothing behind ($(wc -l <"$WORK/before.txt") paths compared)"

figure "suite time: $((SECONDS - SUITE_START)) s"
say "summary:"
for f in "${FIGURES[@]}"; do
    say "  $f"
done
