#!/usr/bin/env bash
# Runs the side-by-side benchmarks inside the sandbox (make bench calls this through
# scripts/sandbox.sh) and keeps each table under bench/results/.
# Usage: bench/run.sh BUILD_DIR [NAME...]   (names: netlink, proxy, firewall, cni, netctl, docker, dns, load, overlay; default: netlink)
set -euo pipefail
bin="${1:?usage: bench/run.sh BUILD_DIR [NAME...]}"
shift
results="$(dirname "$0")/results"
mkdir -p "$results"

netlink() { "$bin/bench-netlink" --iterations "${NETLINK_ITERATIONS:-200}"; }
proxy() { "$(dirname "$0")/proxy/run.sh" "$bin"; }
firewall() { "$bin/bench-firewall" "${FIREWALL_ITERATIONS:-1000}"; }
# CNI_CHAINS=bridge skips the portmap chain; the reference plugins come from /usr/lib/cni.
netctl() { "$(dirname "$0")/netctl/run.py" "$bin/netctl" "${NETCTL_ROUNDS:-100}" "${NETCTL_BESIDE:-0}"; }
# dockerd with Docker's bridge driver (iptables, docker-proxy) and netctld on it, side by side.
docker() { "$(dirname "$0")/docker/run.sh" "$bin"; }
# netctl-dns against Debian's aardvark-dns 1.4 serving the same names (DNS_REPS, DNS_ROUNDS...: bench/dns/bench.py).
dns() { "$(dirname "$0")/dns/run.sh" "$bin"; }
# 1 000 containers on one bridge, 10 000 published ports, 10 000-round soaks (LOAD_CONTAINERS,
# LOAD_PORTS, SOAK_ROUNDS, LOAD_NETCTLD...: bench/load/run.sh); in a sandbox of its own.
load() { "$(dirname "$0")/load/run.sh" "$bin"; }
# Two simulated hosts with agents and etcd (OVERLAY_SECONDS, OVERLAY_RUNS...: bench/overlay/run.sh).
overlay() { "$(dirname "$0")/overlay/run.sh" "$bin"; }
cni() { "$bin/bench-cni" --iterations "${CNI_ITERATIONS:-200}" --chains "${CNI_CHAINS:-bridge,portmap}"; }

for name in "${@:-netlink}"; do
    echo "== $name"
    "$name" | tee "$results/$name.md"
done
