#!/usr/bin/env bash
# Docker benchmark: netctl's plugin (netctld) against Docker's own bridge driver, on one dockerd
# in one run. dockerd (Debian's docker.io 20.10) runs with DOCKERD_FLAGS="--iptables=true
# --bridge=" (Tests/Helpers/dockerd.sh): docker0, iptables rules and docker-proxy for -p, as
# Docker is installed; netctld serves `-d netctl --ipam-driver netctl` on the same daemon, and
# floor_plugin.py a remote driver that does next to nothing (dockerd's own share).
#
#   bench/docker/run.sh [BUILD_DIR]     (netctld, netctl-proxy; default .build-static/release)
#
# DOCKER_ROUNDS (100) connect + disconnect rounds, DOCKER_RUN_ROUNDS (100) run -d -p + rm -f
# rounds, DOCKER_PORTS (50) published ports for the memory table. It re-executes itself inside
# scripts/sandbox.sh and then in a network and mount namespace of its own (as
# scripts/e2e/docker.sh does), so every address it touches is loopback or in namespaces it
# made. Needs root, docker.io and busybox-static (scripts/install-deps.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/.build-static/release}" && pwd)
helper="$root/Tests/Helpers/dockerd.sh"

for product in netctld netctl-proxy; do
    if [ ! -x "$build/$product" ]; then
        echo "docker bench: $build/$product is missing; make bench builds it (or: swift build -c release --product $product)" >&2
        exit 1
    fi
done
if [ "${NETCTL_SANDBOX:-}" != 1 ]; then
    exec "$root/scripts/sandbox.sh" "$0" "$build"
fi
if [ "${DOCKER_BENCH_INNER:-}" != 1 ]; then
    # dockerd, its state and the plugins' in namespaces of their own: the other benchmarks in
    # the sandbox keep theirs (the ruleset, /run/docker) to themselves.
    exec unshare --net --mount --propagation private -- env DOCKER_BENCH_INNER=1 "$0" "$build"
fi

# Fresh tmpfs in place of the sandbox's, and a sysfs of this network namespace (dockerd reads
# /sys/class/net); the cgroup tree stays.
for dir in /run/docker /run/containerd /etc/docker /var/lib/docker /var/lib/containerd /run/netns /run/netctl; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
mkdir /run/netctl/.cgroup && mount --rbind /sys/fs/cgroup /run/netctl/.cgroup
mount -t sysfs sysfs /sys && mount -n --move /run/netctl/.cgroup /sys/fs/cgroup && rmdir /run/netctl/.cgroup
ip link set lo up

work=$(mktemp -d)
export NETCTL_STATE_DIR="$work/state"
export DOCKER_CONFIG="$work/docker-config"
mkdir -p /run/docker/plugins "$DOCKER_CONFIG" "$work/bin"
# Copies of netctld and netctl-proxy (netctld starts the proxy beside itself): PSS shares a
# file's pages among every process that maps it, and other work on the machine may run the
# build's own binaries; the memory table counts only this benchmark's processes.
cp "$build/netctld" "$build/netctl-proxy" "$work/bin/"
plugin_pid= floor_pid=
stop_all() {
    "$helper" stop "$work/dockerd" >/dev/null 2>&1 || true
    for pid in $plugin_pid $floor_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $plugin_pid $floor_pid; do wait "$pid" 2>/dev/null || true; done
    ip netns del dbench-out 2>/dev/null || true
    rm -rf "$work"
}
trap stop_all EXIT

# Another namespace that reaches this one over a veth pair, for the check that -p works
# through DNAT too, not only through the proxies on loopback.
ip netns add dbench-out
ip link add dbout0 type veth peer name dbout1 netns dbench-out
ip addr add 192.0.2.1/24 dev dbout0 && ip link set dbout0 up
ip -n dbench-out addr add 192.0.2.2/24 dev dbout1 && ip -n dbench-out link set dbout1 up && ip -n dbench-out link set lo up
# Forwarding on before dockerd starts (this namespace's sysctl), so dockerd leaves the FORWARD
# policy alone and DNAT to netctl's bridge is not dropped by Docker's rules.
sysctl -qw net.ipv4.ip_forward=1

wait_socket() {  # SOCKET PID LOG
    for _ in $(seq 200); do [ -S "$1" ] && return; kill -0 "$2" 2>/dev/null || break; sleep 0.05; done
    echo "docker bench: nothing listens on $1: $(tail -3 "$3")" >&2
    exit 1
}
"$work/bin/netctld" plugin serve --verbose --socket /run/docker/plugins/netctl.sock \
    --docker-host "unix://$work/dockerd/docker.sock" 2>>"$work/netctld.log" &
plugin_pid=$!
wait_socket /run/docker/plugins/netctl.sock "$plugin_pid" "$work/netctld.log"
python3 "$here/floor_plugin.py" /run/docker/plugins/floor.sock 10.212.0.0/24 2>>"$work/floor.log" &
floor_pid=$!
wait_socket /run/docker/plugins/floor.sock "$floor_pid" "$work/floor.log"

DOCKERD_FLAGS="--iptables=true --bridge=" "$helper" start "$work/dockerd" || {
    rc=$?; [ $rc = 77 ] && echo "docker bench: skipped, docker.io or busybox-static is not installed" >&2; exit $rc; }

if ldd "$build/netctld" 2>/dev/null | grep -q libswiftCore; then runtime="the shared Swift runtime"; else runtime="the static Swift runtime"; fi
echo "netctld: $(basename "$(dirname "$build")")/$(basename "$build")/netctld, linked with $runtime"
echo
python3 "$here/bench.py" --host "unix://$work/dockerd/docker.sock" --netctld-pid "$plugin_pid" \
    --netctld-log "$work/netctld.log" --floor-log "$work/floor.log" --outside dbench-out \
    --rounds "${DOCKER_ROUNDS:-100}" --run-rounds "${DOCKER_RUN_ROUNDS:-100}" --ports "${DOCKER_PORTS:-50}"
