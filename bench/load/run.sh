#!/usr/bin/env bash
# Load and soak: 1 000 containers on one bridge, 10 000 published ports, and 10 000 attach/detach
# rounds, through the CNI plugins (bridge, host-local, portmap, run by cnitool) and through
# netctl; prints Markdown tables (bench/load/load.py has the details).
#
#   bench/load/run.sh [BUILD_DIR]      (netctl, netctl-cni, cnitool, netctl-proxy, netctl-dns;
#                                       default .build-static/release)
#
# LOAD_CONTAINERS (1000) containers on one bridge, LOAD_SPAN (100) first and last compared;
# LOAD_PORTS (10000) published ports, LOAD_PORTS_PER (100) per container, LOAD_PORT_ROUNDS (50)
# publish + unpublish rounds at each count; SOAK_ROUNDS (10000) soak rounds per path, a
# snapshot every SOAK_EVERY (1000); LOAD_PARTS (scale,ports,soak) and LOAD_PATHS (cni,netctl)
# pick what runs; LOAD_NETCTLD=1 soaks netctld too (over its plugin socket, no dockerd).
# It re-executes itself inside scripts/sandbox.sh, in a sandbox of its own even when started in
# one (so the counts start from an empty ruleset and store): every link, rule and address it
# makes is in namespaces it made, and all of it goes with the sandbox.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/.build-static/release}" && pwd)

for product in netctl netctl-cni cnitool netctl-proxy netctl-dns; do
    if [ ! -x "$build/$product" ]; then
        echo "load bench: $build/$product is missing; build it first (for .build-static, as make bench and" >&2
        echo "make install do: NETCTL_STATIC_LINK=1 NETCTL_STATIC_LIBDIR=\$PWD/.build-static/link swift build -c release" >&2
        echo "--static-swift-stdlib --disable-local-rpath --scratch-path .build-static --product $product; or a plain" >&2
        echo "swift build -c release --product $product and pass .build/release)" >&2
        exit 1
    fi
done
if [ "${LOAD_NETCTLD:-0}" = 1 ] && [ ! -x "$build/netctld" ]; then
    echo "load bench: LOAD_NETCTLD=1 needs $build/netctld" >&2
    exit 1
fi
if [ "${LOAD_BENCH_INNER:-}" != 1 ]; then
    exec env -u NETCTL_SANDBOX LOAD_BENCH_INNER=1 "$root/scripts/sandbox.sh" "$0" "$build"
fi

# The binaries are copied into the sandbox's tmpfs first: a rebuild of BUILD_DIR while this runs
# (an hour at the full counts) then changes nothing that is measured, and no exec finds a binary
# half written.
bin=/run/netctl/load-bin
mkdir -p "$bin"
for product in netctl netctl-cni cnitool netctl-proxy netctl-dns netctld; do
    if [ -x "$build/$product" ]; then cp "$build/$product" "$bin/$product"; fi
done
args=(--build "$bin" --label "$build"
      --parts "${LOAD_PARTS:-scale,ports,soak}" --paths "${LOAD_PATHS:-cni,netctl}"
      --containers "${LOAD_CONTAINERS:-1000}" --span "${LOAD_SPAN:-100}"
      --ports "${LOAD_PORTS:-10000}" --ports-per "${LOAD_PORTS_PER:-100}" --port-rounds "${LOAD_PORT_ROUNDS:-50}"
      --soak-rounds "${SOAK_ROUNDS:-10000}" --soak-every "${SOAK_EVERY:-1000}")
if [ "${LOAD_NETCTLD:-0}" = 1 ]; then args+=(--netctld); fi
exec python3 "$here/load.py" "${args[@]}"
