#!/usr/bin/env bash
# Builds a statically linked release binary that the container image and the
# distribution packages ship — the daemon, simple-ntpd, by default, or with
# --bin simple-ntpd-operator the Kubernetes operator: glibc linked in
# (`-C target-feature=+crt-static`), so it runs on any Linux of the same
# architecture and `FROM scratch`. A static PIE (ELF type DYN) by default, so
# the program image loads at a random address like everything else: the
# daemon parses packets from anyone. SIMPLE_NTPD_STATIC_PIE=0 links it
# position-dependent instead (`-C relocation-model=static`, type EXEC) for
# routers where every page counts: a static PIE relocates itself at start,
# which copies its relocated read-only data and GOT into private memory
# (160 kB of the daemon's anonymous memory at idle, measured;
# docs/performance.md, footprint), and a fixed-address binary keeps those
# pages clean and shared with the page cache.
#
#   bash deploy/build-static.sh [--bin NAME] [--out DIR]
#
# Cargo builds into its usual target directory ($CARGO_TARGET_DIR, else
# target/) under the target triple, so later runs are incremental and the
# host builds (target/debug, target/release) are left alone. The release
# profile carries no debug information into the binary (only its symbols);
# with --out DIR a fully stripped copy is written to DIR/NAME (what ships).
# The path of the binary to use is the only line printed on standard output.
#
# Environment: SIMPLE_NTPD_TARGET overrides the target triple
# (default: $(uname -m)-unknown-linux-gnu); SIMPLE_NTPD_STATIC_PIE=0 a
# position-dependent binary; SIMPLE_NTPD_LINK_ORDER=0 the linker's default
# function order; RUSTFLAGS is kept and extended.
set -euo pipefail
cd "$(dirname "$0")/.."

out=""
name=simple-ntpd
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --bin) name=${2:?--bin needs a program name}; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "build-static: unknown argument $1" >&2; exit 2 ;;
    esac
done

triple=${SIMPLE_NTPD_TARGET:-$(uname -m)-unknown-linux-gnu}
# With an explicit --target, RUSTFLAGS reach only the target's crates, not
# build scripts and proc macros, which stay ordinary host programs.
pie=${SIMPLE_NTPD_STATIC_PIE:-1}
if [ "$pie" = 1 ]; then
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
else
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static -C relocation-model=static"
fi
unset CARGO_ENCODED_RUSTFLAGS
# The libc crate binds the termios speed functions to their old symbol
# versions (cfsetspeed@GLIBC_2.2.5: glibc 2.42 changed what they take), and a
# static libc.a has no versions: the final link names those references after
# the plain functions (given to the binary only, so no dependency rebuilds).
case "$triple" in
    x86_64-*) base_version=2.2.5 ;;
    aarch64-*) base_version=2.17 ;;
    *) base_version="" ;;
esac
link_args=()
if [ -n "$base_version" ]; then
    for f in cfgetispeed cfgetospeed cfsetispeed cfsetospeed cfsetspeed; do
        link_args+=(-C "link-arg=-Wl,--defsym=\"$f@GLIBC_$base_version\"=$f")
    done
fi
case "$name" in
    simple-ntpd|simple-ntpd-operator) ;;
    *) echo "build-static: --bin must be simple-ntpd or simple-ntpd-operator, not $name" >&2; exit 2 ;;
esac
# The daemon's hot functions first (deploy/link-order/NAME.syms, written by
# bench/link-order.sh): the code a running daemon touches then lies in a few
# adjacent pages, and the rest of the binary, start-up code included, stays
# out of memory once start-up hands its pages back (program_pages.rs). lld
# takes the list as it is; a name this build no longer has is skipped. The
# list is passed under a name made of its hash, so cargo relinks exactly when
# it changes. SIMPLE_NTPD_LINK_ORDER=0 links in the default order.
target_dir=${CARGO_TARGET_DIR:-target}
order=deploy/link-order/$name.syms
# Only where rustc links with its own lld (x86_64 Linux, Rust 1.90+).
rust_minor=$(rustc -V | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ -f "$order" ] && [ "${SIMPLE_NTPD_LINK_ORDER:-1}" != 0 ] && [ "$triple" = x86_64-unknown-linux-gnu ] \
    && [ "$rust_minor" -ge 90 ] 2>/dev/null; then
    mkdir -p "$target_dir/link-order"
    ordered="$(cd "$target_dir/link-order" && pwd)/$name-$(sha256sum "$order" | cut -c1-16).syms"
    [ -f "$ordered" ] || cp "$order" "$ordered"
    link_args+=(-C "link-arg=-Wl,--symbol-ordering-file=$ordered" -C "link-arg=-Wl,--no-warn-symbol-ordering")
else
    order=""
fi
cargo rustc --release --locked --target "$triple" -p "$name" --bin "$name" -- "${link_args[@]}" >&2

bin="$target_dir/$triple/release/$name"
[ -x "$bin" ] || { echo "build-static: $bin was not built" >&2; exit 1; }
# A static binary has no program interpreter and needs no shared library;
# a PIE is of type DYN, a position-dependent one EXEC. readelf's output is
# read whole into variables first: under pipefail, a reader that stops at
# its first match (grep to /dev/null, awk's exit) can kill readelf with
# SIGPIPE and fail the build at random.
program_headers=$(readelf -lW "$bin")
dynamic_section=$(readelf -dW "$bin")
file_header=$(readelf -hW "$bin")
section_headers=$(readelf -SW "$bin")
needed=$(grep -F '(NEEDED)' <<<"$dynamic_section" || true)
if grep -qF 'INTERP' <<<"$program_headers" || [ -n "$needed" ]; then
    echo "build-static: $bin is not statically linked:" >&2
    [ -z "$needed" ] || echo "$needed" >&2
    exit 1
fi
want_type=EXEC
[ "$pie" = 1 ] && want_type=DYN
elf_type=$(awk '$1 == "Type:" {print $2}' <<<"$file_header")
if [ "$elf_type" != "$want_type" ]; then
    echo "build-static: $bin is not of ELF type $want_type (it is $elf_type)" >&2
    exit 1
fi

# How much of the list this build found, and whether the linker really put
# it first: the listed functions must end within twice their size (plus
# alignment) of the start of the code, not be spread over all of it.
if [ -n "$order" ]; then
    text_start=$(awk '!found {for (i = 1; i < NF; i++) if ($i == ".text") {print $(i + 2); found = 1}}' <<<"$section_headers")
    read -r listed found bytes end < <(nm -S --defined-only "$bin" | awk -v start="$text_start" '
        function hex(s,  i, n) { n = 0; s = tolower(s)
            for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return n }
        NR == FNR { if ($1 !~ /^#/ && NF) want[$1] = 1; next }
        NF == 4 && ($4 in want) { if (!($4 in seen)) { seen[$4] = 1; found++ }
            a = hex($1); bytes += hex($2); if (a + hex($2) > last) last = a + hex($2) }
        END { n = 0; for (w in want) n++; printf "%d %d %d %d\n", n, found, bytes, last - hex(start) }
    ' "$order" -)
    echo "build-static: link order: $found of $listed listed functions placed first ($((bytes / 1024)) kB of code, ending $((end / 1024)) kB into it)" >&2
    if [ "$found" -gt 0 ] && [ "$end" -gt $((2 * bytes + 65536)) ]; then
        echo "build-static: the linker did not place the listed functions first (is it lld?)" >&2
        exit 1
    fi
    if [ "$listed" -gt 0 ] && [ $((found * 100 / listed)) -lt 80 ]; then
        echo "build-static: warning: $order is out of date; regenerate it with bash bench/link-order.sh" >&2
    fi
fi

if [ -n "$out" ]; then
    mkdir -p "$out"
    strip --strip-all -o "$out/$name.tmp" "$bin"
    mv -f "$out/$name.tmp" "$out/$name"
    bin="$out/$name"
fi
echo "$bin"
