#!/usr/bin/env bash
# Name resolution benchmark: netctl-dns against aardvark-dns 1.4 (Debian's aardvark-dns, as
# podman's netavark runs it), serving the same names side by side in one run.
#
#   bench/dns/run.sh [BUILD_DIR]     (netctl and netctl-dns; default .build-static/release)
#
# bench.py says what is measured. Traffic stays in namespaces this script makes: it
# re-executes itself inside scripts/sandbox.sh and then in a network and mount namespace of
# its own (the stand-in upstreams answer on 127.0.0.1:53 there, named by a resolv.conf bound
# over /etc/resolv.conf in that mount namespace only). The load generator is C (dnsload.c),
# built here with cc. Needs root; installs aardvark-dns (and dnsperf, for a cross-check) from
# Debian when they are missing and it is still outside the sandbox.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/.build-static/release}" && pwd)

for product in netctl netctl-dns; do
    if [ ! -x "$build/$product" ]; then
        echo "dns bench: $build/$product is missing; build it: swift build -c release --product $product" >&2
        exit 1
    fi
done

if [ "${NETCTL_SANDBOX:-}" != 1 ]; then
    # The sandbox has no network: install the peers first.
    missing=()
    [ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns)
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    exec "$root/scripts/sandbox.sh" "$0" "$build"
fi
if [ ! -x /usr/lib/podman/aardvark-dns ]; then
    echo "dns bench: aardvark-dns is missing (apt-get install aardvark-dns; run.sh does it when started outside the sandbox)" >&2
    exit 1
fi
if [ "${DNS_BENCH_INNER:-}" != 1 ]; then
    # A network and mount namespace of its own: the other benchmarks keep their loopback and
    # resolv.conf to themselves.
    exec unshare --net --mount --propagation private -- env DNS_BENCH_INNER=1 "$0" "$build"
fi

for dir in /run/netns /run/netctl /etc/netns; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
if mountpoint -q /sys/fs/cgroup; then
    mkdir /run/netctl/.cgroup && mount --rbind /sys/fs/cgroup /run/netctl/.cgroup
    mount -t sysfs sysfs /sys && mount -n --move /run/netctl/.cgroup /sys/fs/cgroup && rmdir /run/netctl/.cgroup
else
    mount -t sysfs sysfs /sys
fi
ip link set lo up

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
cc -O2 -Wall -o "$tools/dnsload" "$here/dnsload.c"
# DNS_NICE (e.g. -10) runs everything of the benchmark, both resolvers alike, at that priority: on
# a machine shared with other work.
${DNS_NICE:+nice -n "$DNS_NICE"} python3 "$here/bench.py" "$build/netctl" "$tools/dnsload"
