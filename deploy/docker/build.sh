#!/usr/bin/env bash
# Builds the simple-ntpd runtime image from the working tree without any
# registry: the static binary is compiled on this host (cargo, reusing its
# incremental output under target/), the image's files are assembled by
# rootfs.sh, and the Dockerfile's `prebuilt` stage puts them into a
# `FROM scratch` image. Nothing is pulled.
#
#   bash deploy/docker/build.sh [TAG]
#
# Without TAG the image is tagged simple-ntpd:latest and
# simple-ntpd:<major>.<minor> (the crate version); with TAG, only TAG.
# Needs: cargo, a C toolchain, setcap (libcap2-bin), GNU tar, docker ($DOCKER
# names another client).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "build.sh: $*" >&2; }

version=$(cargo pkgid -p simple-ntpd | sed 's/.*[@#]//')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision="$revision-dirty"
fi
if [ $# -ge 1 ]; then
    tags=("$1")
else
    tags=("simple-ntpd:latest" "simple-ntpd:${version%.*}")
fi

work=${CARGO_TARGET_DIR:-target}/docker-image
bash deploy/docker/rootfs.sh "$work"
# The build context is the archive alone.
context="$work/context"
mkdir -p "$context"
ln -f "$work/rootfs.tar" "$context/rootfs.tar"

tag_args=()
for t in "${tags[@]}"; do tag_args+=(-t "$t"); done
say "building ${tags[*]} (version $version, revision $revision)"
"${DOCKER:-docker}" build -f deploy/docker/Dockerfile --target prebuilt \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    "${tag_args[@]}" "$context" >&2
say "built ${tags[*]}: $("${DOCKER:-docker}" image inspect -f '{{.Size}}' "${tags[0]}" | awk '{printf "%.1f MB", $1/1e6}')"
