#!/usr/bin/env bash
# The demo `make demo` runs inside the sandbox (its own network namespace plays the host):
# a bridge network, two sandboxes connected to it with `-p 8080:80` on one, HTTP served in
# that one and fetched from an "outside" namespace, from the host's loopback and from the
# other sandbox; then everything removed, shown gone, and checked: the demo fails if a
# network, sandbox, namespace, netctl nftables table or link is left.
# `ip` and `nft` here only set up the outside namespace and show what netctl did.
set -euo pipefail
bin="${1:-.build/release}"
netctl="$bin/netctl"
www="$(mktemp -d)"
echo "hello from sandbox web1" > "$www/index.html"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fetch() { python3 -c "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode().strip())" "$1"; }
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
    "$netctl" sandbox rm -f web1 web2 >/dev/null 2>&1 || true
    "$netctl" network rm -f demo >/dev/null 2>&1 || true
    ip link delete uplink0 2>/dev/null || true
    ip netns delete outside 2>/dev/null || true
    rm -rf "$www"
}
trap cleanup EXIT

links_before="$(ip -br link | awk '{print $1}' | sort | tr '\n' ' ')"

step "an \"outside\" host at 192.0.2.2, wired to this host's 192.0.2.1"
ip netns add outside
ip link add uplink0 type veth peer name eth0 netns outside
ip addr add 192.0.2.1/24 dev uplink0 && ip link set uplink0 up
ip -n outside addr add 192.0.2.2/24 dev eth0 && ip -n outside link set eth0 up && ip -n outside link set lo up

step "netctl network create demo --subnet 10.88.0.0/24"
"$netctl" network create demo --subnet 10.88.0.0/24 -o com.docker.network.bridge.name=demo0
step "netctl sandbox create web1; netctl sandbox create web2"
"$netctl" sandbox create web1
"$netctl" sandbox create web2
step "netctl connect demo web1 -p 8080:80; netctl connect demo web2"
"$netctl" connect demo web1 -p 8080:80
"$netctl" connect demo web2

step "netctl exec web1 -- busybox httpd -p 80"
"$netctl" exec web1 -- busybox httpd -f -p 80 -h "$www" &
server=$!
for _ in $(seq 30); do fetch http://127.0.0.1:8080/ >/dev/null 2>&1 && break; sleep 0.1; done

step "fetch from the outside namespace: http://192.0.2.1:8080/"
ip netns exec outside python3 -c "import urllib.request;print(urllib.request.urlopen('http://192.0.2.1:8080/',timeout=3).read().decode().strip())"
step "fetch from the host's loopback: http://127.0.0.1:8080/ (the userland proxy)"
fetch http://127.0.0.1:8080/
step "fetch from sandbox web2 through the host: http://10.88.0.1:8080/"
"$netctl" exec web2 -- python3 -c "import urllib.request;print(urllib.request.urlopen('http://10.88.0.1:8080/',timeout=3).read().decode().strip())"

step "netctl exec web2 -- nslookup web1   (netctl-dns answers at the gateway, 10.88.0.1)"
"$netctl" exec web2 -- busybox nslookup web1

step "netctl network ls"
"$netctl" network ls
step "netctl network inspect demo --format table"
"$netctl" network inspect demo --format table
step "netctl port ls"
"$netctl" port ls

step "remove everything"
kill "$server"; wait "$server" 2>/dev/null || true; server=
"$netctl" disconnect demo web1
"$netctl" disconnect demo web2
"$netctl" sandbox rm web1 web2
"$netctl" network rm demo
"$netctl" network rm demo   # again: success
ip link delete uplink0      # the demo's own wiring (its peer goes with it)
ip netns delete outside

step "what is left"
networks="$("$netctl" network ls --format json | tr -d ' \n')"
sandboxes="$("$netctl" sandbox ls --format json | tr -d ' \n')"
links="$(ip -br link | awk '{print $1}' | sort | tr '\n' ' ')"
namespaces="$(ip netns list | awk '{print $1}' | tr '\n' ' ')"
tables="$(nft list tables | grep -w netctl | tr '\n' ' ' || true)"
echo "networks: $networks"
echo "sandboxes: $sandboxes"
echo "links: $links"
echo "namespaces: ${namespaces:-none}"
echo "netctl nftables tables: ${tables:-none}"
left=()
[ "$networks" = "[]" ] || left+=("networks $networks")
[ "$sandboxes" = "[]" ] || left+=("sandboxes $sandboxes")
[ "$links" = "$links_before" ] || left+=("links $links (before: $links_before)")
[ -z "$namespaces" ] || left+=("namespaces $namespaces")
[ -z "$tables" ] || left+=("nftables tables $tables")
if [ "${#left[@]}" -gt 0 ]; then
    printf 'demo: left behind: %s\n' "${left[@]}" >&2
    exit 1
fi
echo "nothing left"
