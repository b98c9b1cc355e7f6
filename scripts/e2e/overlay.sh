#!/usr/bin/env bash
# End-to-end: overlay networks across simulated hosts, driven by
# Tests/EndToEndTests/OverlayEndToEndTests.swift inside the test sandbox, in a network and mount
# namespace of its own. The sandbox's root namespace is the underlay: a bridge (ubr0,
# 10.99.0.254/24) with hosts h1..h4 (network namespaces, 10.99.0.N on their eth0), each with its
# own NETCTL_STATE_DIR and `netctld agent`. etcd (Debian's etcd-server) listens on a unix socket
# in the test directory, its data on tmpfs; a second etcd with TLS client certificates listens
# on the underlay. Containers are namespaces c1..c5 attached on their hosts.
# Prints "PASS <step>" / "FAIL <step>".
# Usage: overlay.sh PRODUCTS_DIR
set -uo pipefail
products="$(realpath "$1")"

if [ "${OVERLAY_E2E_INNER:-}" != 1 ]; then
    exec unshare --net --mount --propagation private -- env OVERLAY_E2E_INNER=1 "$0" "$@"
fi
for dir in /run/netns /run/netctl /etc/netns /var/lib/netctl /var/lib/cni; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
ip link set lo up

work="$(mktemp -d /tmp/netctl-overlay-XXXXXX)"
data="$(mktemp -d /dev/shm/netctl-etcd-XXXXXX)"
source "$(dirname "$0")/overlay-hosts.sh"
tls_pid=
cleanup() {
    kill -KILL $tls_pid 2>/dev/null
    stop_everything
    # OVERLAY_E2E_KEEP=1 keeps the stores and the agents' logs for a look afterwards.
    if [ "${OVERLAY_E2E_KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
    rm -rf "$data"
}
trap cleanup EXIT

step() { if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: got '$2', want '$3'"; fi; }

# --- the underlay and etcd
underlay
for n in 1 2 3 4; do add_host "$n"; done
start_etcd >/dev/null || { echo "FAIL etcd starts: $(tail -5 "$work/etcd.log")"; exit 0; }

# --- without an agent an overlay command says what is missing
out="$(on 1 "$netctl" network create --driver overlay --subnet 10.200.0.0/16 ov1 2>&1)"
step "refused without an agent, saying so" "$(grep -c 'netctl agent --store' <<<"$out")" "1"

for n in 1 2 3; do start_agent "$n"; done
hosts_up() { [ "$(etcdctl_ get --prefix /netctl/v1/hosts/ --keys-only | grep -c hosts/)" = "$1" ]; }
step "three agents hold leases and announce their hosts" "$(ok 10 hosts_up 3)" "yes"

# --- a network made on h1 is on every host within a second or two
on 1 "$netctl" network create --driver overlay --subnet 10.200.0.0/16 ov1 >/dev/null
step "network create on h1" "$?" "0"
listed() { on "$1" "$netctl" network ls | grep -q " ov1 .*overlay"; }
step "ov1 appears on h2 within 2 s" "$(ok 2 listed 2)" "yes"
step "ov1 appears on h3 within 2 s" "$(ok 2 listed 3)" "yes"
# A container is a namespace the runtime made (here, in the underlay's mount namespace: one
# `ip netns exec` makes for a host would take its mounts away), joined by path.
for n in 1 2 3; do
    ip netns add "c$n"
    on "$n" "$netctl" connect ov1 "/run/netns/c$n" >/dev/null || echo "FAIL connect c$n on h$n"
done
a1="$(address_of c1)" a2="$(address_of c2)" a3="$(address_of c3)"
shares_differ() { [ "${a1%.*}" != "${a2%.*}" ] && [ "${a2%.*}" != "${a3%.*}" ] && [ "${a1%.*}" != "${a3%.*}" ]; }
step "each host hands out addresses from its own share" "$(shares_differ && echo yes)" "yes"
step "c1 (h1) reaches c3 (h3)" "$(ok 3 ping_ c1 "$a3")" "yes"
step "c3 (h3) reaches c1 (h1)" "$(ok 3 ping_ c3 "$a1")" "yes"
step "c2 (h2) reaches c1 (h1)" "$(ok 3 ping_ c2 "$a1")" "yes"

# The server sees the client's own address: no NAT inside the overlay.
ip netns exec c3 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7000)); s.listen(1)
open(sys.argv[1], "w").close()
c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()' "$work/server.ready" &
within 5 test -e "$work/server.ready" >/dev/null
seen="$(ip netns exec c1 python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1],7000),3); print(s.recv(64).decode())' "$a3")"
step "TCP across hosts keeps the source address" "$seen" "$a1"

inspected="$(on 2 "$netctl" network inspect ov1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["Hosts"]))')"
step "network inspect on h2 shows the three hosts' shares" "$inspected" "3"
id="$(on 1 "$netctl" network inspect ov1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])')"
vx="vx-${id:0:12}"
entries() { echo "$(ip -n "h$1" neigh show dev "$vx" nud permanent | grep -c lladdr) $(bridge -n "h$1" fdb show dev "$vx" | grep -c ' dst ') $(ip -n "h$1" route show dev "$vx" | grep -c via)"; }
step "h1 has one neighbour, FDB entry and route per other host" "$(entries 1)" "2 2 2"
# Isolated from the host's other networks like any two networks, through the tunnel too.
on 1 "$netctl" network create --subnet 10.77.0.0/24 --disable-dns local1 >/dev/null
ip netns add cb1
on 1 "$netctl" connect local1 /run/netns/cb1 >/dev/null
ab1="$(address_of cb1)"
step "a bridge network's sandbox cannot reach the overlay's on its host" "$(ok 2 ping_ cb1 "$a1")" "no"
step "the overlay's sandbox cannot reach a bridge network's on its host" "$(ok 2 ping_ c1 "$ab1")" "no"
ip -n h3 route add 10.77.0.0/24 via "${a1%.*}.0" dev "$vx" onlink
step "nothing from the tunnel reaches another network of the host" "$(ok 2 ping_ c3 "$ab1")" "no"
ip -n h3 route del 10.77.0.0/24
on 1 "$netctl" disconnect local1 /run/netns/cb1 >/dev/null
on 1 "$netctl" network rm local1 >/dev/null
step "VXLAN device MTU is the underlay's minus 50" "$(ip -n h1 -o link show "$vx" | grep -o 'mtu [0-9]*')" "mtu 1450"
step "container MTU follows" "$(ip -n c1 -o link show eth0 | grep -o 'mtu [0-9]*')" "mtu 1450"
step "no multicast group on the VXLAN device" "$(ip -n h1 -d link show "$vx" | grep -oE 'vxlan id .*' | grep -c ' group ')" "0"

# --- VXLAN from an address no agent announced is dropped (h4 has no agent yet)
vni="$(on 1 "$netctl" network inspect ov1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Options"]["vni"])')"
mac1="$(ip -n h1 -o link show "$vx" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)"
share1="${a1%.*}.0"
rx() { ip -n h1 -s -j link show "$vx" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
ip -n h4 link add rogue type vxlan id "$vni" dstport 4789 local 10.99.0.4 dev eth0 nolearning
ip -n h4 link set rogue address 02:00:00:00:00:44 up
ip -n h4 addr add 10.200.254.0/32 dev rogue
ip -n h4 neigh replace "$share1" lladdr "$mac1" dev rogue nud permanent
bridge -n h4 fdb append "$mac1" dev rogue dst 10.99.0.1 self permanent
ip -n h4 route replace "${share1%.*}.0/24" via "$share1" dev rogue onlink
before="$(rx)"
ip netns exec h4 ping -c3 -i0.2 -W1 "$a1" >/dev/null 2>&1
after="$(rx)"
step "VXLAN from an unknown address is dropped" "$((after - before))" "0"
ip -n h4 link del rogue

# --- a host that joins later is reached; its underlay has a smaller MTU, and its overlay follows
ip link set u4 mtu 1400
ip -n h4 link set eth0 mtu 1400
start_agent 4
ip netns add c4
joined() { on 4 "$netctl" connect ov1 /run/netns/c4; }
within 5 joined >/dev/null
a4="$(address_of c4)"
step "c1 reaches c4 on a host that joined later" "$(ok 3 ping_ c1 "$a4")" "yes"
step "h4's VXLAN device has its underlay's MTU minus 50" "$(ip -n h4 -o link show "$vx" | grep -o 'mtu [0-9]*')" "mtu 1350"
step "and so has c4" "$(ip -n c4 -o link show eth0 | grep -o 'mtu [0-9]*')" "mtu 1350"

# --- CNI: the overlay plugin type on h2 (the flannel CNI pattern), beside netctl's endpoints
mkdir -p "$work/cni/bin" "$work/cni/net.d"
ln -s "$products/netctl-cni" "$work/cni/bin/overlay"
cat >"$work/cni/net.d/ov1.conflist" <<EOF
{"cniVersion": "1.1.0", "name": "ov1-cni", "plugins": [{"type": "overlay", "network": "ov1"}]}
EOF
ip netns add cni5
cni() { on 2 env CNI_PATH="$work/cni/bin" NETCONFPATH="$work/cni/net.d" "$products/cnitool" "$@"; }
cni add ov1-cni /run/netns/cni5 >"$work/cni-add.json" 2>&1
step "CNI overlay ADD on h2" "$?" "0"
a5="$(ip -n cni5 -4 -o addr show | awk '$2 != "lo" {print $4}' | cut -d/ -f1)"
step "CNI endpoint is in h2's share" "${a5%.*}" "${a2%.*}"
step "c1 (h1) reaches the CNI endpoint on h2" "$(ok 3 ping_ c1 "$a5")" "yes"
cni del ov1-cni /run/netns/cni5 >/dev/null 2>&1
step "CNI overlay DEL leaves no lease" "$(sqlite3 "$work/h2/netctl.db" "SELECT count(*) FROM ipam_leases WHERE container_id LIKE 'cni:%'")" "0"

# --- an agent killed with SIGKILL is forgotten after its TTL, and its share goes
kill -KILL "${agent_pid[2]}"
gone2() { [ "$(entries 1)" = "2 2 2" ] && ! ip -n h1 route show dev "$vx" | grep -q "${a2%.*}.0/"; }
took="$(within $((ttl + 3)) gone2)"
step "h1 forgets the killed h2 within TTL + 1 s" "$( [ "$took" != timeout ] && (( took <= (ttl + 1) * 1000 )) && echo yes)" "yes"
step "h2's share key is gone from etcd" "$(etcdctl_ get --prefix /netctl/v1/networks/ov1/subnets/ --print-value-only | grep -c '"h2"\|HostName":"h2')" "0"
echo "forget-time $took ms (TTL $ttl s)" >&2

# --- an agent restarted within the TTL keeps its share; its containers keep working
share3="$(etcdctl_ get --prefix /netctl/v1/networks/ov1/subnets/ --keys-only | grep -c "${a3%.*}.0-24")"
kill -KILL "${agent_pid[3]}"
sleep 1
start_agent 3
sleep 1
step "h3 restarted within the TTL keeps its share" "$(etcdctl_ get --prefix /netctl/v1/networks/ov1/subnets/ --keys-only | grep -c "${a3%.*}.0-24")" "$share3"
sleep "$ttl"
step "c1 still reaches c3 after h3's restart and a TTL" "$(ok 3 ping_ c1 "$a3")" "yes"
step "h3's agent reused its lease" "$(grep -c 'kept lease' "$work/agent-h3.log")" "1"

# --- h2 comes back after it was forgotten: it takes its old share again
start_agent 2
step "h2 back: c1 reaches c2 again" "$(ok 5 ping_ c1 "$a2")" "yes"

# --- an etcd restart loses nothing; changes after it reach every host
stop TERM "$etcd_pid"
start_etcd >/dev/null
on 3 "$netctl" network create --driver overlay --subnet 10.201.0.0/16 ov2 >/dev/null
step "network create after an etcd restart" "$?" "0"
listed2() { on "$1" "$netctl" network ls | grep -q " ov2 "; }
step "ov2 reaches h1 after the etcd restart" "$(ok 5 listed2 1)" "yes"
step "ov1 survived the etcd restart" "$(etcdctl_ get /netctl/v1/networks/ov1/config --print-value-only | grep -c 10.200.0.0/16)" "1"
step "c2 still reaches c3 after the etcd restart" "$(ok 3 ping_ c2 "$a3")" "yes"

# --- a compacted watch: h4's agent is frozen across an etcd restart (its watch breaks), ov2
# is removed and the history compacted meanwhile, and the agent resumes from a compacted revision
kill -STOP "${agent_pid[4]}"
stop TERM "$etcd_pid"
start_etcd >/dev/null
on 1 "$netctl" network rm ov2 >/dev/null 2>&1
# A write after it: compacting exactly at a deletion's revision drops its tombstone, and a
# watch resuming there would see nothing (etcd's rule; the agent's periodic re-list covers it).
etcdctl_ put /elsewhere/marker x >/dev/null
revision="$(etcdctl_ endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')"
etcdctl_ compact "$revision" >/dev/null
kill -CONT "${agent_pid[4]}"
unlisted2() { ! on 4 "$netctl" network ls | grep -q " ov2 "; }
step "h4 re-lists after a compacted watch and drops ov2" "$(ok 10 unlisted2)" "yes"
step "h4's agent said the watch was compacted" "$(grep -c 'compacted' "$work/agent-h4.log" | awk '{print ($1 > 0)}')" "1"

# --- network rm is refused while any host has endpoints, naming them; then gone everywhere
out="$(on 1 "$netctl" network rm ov1 2>&1)"
step "network rm refused while hosts have endpoints" "$(grep -c 'h3' <<<"$out")" "1"
for n in 1 2 3 4; do on "$n" "$netctl" disconnect ov1 "/run/netns/c$n" >/dev/null; done
sleep 1.5 # the agents publish their endpoint counts every second
on 1 "$netctl" network rm ov1
step "network rm once no host has endpoints" "$?" "0"
leftovers() {
    local count=0
    for n in 1 2 3 4; do
        count=$((count + $(ip -n "h$n" -o link show | grep -c "$vx\|br-${id:0:12}")))
        count=$((count + $(ip -n "h$n" route | grep -c 10.200.)))
        count=$((count + $(ip -n "h$n" neigh show nud permanent | grep -c 10.200.)))
        count=$((count + $(on "$n" "$netctl" network ls | grep -c ov1)))
        count=$((count + $(ip netns exec "h$n" nft list table inet netctl 2>/dev/null | grep -c "$vx")))
    done
    echo "$count"
}
none_left() { [ "$(leftovers)" = 0 ]; }
within 5 none_left >/dev/null
step "no link, route, neighbour, rule or record of ov1 is left on any host" "$(leftovers)" "0"
step "no key of ov1 is left in etcd" "$(etcdctl_ get --prefix /netctl/v1/networks/ov1 --keys-only | grep -c .)" "0"
step "no VNI claim is left in etcd" "$(etcdctl_ get --prefix /netctl/v1/vni/ --keys-only | grep -c .)" "0"
peers_left() { ip netns exec h1 nft list table inet netctl 2>/dev/null | grep -A3 'vxlan_peers4' | grep -c 'elements'; }
step "no allowed VXLAN source is left" "$(peers_left)" "0"

# --- SIGTERM stops an agent (its lease stays for the TTL)
kill -TERM "${agent_pid[1]}"
stopped() { ! kill -0 "${agent_pid[1]}" 2>/dev/null; }
step "an agent stops on SIGTERM" "$(ok 5 stopped)" "yes"
step "and says its lease stays" "$(grep -c 'the lease stays' "$work/agent-h1.log")" "1"

# --- TLS to etcd with a CA and client certificates made here
tls="$work/tls"; mkdir -p "$tls"
(cd "$tls" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=etcd 2>/dev/null &&
    printf 'subjectAltName=IP:10.99.0.254\n' >server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile server.ext 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=agent 2>/dev/null &&
    printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 -extfile client.ext 2>/dev/null)
tls_data="$(mktemp -d /dev/shm/netctl-etcd-tls-XXXXXX)"
(cd "$work" && exec etcd --name tls --data-dir "$tls_data" --listen-client-urls https://10.99.0.254:2379 \
    --advertise-client-urls https://10.99.0.254:2379 --listen-peer-urls http://127.0.0.1:2390 \
    --initial-advertise-peer-urls http://127.0.0.1:2390 --initial-cluster tls=http://127.0.0.1:2390 \
    --cert-file "$tls/server.pem" --key-file "$tls/server.key" --trusted-ca-file "$tls/ca.pem" --client-cert-auth \
    --logger zap --log-level error >>"$work/etcd-tls.log" 2>&1) &
tls_pid=$!
tlsctl() { ETCDCTL_API=3 etcdctl --endpoints https://10.99.0.254:2379 --cacert "$tls/ca.pem" --cert "$tls/client.pem" --key "$tls/client.key" "$@"; }
within 10 tlsctl endpoint health >/dev/null
mkdir -p "$work/h1tls"
ip netns exec h1 env NETCTL_STATE_DIR="$work/h1tls" "$netctld" agent --store https://10.99.0.254:2379 --advertise 10.99.0.1 \
    --store-cacert "$tls/ca.pem" --store-cert "$tls/client.pem" --store-key "$tls/client.key" --lease-ttl "$ttl" \
    --host-name h1tls >>"$work/agent-h1tls.log" 2>&1 &
agent_pid[tls]=$!
tls_host() { [ "$(tlsctl get --prefix /netctl/v1/hosts/ --keys-only | grep -c hosts/)" = 1 ]; }
step "an agent with client certificates joins over TLS" "$(ok 10 tls_host)" "yes"
ip netns exec h1 env NETCTL_STATE_DIR="$work/h1tls" "$netctl" network create --driver overlay --subnet 10.210.0.0/16 ovtls >/dev/null 2>&1
step "network create through the TLS store" "$(tlsctl get /netctl/v1/networks/ovtls/config --print-value-only | grep -c 10.210.0.0/16)" "1"
ip netns exec h1 env NETCTL_STATE_DIR="$work/h1tls" "$netctl" network rm ovtls >/dev/null 2>&1
mkdir -p "$work/h1nocert"
timeout 10 ip netns exec h1 env NETCTL_STATE_DIR="$work/h1nocert" "$netctld" agent --store https://10.99.0.254:2379 \
    --advertise 10.99.0.1 --store-cacert "$tls/ca.pem" >"$work/agent-nocert.log" 2>&1
step "an agent without a client certificate is refused, and says so" "$(grep -ci 'certificate\|tls\|ssl' "$work/agent-nocert.log" | awk '{print ($1 > 0)}')" "1"
rm -rf "$tls_data"
