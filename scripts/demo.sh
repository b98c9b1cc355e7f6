#!/usr/bin/env bash
# The demo `make demo` runs inside the sandbox: netlink-demo builds a bridge and two namespaces
# joined to it by veth pairs, they ping each other, and everything is torn down again.
# `ip` here only shows what netctl built; netctl itself never execs it.
set -euo pipefail
bin="${1:-.build/release}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "netlink-demo up: bridge ndemo0, namespaces ndemo-a and ndemo-b"
"$bin/netlink-demo" up
trap '"$bin/netlink-demo" down >/dev/null 2>&1 || true' EXIT

step "what the kernel now has (ip -br, for show)"
ip -br link show type bridge
ip -br link show master ndemo0
for ns in ndemo-a ndemo-b; do
    echo "-- $ns"; ip -n "$ns" -br addr show dev eth0; ip -n "$ns" route
done

step "ndemo-a pings ndemo-b across the bridge"
ip netns exec ndemo-a ping -c 3 -i 0.2 10.213.0.3
step "ndemo-b pings ndemo-a"
ip netns exec ndemo-b ping -c 3 -i 0.2 10.213.0.2

step "netlink-demo down"
"$bin/netlink-demo" down
trap - EXIT
echo "links left: $(ip -br link | awk '{print $1}' | tr '\n' ' ')"
echo "namespaces left: $(ip netns list | wc -l)"
