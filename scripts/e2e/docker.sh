#!/usr/bin/env bash
# End-to-end: netctl as Docker's network and IPAM plugin under a real dockerd 20.10
# (Debian's docker.io), driven by Tests/EndToEndTests/DockerPluginTests.swift inside the test
# sandbox. Each mode runs in a network and mount namespace of its own: dockerd
# (--iptables=false --bridge=none, so only netctl publishes), containerd, netctld and an
# "outside" namespace joined to it by a veth pair. Prints "PASS <step>" / "FAIL <step>".
# Usage: docker.sh bridge|macvlan|restarts PRODUCTS_DIR
set -uo pipefail
mode="$1" products="$(realpath "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
helper="$here/../../Tests/Helpers/dockerd.sh"

if [ "${DOCKER_E2E_INNER:-}" != 1 ]; then
    # dockerd, its state and the plugin's, in namespaces of their own: other tests in the
    # sandbox keep theirs (the ruleset, /run/docker) to themselves.
    exec unshare --net --mount --propagation private -- env DOCKER_E2E_INNER=1 "$0" "$@"
fi

# Fresh tmpfs in place of the sandbox's (in this mount namespace only).
for dir in /run/docker /run/containerd /etc/docker /var/lib/docker /var/lib/containerd /run/netns /run/netctl; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
# A sysfs of this network namespace (dockerd reads /sys/class/net); the cgroup tree stays.
mkdir /run/netctl/.cgroup && mount --rbind /sys/fs/cgroup /run/netctl/.cgroup
mount -t sysfs sysfs /sys && mount -n --move /run/netctl/.cgroup /sys/fs/cgroup && rmdir /run/netctl/.cgroup
ip link set lo up

work="$(mktemp -d /tmp/netctl-docker-XXXXXX)"
export NETCTL_STATE_DIR="$work/state"
docker=(/usr/bin/docker -H "unix://$work/dockerd/docker.sock")
netctl="$products/netctl"
plugin_pid=
stop_all() {
    "$helper" stop "$work/dockerd" >/dev/null 2>&1
    [ -z "$plugin_pid" ] || { kill -TERM "$plugin_pid" 2>/dev/null; wait "$plugin_pid" 2>/dev/null; }
    rm -rf "$work"
}
trap stop_all EXIT

step() { if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: got '$2', want '$3'"; fi; }
fetch() { python3 -c "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode().strip())" "$1" 2>&1 | tail -1; }
# The port netctl chose for a container port, from `netctl port ls --format json`.
published_port() {
    "$netctl" port ls --format json | python3 -c "
import json, sys
for row in json.load(sys.stdin):
    host, _, rest = row['Port'].rpartition(':')
    if rest.split('/')[0] == sys.argv[1] and ':' not in host:
        print(host)
        break" "$1"
}
rows() { sqlite3 "$NETCTL_STATE_DIR/netctl.db" "SELECT (SELECT count(*) FROM ipam_leases) || ' leases, ' || (SELECT count(*) FROM docker_endpoints) || ' endpoints, ' || (SELECT count(*) FROM docker_networks) || ' docker networks, ' || (SELECT count(*) FROM docker_pools) || ' pools, ' || (SELECT count(*) FROM networks) || ' networks, ' || (SELECT count(*) FROM firewall_attachments) || ' firewall records'"; }
host_links() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v -e '^lo$' -e '^out0$' | sort | tr '\n' ' ' | sed 's/ $//'; }
proxies() { for pid in $(pgrep -x netctl-proxy); do [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/self/ns/net)" ] && echo "$pid"; done | wc -l; }

start_plugin() {
    "$products/netctld" plugin serve --socket /run/docker/plugins/netctl.sock --docker-host "unix://$work/dockerd/docker.sock" \
        2>>"$work/netctld.log" &
    plugin_pid=$!
    for _ in $(seq 100); do [ -S /run/docker/plugins/netctl.sock ] && return; sleep 0.05; done
    echo "FAIL netctld did not listen: $(tail -3 "$work/netctld.log")"
}
stop_plugin() { kill -TERM "$plugin_pid"; wait "$plugin_pid"; plugin_pid=; }

# The outside: a namespace that reaches this one over a veth pair, as a client on the LAN.
ip netns add outside
ip link add out0 type veth peer name out1 netns outside
ip addr add 192.0.2.1/24 dev out0 && ip link set out0 up
ip -n outside addr add 192.0.2.2/24 dev out1 && ip -n outside link set out1 up && ip -n outside link set lo up
sysctl -qw net.ipv4.ip_forward=1

start_plugin
"$helper" start "$work/dockerd" 2>"$work/start.err" || {
    rc=$?
    if [ $rc = 77 ]; then echo "SKIP docker.io is not installed"; else echo "FAIL dockerd starts: $(tail -5 "$work/start.err" | tr '\n' ' ')"; fi
    exit $rc
}

case "$mode" in
bridge)
    "${docker[@]}" network create -d netctl --ipam-driver netctl --subnet 10.77.0.0/24 --ip-range 10.77.0.128/25 web >/dev/null
    step "network create makes a netctl network" "$("$netctl" network ls --format json | python3 -c 'import json,sys; print([n["Docker"][0]["MadeForIt"] for n in json.load(sys.stdin)])')" "[True]"
    "${docker[@]}" run -d --name srv --network web -p 8080:80 -p 80 bb sh -c 'mkdir -p /www && echo hello-docker > /www/index.html && httpd -f -p 80 -h /www' >/dev/null
    sleep 0.5
    step "the container's address is from the ip range" "$("${docker[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' srv)" "10.77.0.128"
    step "-p 8080:80 from loopback" "$(fetch http://127.0.0.1:8080/)" "hello-docker"
    step "-p 8080:80 from an outside namespace" "$(ip netns exec outside python3 -c "import sys,urllib.request;print(urllib.request.urlopen('http://192.0.2.1:8080/',timeout=3).read().decode().strip())" 2>&1 | tail -1)" "hello-docker"
    chosen=$(published_port 80)
    step "-p 80 got a port from the ephemeral range" "$([ -n "$chosen" ] && [ "$chosen" -ge 32768 ] && echo yes)" "yes"
    step "the chosen port serves" "$(fetch "http://127.0.0.1:$chosen/")" "hello-docker"
    step "no docker-proxy and no docker_gwbridge" "$(pgrep -x docker-proxy | wc -l) $("${docker[@]}" network ls --format '{{.Name}}' | grep -c gwbridge)" "0 0"
    for _ in $(seq 40); do "$netctl" port ls | grep -q ' srv ' && break; sleep 0.25; done
    step "netctl port ls names Docker's container" "$("$netctl" port ls | grep -c ' srv ')" "2"
    step "by name through Docker's DNS" "$("${docker[@]}" run --rm --network web bb wget -qO- http://srv/ 2>&1)" "hello-docker"
    step "a requested --ip is honoured" "$("${docker[@]}" run --rm --network web --ip 10.77.0.9 bb sh -c "ip -o -4 addr show eth0 | awk '{print \$4}'")" "10.77.0.9/24"
    step "a taken --ip is refused naming its holder" "$("${docker[@]}" run --rm --network web --ip 10.77.0.128 bb true 2>&1 | grep -c 'already in use by Docker endpoint')" "1"
    step "a bad option is refused naming it" "$("${docker[@]}" network create -d netctl -o colour=blue bad 2>&1 | grep -c 'colour.*is not an option')" "1"
    "${docker[@]}" network create -d netctl --ipam-driver netctl --subnet 10.78.0.0/24 back >/dev/null
    "${docker[@]}" network connect back srv
    step "network connect adds eth1" "$("${docker[@]}" exec srv sh -c "ip -o -4 addr show eth1 | awk '{print \$4}'")" "10.78.0.2/24"
    step "reached on the second network" "$("${docker[@]}" run --rm --network back bb wget -qO- http://srv/ 2>&1)" "hello-docker"
    "${docker[@]}" network disconnect back srv
    step "network disconnect removes eth1" "$("${docker[@]}" exec srv sh -c 'ip -o link show | grep -c " eth1[:@]"')" "0"
    step "still published after disconnect" "$(fetch http://127.0.0.1:8080/)" "hello-docker"
    refusal=$("$netctl" network rm "$("$netctl" network ls --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Name"])')" 2>&1)
    step "netctl network rm refuses Docker's network" "$(echo "$refusal" | grep -c 'docker network rm')" "1"
    "${docker[@]}" rm -f srv >/dev/null
    step "docker rm unpublishes" "$(fetch http://127.0.0.1:8080/ | grep -c hello-docker)" "0"
    "${docker[@]}" network rm web back >/dev/null
    step "no link left" "$(host_links)" ""
    step "no rule left" "$(nft list ruleset | grep -c -e 10.77.0 -e 10.78.0 -e 8080 -e 'br-')" "0"
    step "no proxy left" "$(proxies)" "0"
    step "no lease or row left" "$(rows)" "0 leases, 0 endpoints, 0 docker networks, 0 pools, 0 networks, 0 firewall records"
    ;;
macvlan)
    # The parent: a veth whose peer is in the outside namespace, as a LAN.
    ip link add lan0 type veth peer name lan1 netns outside
    ip link set lan0 up && ip -n outside addr add 198.51.100.1/24 dev lan1 && ip -n outside link set lan1 up
    "${docker[@]}" network create -d netctl --ipam-driver netctl -o netctl.driver=macvlan -o parent=lan0 \
        --subnet 198.51.100.0/24 --gateway 198.51.100.1 lan >/dev/null
    "${docker[@]}" run -d --name m1 --network lan bb sleep 600 >/dev/null
    # A macvlan names its parent (lan0, in this namespace) as its link: eth0@ifINDEX.
    step "eth0 is a macvlan of the parent" "$("${docker[@]}" exec m1 ip -o link show eth0 | grep -o '@if[0-9]*')" "@if$(cat /sys/class/net/lan0/ifindex)"
    step "macvlan through the plugin reaches the LAN" "$("${docker[@]}" exec m1 sh -c 'ping -c1 -W2 198.51.100.1 >/dev/null && echo reached')" "reached"
    step "the LAN reaches the container" "$(ip netns exec outside ping -c1 -W2 "$("${docker[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' m1)" >/dev/null && echo reached)" "reached"
    "${docker[@]}" rm -f m1 >/dev/null
    "${docker[@]}" network rm lan >/dev/null
    ip link del lan0
    step "no link left" "$(host_links)" ""
    step "no lease or row left" "$(rows)" "0 leases, 0 endpoints, 0 docker networks, 0 pools, 0 networks, 0 firewall records"
    ;;
restarts)
    "${docker[@]}" network create -d netctl --ipam-driver netctl --subnet 10.79.0.0/24 web >/dev/null
    "${docker[@]}" run -d --name srv --network web -p 8081:80 bb sh -c 'mkdir -p /www && echo still-here > /www/index.html && httpd -f -p 80 -h /www' >/dev/null
    sleep 0.5
    stop_plugin
    step "published while the plugin is down" "$(fetch http://127.0.0.1:8081/)" "still-here"
    start_plugin
    "${docker[@]}" run -d --name two --network web bb sleep 600 >/dev/null
    step "after a plugin restart a new container joins" "$("${docker[@]}" exec two wget -qO- http://srv/ 2>&1)" "still-here"
    step "after a plugin restart the addresses differ" "$("${docker[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' two)" "10.79.0.3"
    "${docker[@]}" rm -f srv two >/dev/null
    "${docker[@]}" run -d --name back --restart always --network web -p 8083:80 bb sh -c 'mkdir -p /www && echo came-back > /www/index.html && httpd -f -p 80 -h /www' >/dev/null
    "$helper" restart "$work/dockerd"
    for _ in $(seq 40); do [ "$(fetch http://127.0.0.1:8083/)" = came-back ] && break; sleep 0.25; done
    step "after a dockerd restart a --restart always container is published again" "$(fetch http://127.0.0.1:8083/)" "came-back"
    "${docker[@]}" rm -f back >/dev/null
    "${docker[@]}" run -d --name three --network web -p 8082:80 bb sh -c 'mkdir -p /www && echo after-restart > /www/index.html && httpd -f -p 80 -h /www' >/dev/null
    sleep 0.5
    step "after a dockerd restart the network serves" "$(fetch http://127.0.0.1:8082/)" "after-restart"
    "${docker[@]}" rm -f three >/dev/null
    "${docker[@]}" network rm web >/dev/null
    step "no link left" "$(host_links)" ""
    step "no rule left" "$(nft list ruleset | grep -c -e 10.79.0 -e 808 -e 'br-')" "0"
    step "no proxy left" "$(proxies)" "0"
    step "no lease or row left" "$(rows)" "0 leases, 0 endpoints, 0 docker networks, 0 pools, 0 networks, 0 firewall records"
    ;;
*) echo "usage: docker.sh bridge|macvlan|restarts PRODUCTS_DIR" >&2; exit 2 ;;
esac
