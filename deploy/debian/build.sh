#!/usr/bin/env bash
# Builds the Debian package of simple-ntpd offline from this tree:
#
#   bash deploy/debian/build.sh     → target/debian/simple-ntpd_<version>_<arch>.deb
#
# The binary is deploy/build-static.sh's static release build (the very one
# the container image ships), stripped. The package holds it as
# /usr/sbin/simple-ntpd, the commented default configuration
# /etc/simple-ntpd/simple-ntpd.toml (a conffile), the systemd unit
# deploy/systemd/simple-ntpd.service, the logrotate file, the manual page and
# the documentation; its maintainer scripts create the system user
# simple-ntpd and its directories, and remove them on purge. No Conflicts:
# it installs next to chrony or ntpsec (their units conflict, so one steers
# the clock). dpkg-deb only: no debhelper, no network.
#
# The path of the .deb is the only line printed on standard output.
# SOURCE_DATE_EPOCH (default: the last commit's time) sets every timestamp,
# so the same tree gives the same package.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir=${CARGO_TARGET_DIR:-target}
out="$target_dir/debian"
src=deploy/debian
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "debian/build: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

bin=$(bash deploy/build-static.sh --out "$out/bin")

root="$out/root"
rm -rf "$root"
mkdir -p "$root/DEBIAN"
put() { # put MODE SOURCE DEST
    install -D -m "$1" "$2" "$root/$3"
}
gz() { # gz SOURCE DEST
    mkdir -p "$(dirname "$root/$2")"
    gzip -9n -c "$1" > "$root/$2"
    chmod 0644 "$root/$2"
}
put 0755 "$bin" usr/sbin/simple-ntpd
put 0644 "$src/simple-ntpd.toml" etc/simple-ntpd/simple-ntpd.toml
put 0644 "$src/simple-ntpd.logrotate" etc/logrotate.d/simple-ntpd
put 0644 deploy/systemd/simple-ntpd.service lib/systemd/system/simple-ntpd.service
put 0644 "$src/copyright" usr/share/doc/simple-ntpd/copyright
put 0644 "$src/lintian-overrides" usr/share/lintian/overrides/simple-ntpd
gz "$src/simple-ntpd.8" usr/share/man/man8/simple-ntpd.8.gz
gz README.md usr/share/doc/simple-ntpd/README.md.gz
gz docs/configuration.md usr/share/doc/simple-ntpd/configuration.md.gz
gz docs/operations.md usr/share/doc/simple-ntpd/operations.md.gz

changelog=$(mktemp)
trap 'rm -f "$changelog"' EXIT
cat > "$changelog" <<CHANGES
simple-ntpd ($version) unstable; urgency=medium

  * Release $version, built from the source tree.

 -- simple-ntpd maintainers <maintainers@simple-ntpd.invalid>  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGES
gz "$changelog" usr/share/doc/simple-ntpd/changelog.gz

for script in postinst prerm postrm; do
    install -m 0755 "$src/$script" "$root/DEBIAN/$script"
done
printf '%s\n' /etc/simple-ntpd/simple-ntpd.toml /etc/logrotate.d/simple-ntpd > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: simple-ntpd
Version: $version
Architecture: $arch
Maintainer: simple-ntpd maintainers <maintainers@simple-ntpd.invalid>
Installed-Size: $installed_size
Depends: adduser, procps
Section: net
Priority: optional
Description: network time daemon: serves NTP, keeps time, secures and shows it
 simple-ntpd serves time to NTP clients (NTP versions 1 to 4, symmetric-key
 authentication, NTS), keeps it from upstream servers, pools and reference
 clocks, and shows what it does: Prometheus metrics, health probes, a JSON
 API, a status page, an audit log and chrony-format statistics logs.
 .
 It runs as the systemd service simple-ntpd.service under its own system
 user; the package installs it but does not start it. It does not conflict
 with other time daemons' packages; their services conflict, so only one
 steers the clock at a time.
CONTROL
chmod 0644 "$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb="$out/simple-ntpd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
