#!/usr/bin/env bash
# Assembles the files of the runtime image, from the working tree, into the
# archive OUTDIR/rootfs.tar (the tree is left in OUTDIR/tree):
#
#   usr/bin/simple-ntpd             the static binary, stripped, with the file
#                                   capabilities cap_net_bind_service,cap_sys_time+p
#   usr/bin/simple-ntpd-operator    the Kubernetes operator (static, stripped, no
#                                   capabilities); `simple-ntpd operator` runs it
#   etc/passwd, etc/group           root and nobody (65534), the image's user
#   etc/ssl/certs/ca-certificates.crt  for NTS sources (from the building host)
#   etc/simple-ntpd/                where the configuration file is mounted
#   var/lib/simple-ntpd/            owned by 65534: the drift file and NTS keys
#                                   (a named volume takes its owner from it)
#
#   bash deploy/docker/rootfs.sh OUTDIR
#
# An archive, because Docker's build context drops file capabilities while
# ADD of a local tar keeps them (and the owners written in it). Used by
# deploy/docker/build.sh (offline, on the host) and by the Dockerfile's
# build stage (with registry access). Needs root (or CAP_SETFCAP), setcap
# (Debian: libcap2-bin), GNU tar and, for NTS sources, ca-certificates.
set -euo pipefail
out=${1:?usage: rootfs.sh OUTDIR}
cd "$(dirname "$0")/../.."
say() { echo "rootfs: $*" >&2; }

tree="$out/tree"
rm -rf "$tree" "$out/rootfs.tar"
mkdir -p "$tree/usr/bin" "$tree/etc/simple-ntpd" "$tree/etc/ssl/certs" "$tree/var/lib/simple-ntpd"
bash deploy/build-static.sh --out "$tree/usr/bin" >/dev/null
bash deploy/build-static.sh --bin simple-ntpd-operator --out "$tree/usr/bin" >/dev/null

command -v setcap >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v setcap >/dev/null 2>&1 || { say "setcap not found (Debian: apt-get install libcap2-bin)"; exit 1; }
# Permitted, not effective: a process gets them only where the container's
# bounding set allows (--cap-add), and the daemon raises them itself, so the
# binary still starts under --cap-drop ALL.
setcap cap_net_bind_service,cap_sys_time+p "$tree/usr/bin/simple-ntpd"

printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' \
    > "$tree/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tree/etc/group"
bundle=/etc/ssl/certs/ca-certificates.crt
if [ -r "$bundle" ]; then
    cp "$bundle" "$tree/etc/ssl/certs/ca-certificates.crt"
else
    say "WARNING: $bundle not found (Debian: ca-certificates): NTS sources will need their own ca = file"
fi
chmod -R u=rwX,go=rX "$tree"

# Everything owned by root, then the state directory (alone) by 65534.
tar_opts=(--numeric-owner --xattrs --xattrs-include=security.capability -C "$tree")
tar -cf "$out/rootfs.tar" "${tar_opts[@]}" --owner=0 --group=0 --exclude=./var/lib/simple-ntpd .
tar -rf "$out/rootfs.tar" "${tar_opts[@]}" --owner=65534 --group=65534 --no-recursion ./var/lib/simple-ntpd
say "assembled $out/rootfs.tar ($(du -h "$out/rootfs.tar" | cut -f1))"
