#!/usr/bin/env bash
# Overlay benchmark (make bench BENCH=overlay): two simulated hosts (scripts/e2e/overlay-hosts.sh)
# with agents and etcd. Prints markdown tables:
#  - TCP throughput between containers on the two hosts through the overlay, against a VXLAN
#    pair configured by hand between the two host namespaces (the kernel's floor for the same
#    encapsulation) and the plain underlay, iperf3 for OVERLAY_SECONDS, median of OVERLAY_RUNS;
#  - time from `netctl connect` on h2 to reachable from h1 (OVERLAY_CONNECTS rounds);
#  - time for h1 to forget h2 after its agent is SIGKILLed (TTL OVERLAY_TTL, OVERLAY_KILLS rounds);
#  - kernel entries on h1 for h2 with OVERLAY_CONTAINERS containers on h2.
# Usage: bench/overlay/run.sh PRODUCTS_DIR
set -uo pipefail
products="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${OVERLAY_BENCH_INNER:-}" != 1 ]; then
    exec unshare --net --mount --propagation private -- env OVERLAY_BENCH_INNER=1 "$0" "$@"
fi
for dir in /run/netns /run/netctl /etc/netns /var/lib/netctl; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
ip link set lo up
seconds="${OVERLAY_SECONDS:-5}" runs="${OVERLAY_RUNS:-3}" connects="${OVERLAY_CONNECTS:-50}"
kills="${OVERLAY_KILLS:-3}" containers="${OVERLAY_CONTAINERS:-100}" ttl="${OVERLAY_TTL:-4}"
work="$(mktemp -d /tmp/netctl-overlay-bench-XXXXXX)"
data="$(mktemp -d /dev/shm/netctl-etcd-XXXXXX)"
source "$here/../../scripts/e2e/overlay-hosts.sh"
trap 'stop_everything; rm -rf "$work" "$data"' EXIT

underlay
add_host 1; add_host 2
start_etcd >/dev/null || { echo "etcd did not start" >&2; exit 1; }
start_agent 1; start_agent 2
hosts_up() { [ "$(etcdctl_ get --prefix /netctl/v1/hosts/ --keys-only | grep -c hosts/)" = 2 ]; }
within 10 hosts_up >/dev/null
on 1 "$netctl" network create --driver overlay --subnet 10.200.0.0/16 ov >/dev/null
within 5 on 2 "$netctl" network inspect ov >/dev/null
# Containers are namespaces made here (an `ip netns exec` of a host would take its mounts away), joined by path.
for n in 1 2; do ip netns add "c$n"; on "$n" "$netctl" connect ov "/run/netns/c$n" >/dev/null; done
a1="$(address_of c1)" a2="$(address_of c2)"
within 5 ping_ c1 "$a2" >/dev/null

# The floor: a VXLAN pair by hand between h1 and h2 (another VNI and port), no bridge, no veth.
for n in 1 2; do
    ip -n "h$n" link add vxhand type vxlan id 999 dstport 4790 local "10.99.0.$n" dev eth0 nolearning
    ip -n "h$n" addr add "10.250.0.$n/24" dev vxhand
    ip -n "h$n" link set vxhand up
done
for n in 1 2; do
    other=$((3 - n))
    mac="$(ip -n "h$other" -o link show vxhand | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)"
    ip -n "h$n" neigh replace "10.250.0.$other" lladdr "$mac" dev vxhand nud permanent
    bridge -n "h$n" fdb append "$mac" dev vxhand dst "10.99.0.$other" self permanent
done
# The hand pair's port is no overlay's: let it through the agents' VXLAN source filter.
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
p99() { sort -n | awk '{a[NR]=$1} END {i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print a[i]}'; }
throughput() { # CLIENT_NS SERVER_NS SERVER_ADDRESS → Gbit/s, median of $runs
    local server_ns="$2" address="$3" i
    for i in $(seq "$runs"); do
        ip netns exec "$server_ns" iperf3 -s -1 -B "$address" >/dev/null 2>&1 &
        local server=$!
        sleep 0.3
        ip netns exec "$1" iperf3 -c "$address" -t "$seconds" -J 2>/dev/null \
            | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
        wait "$server" 2>/dev/null
    done | median
}
overlay_gbps="$(throughput c1 c2 "$a2")"
hand_gbps="$(throughput h1 h2 10.250.0.2)"
underlay_gbps="$(throughput h1 h2 10.99.0.2)"
ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
echo "### Cross-host TCP throughput (iperf3, ${seconds} s, median of ${runs})"
echo
echo "| path | Gbit/s | overlay / this |"
echo "|---|---|---|"
echo "| netctl overlay (container → bridge → VXLAN → bridge → container) | $overlay_gbps | 1.00 |"
echo "| VXLAN pair by hand between the two hosts (the floor) | $hand_gbps | $(ratio "$overlay_gbps" "$hand_gbps") |"
echo "| plain underlay (veth and bridge, no encapsulation) | $underlay_gbps | $(ratio "$overlay_gbps" "$underlay_gbps") |"
echo

# connect on h2 → reachable from h1
: >"$work/connect.ms"
for i in $(seq "$connects"); do
    ip netns add "r$i"
    start=$(now_ms)
    on 2 "$netctl" connect ov "/run/netns/r$i" >/dev/null
    address="$(address_of "r$i")"
    until ip netns exec c1 ping -c1 -W0.05 "$address" >/dev/null 2>&1; do :; done
    echo $(( $(now_ms) - start )) >>"$work/connect.ms"
    on 2 "$netctl" disconnect ov "/run/netns/r$i" >/dev/null
    ip netns delete "r$i"
done
echo "### From connect on one host to reachable from another (${connects} rounds)"
echo
echo "| median ms | p99 ms |"
echo "|---|---|"
echo "| $(median <"$work/connect.ms") | $(p99 <"$work/connect.ms") |"
echo

# kernel entries for h2 on h1 with many containers on h2
for i in $(seq "$containers"); do ip netns add "m$i"; on 2 "$netctl" connect ov "/run/netns/m$i" >/dev/null; done
id="$(on 1 "$netctl" network inspect ov | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])')"
vx="vx-${id:0:12}"
neigh=$(ip -n h1 neigh show dev "$vx" nud permanent | grep -c lladdr)
fdb=$(bridge -n h1 fdb show dev "$vx" | grep -c ' dst ')
routes=$(ip -n h1 route show dev "$vx" | grep -c via)
echo "### Kernel entries on h1 for a remote host with $containers containers"
echo
echo "| neighbours | FDB entries | routes | total |"
echo "|---|---|---|---|"
echo "| $neigh | $fdb | $routes | $((neigh + fdb + routes)) |"
echo

# forgetting a dead host
routes_to_h2() { [ "$(ip -n h1 route show dev "$vx" | grep -c via)" = "$1" ]; }
: >"$work/forget.ms"
for i in $(seq "$kills"); do
    within 10 routes_to_h2 1 >/dev/null
    stop KILL "${agent_pid[2]}"
    within $((ttl + 10)) routes_to_h2 0 >>"$work/forget.ms"
    start_agent 2
done
echo "### Time to forget a host whose agent was SIGKILLed (TTL ${ttl} s, ${kills} rounds)"
echo
echo "| median ms | max ms | TTL ms | over the TTL (median) |"
echo "|---|---|---|---|"
m="$(median <"$work/forget.ms")"
echo "| $m | $(sort -n "$work/forget.ms" | tail -1) | $((ttl * 1000)) | $(python3 -c "print(int(float('$m')) - $ttl * 1000)") ms |"
