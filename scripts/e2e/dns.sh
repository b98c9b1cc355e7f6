#!/usr/bin/env bash
# End-to-end: netctl's resolver (netctl-dns), driven by Tests/EndToEndTests/DNSEndToEndTests.swift
# inside the test sandbox, in a network and mount namespace of its own (one resolver per
# namespace and store: the other tests keep theirs). An upstream on loopback answers every
# name with 192.0.2.53; /etc/resolv.conf names it (in this mount namespace only).
# Prints "PASS <step>" / "FAIL <step>".
# Usage: dns.sh netctl|podman PRODUCTS_DIR
set -uo pipefail
mode="$1" products="$(realpath "$2")"
here="$(cd "$(dirname "$0")" && pwd)"

if [ "${DNS_E2E_INNER:-}" != 1 ]; then
    exec unshare --net --mount --propagation private -- env DNS_E2E_INNER=1 "$0" "$@"
fi
for dir in /run/netns /run/netctl /etc/netns /var/lib/netctl /var/lib/cni; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
ip link set lo up

work="$(mktemp -d /tmp/netctl-dns-XXXXXX)"
export NETCTL_STATE_DIR="$work/state"
netctl="$products/netctl"
upstream_pid=
cleanup() {
    # KILL: the test runner hands its children SIGTERM blocked.
    [ -z "$upstream_pid" ] || kill -KILL "$upstream_pid" 2>/dev/null
    # The resolver exits when its store is gone.
    umount /etc/resolv.conf "$work/root" "$work/run" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

step() { if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: got '$2', want '$3'"; fi; }
q() { "$netctl" exec "$1" -- python3 "$here/dnsq.py" "${@:2}"; }

# The upstream: any A question gets 192.0.2.53, over UDP and TCP. It notes the source port of
# every UDP query in $work/ports, and answers a name starting with "spoofed." first with a
# datagram of another ID (not the answer: the resolver must wait for the real one).
python3 - "$work/upstream.ready" "$work/ports" <<'PY' &
import socket, struct, sys, threading
def answer(query):
    end = 12
    while query[end]: end += query[end] + 1
    question = query[12:end + 5]
    header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    return header + question + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton("192.0.2.53")
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 53))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 53)); tcp.listen(8)
def serve_tcp():
    while True:
        connection, _ = tcp.accept()
        length = struct.unpack(">H", connection.recv(2))[0]
        query = connection.recv(length)
        reply = answer(query)
        connection.sendall(struct.pack(">H", len(reply)) + reply)
        connection.close()
threading.Thread(target=serve_tcp, daemon=True).start()
open(sys.argv[1], "w").close()
while True:
    data, client = udp.recvfrom(4096)
    with open(sys.argv[2], "a") as ports:
        ports.write(f"{client[1]}\n")
    if data[13:20] == b"spoofed":
        udp.sendto(bytes([data[0] ^ 0xFF, data[1]]) + answer(data)[2:], client)
    udp.sendto(answer(data), client)
PY
upstream_pid=$!
for _ in $(seq 100); do [ -e "$work/upstream.ready" ] && break; sleep 0.05; done
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

case "$mode" in
netctl)
    "$netctl" network create web --subnet 10.60.0.0/24 --ipv6 --subnet fd60::/64 >/dev/null
    "$netctl" network create other --subnet 10.61.0.0/24 >/dev/null
    "$netctl" network create quiet --subnet 10.62.0.0/24 --disable-dns >/dev/null
    for sandbox in a b c q; do "$netctl" sandbox create "$sandbox" >/dev/null; done
    "$netctl" connect web a >/dev/null
    connected=$("$netctl" connect web b --alias db --alias db.internal)
    step "connect prints the resolver" "$(echo "$connected" | grep nameserver | tr '\n' ' ')" "nameserver 10.60.0.1 nameserver fd60::1 "
    "$netctl" connect other c >/dev/null
    step "a --disable-dns network prints none" "$("$netctl" connect quiet q | grep -c nameserver)" "0"
    step "inspect shows DNS" "$("$netctl" network inspect web quiet --format json | python3 -c 'import json,sys; print([n["DNSEnabled"] for n in json.load(sys.stdin)])')" "[True, False]"
    step "the sandbox's resolv.conf" "$(grep -c -e '^nameserver 10.60.0.1$' -e '^search netctl$' /etc/netns/a/resolv.conf)" "2"
    step "no resolv.conf without DNS" "$([ -e /etc/netns/q/resolv.conf ] && echo yes || echo no)" "no"

    step "by name (UDP)" "$(q a 10.60.0.1 b A)" "NOERROR 10.60.0.3"
    step "by name (TCP)" "$(q a 10.60.0.1 b A --tcp)" "NOERROR 10.60.0.3"
    step "by alias" "$(q a 10.60.0.1 db.netctl A)" "NOERROR 10.60.0.3"
    step "a dotted alias" "$(q a 10.60.0.1 db.internal A)" "NOERROR 10.60.0.3"
    step "AAAA on a dual-stack network, over IPv6" "$(q a fd60::1 b AAAA)" "NOERROR fd60::3"
    step "PTR" "$(q a 10.60.0.1 3.0.60.10.in-addr.arpa PTR | tr ' ' '\n' | sort | tr '\n' ' ')" "NOERROR b.netctl db.internal.netctl db.netctl "
    step "an unknown name in netctl's domain" "$(q a 10.60.0.1 nobody.netctl A)" "NXDOMAIN"
    step "other names go upstream (UDP)" "$(q a 10.60.0.1 example.org A)" "NOERROR 192.0.2.53"
    step "other names go upstream (TCP)" "$(q a 10.60.0.1 example.org A --tcp)" "NOERROR 192.0.2.53"
    : > "$work/ports"
    for i in $(seq 12); do q a 10.60.0.1 "n$i.example.org" A >/dev/null; done
    step "every forwarded query leaves from a port of its own" "$(sort -u "$work/ports" | wc -l)" "12"
    step "an upstream datagram with another ID is not the answer" "$(q a 10.60.0.1 spoofed.example.org A)" "NOERROR 192.0.2.53"
    # resolv.conf is read again within a second of a change. Nothing listens on 127.0.0.2:53.
    printf 'nameserver 127.0.0.2\nnameserver 127.0.0.1\n' > "$work/resolv.conf"; sleep 1.5
    step "an upstream that refuses is passed over" "$(q a 10.60.0.1 refused.example.org A)" "NOERROR 192.0.2.53"
    printf 'nameserver 127.0.0.2\n' > "$work/resolv.conf"; sleep 1.5
    step "no upstream answering is SERVFAIL" "$(q a 10.60.0.1 refused.example.org A)" "SERVFAIL"
    echo "nameserver 127.0.0.1" > "$work/resolv.conf"; sleep 1.5
    step "and the upstream is back" "$(q a 10.60.0.1 example.org A)" "NOERROR 192.0.2.53"
    step "another network's sandbox cannot resolve them" "$(q c 10.61.0.1 b.netctl A)" "NXDOMAIN"
    step "nor ask this network's resolver" "$(q c 10.60.0.1 b A)" "REFUSED"
    step "a network without DNS has no resolver" "$(q q 10.62.0.1 b A)" "timeout"
    # The host's listeners: loopback (the test's upstream) and the DNS networks' gateways only.
    "$netctl" sandbox create p >/dev/null && "$netctl" connect web p -p 18360:80 >/dev/null
    listeners=$(ss -H -ltun | awk '{print $5}' | sed -E 's/:[0-9]+$//; s/^\[//; s/\]$//; s/%.*//' | sort -u \
        | grep -v -x -e 127.0.0.1 -e ::1 -e 10.60.0.1 -e fd60::1 -e 10.61.0.1 | tr '\n' ' ')
    step "nothing listens on the host but loopback and the gateways" "$listeners" ""
    step "through netctl exec and resolv.conf" "$("$netctl" exec a -- busybox nslookup b 2>&1 | grep -c 'Address: 10.60.0.3')" "1"

    resolver() { pgrep -f -x ".*netctl-dns --state-dir $NETCTL_STATE_DIR" | head -1; }
    pid=$(resolver)
    for hex in 00 0102 "$(printf '%024x' 0)" 1234010000010000000000000c0c00010001 12348100000100000000000001610000010001 \
        123401000001000000000000c00c00010001 "$(head -c 600 /dev/urandom | od -An -tx1 | tr -d ' \n')"; do
        "$netctl" exec a -- python3 "$here/dnsq.py" 10.60.0.1 --raw "$hex" >/dev/null
    done
    step "malformed queries do not stop the resolver" "$(resolver) $(q a 10.60.0.1 b A)" "$pid NOERROR 10.60.0.3"

    "$netctl" disconnect web b
    gone=timeout
    for tick in $(seq 20); do [ "$(q a 10.60.0.1 b.netctl A)" = NXDOMAIN ] && { gone=$((tick * 50)); break; }; sleep 0.05; done
    step "a name is gone within a second of disconnect" "$([ "$gone" != timeout ] && [ "$gone" -le 1000 ] && echo yes)" "yes"
    address=$("$netctl" connect web b | awk 'NR == 1 { split($2, a, "/"); print a[1] }')
    step "and back after reconnect, at its new address" "$(q a 10.60.0.1 b A)" "NOERROR $address"

    for sandbox in a b c q p; do "$netctl" sandbox rm -f "$sandbox" >/dev/null; done
    "$netctl" network rm web other quiet >/dev/null
    step "sandbox rm takes its resolv.conf" "$(ls /etc/netns | wc -l)" "0"
    step "no name or network left" "$(sqlite3 "$NETCTL_STATE_DIR/netctl.db" 'SELECT (SELECT count(*) FROM dns_records) + (SELECT count(*) FROM dns_networks)')" "0"
    ;;
podman)
    # podman's cleanup runs the plugins from conmon, whose environment is not this one's: the
    # plugins use the default store (a tmpfs in this mount namespace).
    unset NETCTL_STATE_DIR
    db=/var/lib/netctl/netctl.db
    plugins="$work/plugins"
    mkdir -p "$plugins" "$work/rootfs/bin"
    for plugin in bridge host-local dnsname loopback portmap; do ln -s "$products/netctl-cni" "$plugins/$plugin"; done
    . "$here/podman-env.sh"
    podman_env "$work" "$plugins"
    cp /bin/busybox "$work/rootfs/bin/" && for tool in sh sleep nslookup; do ln -s busybox "$work/rootfs/bin/$tool"; done
    cat > "$work/net.d/e2edns.conflist" <<CONF
{"cniVersion":"1.0.0","name":"e2edns","plugins":[
 {"type":"bridge","bridge":"pdnse2e0","isGateway":true,"ipMasq":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.153.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"dnsname","capabilities":{"aliases":true}}]}
CONF
    export PATH="$products:$PATH"
    "${podman[@]}" run -d --name web --network e2edns --rootfs "$work/rootfs" /bin/sleep 300 >/dev/null || echo "FAIL podman run web"
    answer=$("${podman[@]}" run --rm --network e2edns --rootfs "$work/rootfs" /bin/nslookup web 2>&1)
    step "podman run --name web is reachable as web" "$(echo "$answer" | grep -c 'Address: 10.153.0.2')" "1"
    step "podman wrote netctl's resolver into the container" "$("${podman[@]}" exec web /bin/sh -c 'grep -c "nameserver 10.153.0.1" /etc/resolv.conf')" "1"
    "${podman[@]}" rm -f -t 0 web >/dev/null || echo "FAIL podman rm"
    # A --rm container is cleaned up by podman in the background, after it exits.
    for _ in $(seq 50); do
        [ "$(sqlite3 "$db" "SELECT count(*) FROM dns_records WHERE network = 'cni:e2edns'")" = 0 ] && break
        sleep 0.1
    done
    step "podman rm takes the name" "$(sqlite3 "$db" "SELECT count(*) FROM dns_records WHERE network = 'cni:e2edns'")" "0"
    ;;
*) echo "usage: dns.sh netctl|podman PRODUCTS_DIR" >&2; exit 2 ;;
esac
