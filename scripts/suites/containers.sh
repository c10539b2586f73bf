#!/usr/bin/env bash
# The container deployment, for real (issue 10): builds the image offline
# with deploy/docker/build.sh, then checks, against a Docker daemon, that
#   - the image is small, runs as 65534 with no shell, carries its OCI
#     labels and an exec-form health check, and its binary the file
#     capabilities cap_net_bind_service,cap_sys_time+p;
#   - it serves the stratum of an environment variable and of a mounted file
#     on non-default ports, under --read-only --cap-drop ALL, and its health
#     check follows both to `healthy`;
#   - the cturra/ntp variables are mapped (and SIMPLE_NTPD_* wins);
#   - as uid 65534 it serves port 123 with only NET_BIND_SERVICE (ntpdig asks),
#     with that one capability in /proc, and fails clearly without it;
#   - an unsynchronised daemon is `starting` within the start period and
#     `unhealthy` after it, a synchronising one (from a chronyd upstream)
#     turns `healthy`;
#   - `docker stop` (SIGTERM) ends it with exit code 0 in well under a second;
#   - deploy/docker/compose.yaml runs it with its volume, limits and restart
#     policy (docker-compose 1.29, and `docker compose` v2 when present);
#   - deploy/swarm/stack.yaml runs on a one-node swarm, and a rolling update
#     (`docker service update --force`) loses at most 1 % of the requests of
#     a client asking every 50 ms.
# Containers use the host network and every client talks to loopback
# addresses only. Installs docker.io when missing and, when no daemon runs,
# starts `dockerd --bridge=none --iptables=false` with private data and exec
# roots inside a network namespace of its own: what Docker creates there
# (the swarm's docker_gwbridge) never reaches the host, and 127.x.y.z:123
# is free. Everything started or created is removed on exit, and the host's
# links, addresses and firewall rules are compared before and after. Fails
# when Docker cannot run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
SAY_PREFIX=containers
# shellcheck source=../lib/packages.sh
. scripts/lib/packages.sh

SUITE_START=$SECONDS
RUN_ID=sntpd$$
LABEL="org.simple-ntpd.suite=$RUN_ID"
IMAGE="simple-ntpd:suite-$RUN_ID"
PY=/usr/bin/python3
FIGURES=()
figure() {
    FIGURES+=("$*")
    say "figure: $*"
}

install_packages docker.io docker-compose libcap2-bin ca-certificates ntpsec-ntpdig python3-ntplib iproute2 iptables
CHRONYD="$PEERS_DIR/chrony/usr/sbin/chronyd"
[ -x "$CHRONYD" ] || bash scripts/install-test-deps.sh
[ -x "$CHRONYD" ] || die "chronyd missing at $CHRONYD after scripts/install-test-deps.sh"
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || die "no docker client after installing docker.io"
export DOCKER
docker() { "$DOCKER" "$@"; }

WORK=$(mktemp -d /var/tmp/simple-ntpd-containers.XXXXXX)
chmod 755 "$WORK"
DOCKERD_PID=""
DOCKER_CLEAN=0
NETNS=""
SWARM_OURS=0
CHRONYD_PID=""
PROBE_PID=""
STACK=""
COMPOSE_FILES=()

host_state() {
    ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
    ip -o addr show | awk '{print $2, $3, $4}' | sort
    if command -v iptables-save >/dev/null; then iptables-save 2>/dev/null | grep -v '^#' || true; fi
    if command -v ip6tables-save >/dev/null; then ip6tables-save 2>/dev/null | grep -v '^#' || true; fi
}

# What this suite created in Docker (containers, stack, volume, secret,
# swarm membership, image), whatever point it got to.
remove_docker_objects() {
    if [ -n "$STACK" ]; then
        docker stack rm "$STACK" >/dev/null 2>&1
        for _ in $(seq 1 60); do
            [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break
            sleep 0.5
        done
        docker volume rm "${STACK}_state" >/dev/null 2>&1
        docker secret rm simple-ntpd-keys >/dev/null 2>&1
    fi
    if [ "${#COMPOSE_FILES[@]}" -gt 0 ]; then
        docker-compose -p "$RUN_ID" "${COMPOSE_FILES[@]}" down -v >/dev/null 2>&1
    fi
    docker ps -aq --filter "label=$LABEL" | xargs -r "$DOCKER" rm -f >/dev/null 2>&1
    [ "$SWARM_OURS" = 1 ] && docker swarm leave --force >/dev/null 2>&1 && remove_gwbridge
    docker image rm "$IMAGE" >/dev/null 2>&1
}

cleanup() {
    local rc=$?
    set +e
    [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null
    # Unless the main path already removed everything (and stopped dockerd).
    [ "$DOCKER_CLEAN" = 0 ] && docker info >/dev/null 2>&1 && remove_docker_objects
    [ -n "$CHRONYD_PID" ] && kill "$CHRONYD_PID" 2>/dev/null
    if [ -n "$DOCKERD_PID" ]; then
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
    fi
    # What dockerd leaves mounted under its private roots (its netns handle).
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    [ -n "$NETNS" ] && ip netns delete "$NETNS"
    rm -rf "$WORK"
    if [ "$rc" -ne 0 ]; then
        echo "$SAY_PREFIX: FAILED (exit $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------- helpers
# Runs a command in the network namespace of the Docker daemon (that of a
# daemon this suite started; else the host's).
# NS_EXEC is the same as a command prefix, for background processes whose
# PID must be the program's own (nsenter execs it).
NS_EXEC=()
in_ns() { "${NS_EXEC[@]}" "$@"; }

# After leaving a swarm on a daemon in the host's namespace: the bridge the
# swarm created goes too, when it was not there before.
remove_gwbridge() {
    if [ -z "$NETNS" ] && ! grep -qx docker_gwbridge <<<"$BEFORE"; then
        docker network rm docker_gwbridge >/dev/null 2>&1 || true
    fi
}

free_udp_port() {
    in_ns "$PY" "$REPO/scripts/lib/free_port.py" udp
}

# A 127.x.y.z whose UDP port 123 is free (other suites and tests bind such
# addresses too, never the wildcard).
spare_loopback() {
    in_ns "$PY" - <<'EOF'
import random, socket
for _ in range(200):
    ip = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(1, 254))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ip, 123))
    except OSError:
        continue
    finally:
        s.close()
    print(ip)
    break
else:
    raise SystemExit("no spare 127.x.y.z with a free port 123")
EOF
}

# stratum HOST PORT: the stratum ntplib (a real client) gets, or "none".
stratum() {
    in_ns "$PY" - "$1" "$2" <<'EOF'
import sys, time, ntplib
for _ in range(20):
    try:
        r = ntplib.NTPClient().request(sys.argv[1], port=int(sys.argv[2]), version=4, timeout=0.5)
        print(r.stratum)
        break
    except Exception:
        time.sleep(0.25)
else:
    print("none")
EOF
}

health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }

# wait_health CONTAINER STATUS TIMEOUT: waits until the health status is
# STATUS; prints the seconds since the container started.
wait_health() {
    local c=$1 want=$2 limit=$3 started now
    started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$c")" +%s.%N)
    for _ in $(seq 1 $((limit * 5))); do
        if [ "$(health "$c")" = "$want" ]; then
            now=$(date +%s.%N)
            "$PY" -c "print(f'{$now - $started:.1f}')"
            return 0
        fi
        sleep 0.2
    done
    say "container $c: health is $(health "$c"), not $want, after ${limit} s" >&2
    docker inspect -f '{{json .State.Health}}' "$c" >&2
    docker logs "$c" 2>&1 | tail -20 >&2
    return 1
}

status_field() { awk -v f="$2" '$1 == f {print $2}' "/proc/$1/status"; }

# check_process CONTAINER CAPEFF: uid 65534 and the effective and permitted
# capability sets, read from /proc.
check_process() {
    local pid uid
    pid=$(docker inspect -f '{{.State.Pid}}' "$1")
    [ "$pid" -gt 0 ] || die "container $1 has no process"
    uid=$(awk '$1 == "Uid:" {print $2, $3, $4, $5}' "/proc/$pid/status")
    [ "$uid" = "65534 65534 65534 65534" ] || die "container $1 runs as uid $uid, not 65534"
    [ "$(status_field "$pid" CapEff:)" = "$2" ] || die "container $1: CapEff $(status_field "$pid" CapEff:), want $2"
    [ "$(status_field "$pid" CapPrm:)" = "$2" ] || die "container $1: CapPrm $(status_field "$pid" CapPrm:), want $2"
    say "container $1: uid 65534, CapEff=CapPrm=$2 (from /proc/$pid/status)"
}

run_ctr() {
    local name=$1
    shift
    docker run -d --label "$LABEL" --name "$RUN_ID-$name" --network host "$@" >/dev/null
    echo "$RUN_ID-$name"
}

NO_API=(-e SIMPLE_NTPD_MONITORING_ENABLED=false)

# ---------------------------------------------------------------- Docker
BEFORE=$(host_state)
if docker info >/dev/null 2>&1; then
    say "using the running Docker daemon"
else
    command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"
    NETNS=$RUN_ID
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    NS_EXEC=(nsenter "--net=/run/netns/$NETNS")
    say "starting dockerd --bridge=none --iptables=false in network namespace $NETNS (roots under $WORK/docker)"
    mkdir -p "$WORK/docker"
    "${NS_EXEC[@]}" dockerd --bridge=none --iptables=false \
        --data-root "$WORK/docker/data" --exec-root "$WORK/docker/exec" \
        --pidfile "$WORK/docker/dockerd.pid" -H "unix://$WORK/docker/docker.sock" \
        >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    export DOCKER_HOST="unix://$WORK/docker/docker.sock"
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -20 "$WORK/dockerd.log" >&2
        die "Docker cannot run on this machine: dockerd did not come up (log above)"
    fi
fi
say "docker $(docker version -f '{{.Server.Version}}'), storage $(docker info -f '{{.Driver}}')"

# ---------------------------------------------------------------- build
t=$SECONDS
bash deploy/docker/build.sh "$IMAGE"
figure "build.sh (cargo static release build + image): $((SECONDS - t)) s"
if [ -n "$DOCKERD_PID" ]; then
    # Our own daemon: the default tags can be checked without touching anyone's images.
    bash deploy/docker/build.sh
    version=$(cargo pkgid -p simple-ntpd | sed 's/.*[@#]//')
    [ "$(docker image inspect -f '{{.Id}}' simple-ntpd:latest)" = "$(docker image inspect -f '{{.Id}}' "simple-ntpd:${version%.*}")" ] \
        || die "build.sh without TAG did not tag simple-ntpd:latest and simple-ntpd:${version%.*} alike"
    docker image rm simple-ntpd:latest "simple-ntpd:${version%.*}" >/dev/null
    say "build.sh tags simple-ntpd:latest and simple-ntpd:${version%.*}"
fi

# ---------------------------------------------------------------- the image
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
figure "image size: $(awk -v s="$size" 'BEGIN {printf "%.1f MB", s / 1e6}') (limit 25 MB)"
[ "$size" -le 25000000 ] || die "the image is $size bytes, more than 25 MB"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = "65534:65534" ] || die "the image's user is not 65534:65534"
[ "$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")" = '["CMD","/usr/bin/simple-ntpd","healthcheck"]' ] \
    || die "the health check is not the exec form of simple-ntpd healthcheck"
version=$(cargo pkgid -p simple-ntpd | sed 's/.*[@#]//')
label() { docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$IMAGE"; }
[ "$(label version)" = "$version" ] || die "label version is '$(label version)', not $version"
[[ "$(label revision)" == "$(git rev-parse HEAD)"* ]] || die "label revision '$(label revision)' is not HEAD"
[ -n "$(label source)" ] && [ "$(label licenses)" = "Apache-2.0" ] || die "labels source/licenses missing"
c=$(docker create --label "$LABEL" "$IMAGE")
docker export "$c" >"$WORK/image.tar"
docker rm "$c" >/dev/null
if tar -tf "$WORK/image.tar" | grep -E '^(bin|usr/bin|sbin|usr/sbin)/(sh|bash|ash|dash|busybox)$' >/dev/null; then
    die "the image contains a shell"
fi
mkdir -p "$WORK/extract"
tar -xf "$WORK/image.tar" --xattrs --xattrs-include=security.capability -C "$WORK/extract" usr/bin/simple-ntpd
getcap "$WORK/extract/usr/bin/simple-ntpd" | grep 'cap_net_bind_service,cap_sys_time=p' >/dev/null \
    || die "the binary lacks the file capabilities cap_net_bind_service,cap_sys_time+p: $(getcap "$WORK/extract/usr/bin/simple-ntpd")"
if readelf -d "$WORK/extract/usr/bin/simple-ntpd" | grep NEEDED >/dev/null || readelf -S "$WORK/extract/usr/bin/simple-ntpd" | grep debug_info >/dev/null; then
    die "the shipped binary is not static and stripped"
fi
tar -xf "$WORK/image.tar" -C "$WORK/extract" usr/bin/simple-ntpd-operator
if readelf -d "$WORK/extract/usr/bin/simple-ntpd-operator" | grep NEEDED >/dev/null; then
    die "the shipped operator binary is not static"
fi
figure "binaries: simple-ntpd $(stat -c %s "$WORK/extract/usr/bin/simple-ntpd") bytes, simple-ntpd-operator $(stat -c %s "$WORK/extract/usr/bin/simple-ntpd-operator") bytes"
# The shipped binary started as root on this host (as the Debian package's
# service does) must drop to its user without glibc's name-service modules,
# which a static program cannot load: looking up a user missing from
# /etc/passwd through them crashed it when nsswitch.conf names `systemd`.
port=$(free_udp_port)
printf '[network]\nlisten_address = "127.0.0.1"\nlisten_port = %s\n[monitoring]\nenabled = false\n[security]\nuser = "simple-ntpd"\n' \
    "$port" >"$WORK/host-root.toml"
NTPD_TEST_READ_ONLY_CLOCK=1 "${NS_EXEC[@]}" "$WORK/extract/usr/bin/simple-ntpd" run -c "$WORK/host-root.toml" >"$WORK/host-root.log" 2>&1 &
host_pid=$!
got=$(stratum 127.0.0.1 "$port")
kill "$host_pid" 2>/dev/null || true
wait "$host_pid" 2>/dev/null || true
[ "$got" = 10 ] || die "the static binary run as root on the host does not serve (stratum $got): $(cat "$WORK/host-root.log")"
grep -E 'dropped root privileges|running as nobody' "$WORK/host-root.log" >/dev/null \
    || die "the static binary run as root did not drop its privileges: $(cat "$WORK/host-root.log")"
say "the static binary, run as root on the host (nsswitch passwd: $(awk '$1 == "passwd:" {$1 = ""; print}' /etc/nsswitch.conf 2>/dev/null)), drops to its user and serves"
# `simple-ntpd crd` in the image runs the operator program beside the daemon.
crds=$(docker run --rm --label "$LABEL" --network none "$IMAGE" crd)
[ "$(grep -c '^kind: CustomResourceDefinition' <<<"$crds")" = 2 ] || die "simple-ntpd crd in the image printed: $crds"
say "image: user 65534, labels, exec health check, no shell, static stripped binaries (the daemon with +p file capabilities, the operator beside it)"

# ---------------------------------------------------------------- environment, --read-only --cap-drop ALL
port=$(free_udp_port)
ctr=$(run_ctr env --read-only --cap-drop ALL --health-interval 1s "${NO_API[@]}" \
    -e SIMPLE_NTPD_LISTEN_ADDRESS=127.0.0.1 -e SIMPLE_NTPD_LISTEN_PORT="$port" -e SIMPLE_NTPD_STRATUM=4 "$IMAGE")
took=$(wait_health "$ctr" healthy 30)
figure "environment-configured container healthy after ${took} s (health interval 1 s)"
[ "$(stratum 127.0.0.1 "$port")" = 4 ] || die "SIMPLE_NTPD_STRATUM=4 on port $port: ntplib got stratum $(stratum 127.0.0.1 "$port")"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$ctr")" = true ] || die "not read-only"
check_process "$ctr" 0000000000000000
docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$ctr" | grep "healthy: 127.0.0.1:$port serves stratum 4" >/dev/null \
    || die "the health check did not ask 127.0.0.1:$port"
# The README's way to ask from inside (no shell needed).
docker exec "$ctr" simple-ntpd query "127.0.0.1:$port" | grep "stratum 4" >/dev/null || die "docker exec ... simple-ntpd query failed"
# SIGTERM to exit, timed by the daemon's own events.
since=$(date +%s.%N)
docker stop "$ctr" >/dev/null
until_t=$(date +%s.%N)
[ "$(docker inspect -f '{{.State.ExitCode}}' "$ctr")" = 0 ] || die "exit code $(docker inspect -f '{{.State.ExitCode}}' "$ctr") after docker stop"
stop_ms=$(docker events --since "$since" --until "$until_t" --filter "container=$ctr" --format '{{.Action}} {{.TimeNano}}' \
    | awk '$1 ~ /^kill/ && !k {k = $2} $1 == "die" {d = $2} END {if (k && d) printf "%d", (d - k) / 1e6; else print "none"}')
[ "$stop_ms" != none ] || die "no kill/die events for docker stop"
figure "docker stop: SIGTERM to exit 0 in $stop_ms ms"
[ "$stop_ms" -lt 1000 ] || die "SIGTERM took $stop_ms ms to end the daemon"
docker rm "$ctr" >/dev/null

# ---------------------------------------------------------------- a mounted file
port=$(free_udp_port)
printf '[network]\nlisten_address = "127.0.0.1"\nlisten_port = %s\n[ntp_server]\nstratum = 6\n[monitoring]\nenabled = false\n' "$port" \
    >"$WORK/mounted.toml"
chmod 644 "$WORK/mounted.toml"
ctr=$(run_ctr file --read-only --cap-drop ALL --health-interval 1s \
    -v "$WORK/mounted.toml:/etc/simple-ntpd/simple-ntpd.toml:ro" "$IMAGE")
took=$(wait_health "$ctr" healthy 30)
[ "$(stratum 127.0.0.1 "$port")" = 6 ] || die "mounted file stratum 6 on port $port: got $(stratum 127.0.0.1 "$port")"
say "mounted /etc/simple-ntpd/simple-ntpd.toml: stratum 6 on port $port, healthy after ${took} s"
docker rm -f "$ctr" >/dev/null

# ---------------------------------------------------------------- cturra/ntp variables
shown=$(docker run --rm --label "$LABEL" -e NTP_SERVERS=127.127.1.1 -e LOG_LEVEL=1 -e NOCLIENTLOG=true "$IMAGE" config show 2>&1)
for want in 'client_log_size = 0' 'level = "WARN"' 'stratum = 10'; do
    grep -qF "$want" <<<"$shown" || die "cturra variables: config show lacks '$want':
$shown"
done
grep -A3 '^\[server.local\]' <<<"$shown" | grep 'enabled = true' >/dev/null || die "NTP_SERVERS=127.127.1.1 did not enable the local clock"
shown=$(docker run --rm --label "$LABEL" -e LOG_LEVEL=1 -e SIMPLE_NTPD_LOG_LEVEL=debug "$IMAGE" config show 2>&1)
grep -qF 'level = "DEBUG"' <<<"$shown" || die "SIMPLE_NTPD_LOG_LEVEL did not win over LOG_LEVEL"
grep -q 'LOG_LEVEL: ignored, SIMPLE_NTPD_LOG_LEVEL is set' <<<"$shown" || die "no warning about the ignored LOG_LEVEL"
port=$(free_udp_port)
ctr=$(run_ctr cturra --read-only --cap-drop ALL "${NO_API[@]}" -e NTP_SERVERS=127.127.1.1 -e LOG_LEVEL=1 \
    -e SIMPLE_NTPD_LISTEN_ADDRESS=127.0.0.1 -e SIMPLE_NTPD_LISTEN_PORT="$port" "$IMAGE")
[ "$(stratum 127.0.0.1 "$port")" = 10 ] || die "NTP_SERVERS=127.127.1.1: not serving the local clock at stratum 10"
if docker logs "$ctr" 2>&1 | grep ' INFO ' >/dev/null; then die "LOG_LEVEL=1 still logs INFO lines"; fi
docker rm -f "$ctr" >/dev/null
say "cturra/ntp variables: NTP_SERVERS=127.127.1.1 serves stratum 10, LOG_LEVEL=1 logs warnings only, NOCLIENTLOG, SIMPLE_NTPD_* wins"

# ---------------------------------------------------------------- port 123 as nobody
ip=$(spare_loopback)
ctr=$(run_ctr port123 --read-only --cap-drop ALL --cap-add NET_BIND_SERVICE "${NO_API[@]}" \
    -e SIMPLE_NTPD_LISTEN_ADDRESS="$ip" -e SIMPLE_NTPD_STRATUM=3 "$IMAGE")
got=""
for _ in $(seq 1 20); do
    got=$(in_ns ntpdig -j -t 1 "$ip" 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["stratum"])' 2>/dev/null) && break
    sleep 0.25
done
[ "$got" = 3 ] || die "ntpdig $ip:123 got stratum '$got', want 3"
check_process "$ctr" 0000000000000400
docker rm -f "$ctr" >/dev/null
# Expected to fail: in an && || list, so the ERR trap (scripts/lib) does not
# report it as this suite's error.
out=$(docker run --rm --label "$LABEL" --network host --read-only --cap-drop ALL "${NO_API[@]}" \
    -e SIMPLE_NTPD_LISTEN_ADDRESS="$ip" "$IMAGE" 2>&1) && rc=0 || rc=$?
[ "$rc" = 1 ] && grep -q 'CAP_NET_BIND_SERVICE' <<<"$out" || die "port 123 without NET_BIND_SERVICE: exit $rc, $out"
say "port 123 as uid 65534 with only NET_BIND_SERVICE (ntpdig: stratum 3); without it, exit 1 naming the capability"

# ---------------------------------------------------------------- health: starting, healthy, unhealthy
chrony_port=$(free_udp_port)
printf 'port %s\nbindaddress 127.0.0.1\nlocal stratum 3\nallow 127.0.0.1\ncmdport 0\npidfile %s/chronyd.pid\n' \
    "$chrony_port" "$WORK" >"$WORK/chrony.conf"
"${NS_EXEC[@]}" "$CHRONYD" -x -d -u root -f "$WORK/chrony.conf" >"$WORK/chronyd.log" 2>&1 &
CHRONYD_PID=$!
[ "$(stratum 127.0.0.1 "$chrony_port")" = 3 ] || die "chronyd upstream does not serve: $(cat "$WORK/chronyd.log")"
UPSTREAM="[{ address = \"127.0.0.1:$chrony_port\", iburst = true }]"

port=$(free_udp_port)
ctr=$(run_ctr sync --read-only --cap-drop ALL --health-interval 1s "${NO_API[@]}" -e SIMPLE_NTPD_CLOCK_DISCIPLINE=virtual \
    -e SIMPLE_NTPD_SOURCES_SERVERS="$UPSTREAM" -e SIMPLE_NTPD_LISTEN_ADDRESS=127.0.0.1 -e SIMPLE_NTPD_LISTEN_PORT="$port" "$IMAGE")
took=$(wait_health "$ctr" healthy 30)
figure "synchronising from chronyd: starting -> healthy after ${took} s (health interval 1 s)"
[ "$(stratum 127.0.0.1 "$port")" = 4 ] || die "synchronised from chronyd (stratum 3) but serving $(stratum 127.0.0.1 "$port")"
docker rm -f "$ctr" >/dev/null

port=$(free_udp_port)
silent=$(free_udp_port)
ctr=$(run_ctr unsync --read-only --cap-drop ALL --health-interval 1s --health-start-period 6s --health-retries 2 \
    "${NO_API[@]}" -e SIMPLE_NTPD_CLOCK_DISCIPLINE=virtual -e SIMPLE_NTPD_SOURCES_SERVERS="[{ address = \"127.0.0.1:$silent\" }]" \
    -e SIMPLE_NTPD_LISTEN_ADDRESS=127.0.0.1 -e SIMPLE_NTPD_LISTEN_PORT="$port" "$IMAGE")
sleep 4
[ "$(health "$ctr")" = starting ] || die "unsynchronised within the start period: health $(health "$ctr"), want starting"
docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$ctr" | grep "starting: 127.0.0.1:$port answers but is not synchronised yet" >/dev/null \
    || die "the probe did not report 'starting': $(docker inspect -f '{{json .State.Health}}' "$ctr")"
took=$(wait_health "$ctr" unhealthy 30)
figure "never synchronised: starting for the 6 s start period, unhealthy after ${took} s (2 retries at 1 s)"
docker rm -f "$ctr" >/dev/null

# ---------------------------------------------------------------- Compose
ip=$(spare_loopback)
cat >"$WORK/compose.override.yaml" <<EOF
# Loopback only: a spare 127.x.y.z:123 and the chronyd upstream of this suite.
services:
  simple-ntpd:
    labels:
      $(echo "$LABEL" | sed 's/=/: /')
    environment:
      SIMPLE_NTPD_LISTEN_ADDRESS: "$ip"
      SIMPLE_NTPD_SOURCES_SERVERS: '$UPSTREAM'
      SIMPLE_NTPD_CLOCK_DISCIPLINE: virtual
      SIMPLE_NTPD_MONITORING_ENABLED: "false"
    healthcheck:
      interval: 1s
EOF
run_compose() {
    local tool=$1
    shift
    # NTP_SERVERS names the local clock: even a broken override would not leave loopback.
    if [ "$tool" = v1 ]; then
        SIMPLE_NTPD_IMAGE=$IMAGE NTP_SERVERS=127.127.1.1 docker-compose -p "$RUN_ID" "${COMPOSE_FILES[@]}" "$@"
    else
        SIMPLE_NTPD_IMAGE=$IMAGE NTP_SERVERS=127.127.1.1 docker compose -p "$RUN_ID" "${COMPOSE_FILES[@]}" "$@"
    fi
}
COMPOSE_FILES=(-f deploy/docker/compose.yaml -f "$WORK/compose.override.yaml")
tools=(v1)
if docker compose version >/dev/null 2>&1; then tools+=(v2); else say "no 'docker compose' v2 plugin here: docker-compose 1.29 only"; fi
for tool in "${tools[@]}"; do
    run_compose "$tool" up -d 2>&1 | sed "s/^/compose $tool: /"
    ctr=$(docker ps -q --filter "label=com.docker.compose.project=$RUN_ID" --filter "label=com.docker.compose.service=simple-ntpd")
    [ -n "$ctr" ] || die "compose $tool: no container"
    took=$(wait_health "$ctr" healthy 60)
    got=$(in_ns ntpdig -j -t 1 "$ip" 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["stratum"])' 2>/dev/null || true)
    [ "$got" = 4 ] || die "compose $tool: ntpdig $ip got stratum '$got', want 4"
    check_process "$ctr" 0000000000000400
    inspect=$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.NetworkMode}} {{index .HostConfig.LogConfig.Config "max-size"}}' "$ctr")
    [ "$inspect" = "always true 1073741824 1000000000 host 100m" ] || die "compose $tool: restart/read-only/limits/network/logging are '$inspect'"
    docker inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{"\n"}}{{end}}' "$ctr" | grep "^volume ${RUN_ID}_state /var/lib/simple-ntpd$" >/dev/null \
        || die "compose $tool: no named volume at /var/lib/simple-ntpd"
    # The log reaches `docker logs` asynchronously: wait for the line (bounded).
    warned=0
    for _ in $(seq 1 50); do
        if docker logs "$ctr" 2>&1 | grep 'NTP_SERVERS: ignored, SIMPLE_NTPD_SOURCES_SERVERS is set' >/dev/null; then
            warned=1
            break
        fi
        sleep 0.1
    done
    [ "$warned" = 1 ] || die "compose $tool: the overridden NTP_SERVERS was not warned about"
    run_compose "$tool" stop 2>&1 | sed "s/^/compose $tool: /"
    vol=$(docker volume inspect -f '{{.Mountpoint}}' "${RUN_ID}_state")
    [ -s "$vol/drift" ] && [ "$(stat -c %u "$vol/drift")" = 65534 ] || die "compose $tool: no drift file written by 65534 in the volume"
    run_compose "$tool" down -v 2>&1 | sed "s/^/compose $tool: /"
    ! docker volume inspect "${RUN_ID}_state" >/dev/null 2>&1 || die "compose $tool: volume left behind"
    say "compose $tool: healthy after ${took} s, stratum 4 on $ip:123, limits, restart policy, drift file in the named volume"
done
COMPOSE_FILES=()

# ---------------------------------------------------------------- Swarm
state=$(docker info -f '{{.Swarm.LocalNodeState}}')
if [ "$state" != inactive ]; then
    die "this Docker node is already in a swarm ($state): refusing to deploy a test stack into it"
fi
docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_udp_port)" >/dev/null
SWARM_OURS=1
docker run --rm --label "$LABEL" "$IMAGE" keygen --type AES128 --count 2 >"$WORK/keys"
chmod 644 "$WORK/keys"
docker secret create simple-ntpd-keys "$WORK/keys" >/dev/null
# config check runs the daemon's preflight: the key file it names must be
# there, as the secret will be in the service's tasks.
docker run --rm --label "$LABEL" -v "$REPO/deploy/swarm/simple-ntpd.toml:/c.toml:ro" \
    -v "$WORK/keys:/run/secrets/simple-ntpd-keys:ro" "$IMAGE" config check --no-env /c.toml >/dev/null \
    || die "deploy/swarm/simple-ntpd.toml does not pass config check"
ip=$(spare_loopback)
mkdir -p "$WORK/stack"
cp deploy/swarm/stack.yaml "$WORK/stack/stack.yaml"
# The stack as shipped, with a configuration for loopback only.
cat >"$WORK/stack/simple-ntpd.toml" <<EOF
[network]
listen_address = "$ip"
share_port = true
[[sources.servers]]
address = "127.0.0.1:$chrony_port"
iburst = true
[clock]
discipline = "virtual"
[server]
driftfile = "/var/lib/simple-ntpd/drift"
[monitoring]
# On its default address in the suite's own network namespace only.
enabled = $([ -n "$NETNS" ] && echo true || echo false)
[security.authentication]
enabled = true
key_file = "/run/secrets/simple-ntpd-keys"
EOF
STACK=$RUN_ID
SERVICE="${STACK}_simple-ntpd"
SIMPLE_NTPD_IMAGE=$IMAGE docker stack deploy --resolve-image never -c "$WORK/stack/stack.yaml" "$STACK" >/dev/null
[ "$(docker service inspect -f '{{.Spec.Mode.Global}}' "$SERVICE")" != "<nil>" ] || die "the service is not global"
task_container() {
    docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE" --filter health=healthy | sed -n 1p
}
first=""
for _ in $(seq 1 150); do
    first=$(task_container)
    [ -n "$first" ] && break
    sleep 0.4
done
[ -n "$first" ] || die "no healthy task of $SERVICE after 60 s: $(docker service ps --no-trunc "$SERVICE")"
check_process "$first" 0000000000000400
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.NetworkMode}}' "$first")" = "true host" ] \
    || die "the task is not read-only on the host network"
out=$(docker run --rm --label "$LABEL" --network host -v "$WORK/keys:/keys:ro" "$IMAGE" \
    query --key-file /keys --key-id 2 "$ip" 2>&1) || die "authenticated query to the stack failed: $out"
grep -q 'authenticated: yes' <<<"$out" || die "the stack's reply is not authenticated with the secret's key: $out"
say "stack: global task healthy on the host network, uid 65534 with NET_BIND_SERVICE only, MAC-authenticated with the secret's key"

"${NS_EXEC[@]}" "$PY" scripts/lib/ntp_probe.py --server "$ip:123" --interval 0.05 --timeout 0.5 --stop-file "$WORK/probe.stop" \
    --max-duration 300 >"$WORK/probe.json" &
PROBE_PID=$!
sleep 3
t=$SECONDS
docker service update --force --detach=false "$SERVICE" >"$WORK/update.log" 2>&1 || die "service update failed: $(cat "$WORK/update.log")"
update_s=$((SECONDS - t))
second=$(task_container)
[ -n "$second" ] && [ "$second" != "$first" ] || die "the rolling update did not replace the task"
sleep 3
touch "$WORK/probe.stop"
wait "$PROBE_PID"
PROBE_PID=""
[ "$(docker inspect -f '{{.State.ExitCode}}' "$first")" = 0 ] || die "the old task exited with $(docker inspect -f '{{.State.ExitCode}}' "$first")"
if [ -n "$NETNS" ]; then
    # The new task started while the old one held the API's address; it
    # takes the address over once the old one is gone.
    docker logs "$second" 2>&1 | grep 'running without the monitoring API for now' >/dev/null \
        || die "the new task did not meet the old one's monitoring API"
    for _ in $(seq 1 30); do
        docker exec "$second" simple-ntpd status >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker exec "$second" simple-ntpd status | grep 'Synchronised *: yes' >/dev/null || die "the new task's monitoring API did not start"
    say "the new task took the monitoring API over from the old one"
fi
read -r sent good unsync lost pct < <("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["sent"], r["good"], r["unsynchronised"], r["lost"] + r["kod"], r["loss_percent"])' "$WORK/probe.json")
figure "swarm rolling update (service update --force, ${update_s} s): $sent requests every 50 ms, $((sent - good)) not good ($lost lost, $unsync unsynchronised) = $pct %"
# The update as the daemon saw it, in seconds since the probe started.
probe_start=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["start"])' "$WORK/probe.json")
docker events --since "$probe_start" --until "$(date +%s.%N)" --filter "label=com.docker.swarm.service.name=$SERVICE" \
    --filter type=container --format '{{.TimeNano}} {{.Action}} {{.Actor.ID}}' \
    | awk -v t0="$probe_start" '$2 ~ /^(start|kill|die|health_status)/ {printf "  %7.3f s  %s %s %s\n", $1 / 1e9 - t0, substr($3, 1, 12), $2, $4}'
"$PY" -c 'import json, sys; print("  not good at (s):", json.load(open(sys.argv[1]))["bad"])' "$WORK/probe.json"
"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 1.0 else 1)' "$pct" || die "the rolling update lost $pct % of the requests (limit 1 %)"

docker stack rm "$STACK" >/dev/null
for _ in $(seq 1 60); do
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break
    sleep 0.5
done
docker volume rm "${STACK}_state" >/dev/null 2>&1 || true
docker secret rm simple-ntpd-keys >/dev/null
STACK=""
docker swarm leave --force >/dev/null
SWARM_OURS=0
remove_gwbridge

# ---------------------------------------------------------------- the host is as it was
docker image rm "$IMAGE" >/dev/null
DOCKER_CLEAN=1
left=$(docker ps -aq --filter "label=$LABEL")
[ -z "$left" ] || die "containers left behind: $left"
if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID"
    for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    ! kill -0 "$DOCKERD_PID" 2>/dev/null || die "dockerd did not stop"
    DOCKERD_PID=""
fi
kill "$CHRONYD_PID"
CHRONYD_PID=""
grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l
if [ -n "$NETNS" ]; then
    ip netns delete "$NETNS"
    NETNS=""
    NS_EXEC=()
fi
AFTER=$(host_state)
[ "$BEFORE" = "$AFTER" ] || die "the host's links, addresses or firewall rules changed:
$(diff <(echo "$BEFORE") <(echo "$AFTER") || true)"
say "links, addresses and firewall rules are as before"
for f in "${FIGURES[@]}"; do say "$f"; done
say "all container checks passed in $((SECONDS - SUITE_START)) s"
