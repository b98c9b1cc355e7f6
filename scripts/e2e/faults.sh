#!/usr/bin/env bash
# A failure at every step, driven by Tests/EndToEndTests/FaultInjectionTests.swift inside the
# test sandbox, in a network and mount namespace of its own. For N = 1, 2, ... the N-th netlink
# request, libnftables command or SQLite statement of one process fails (NETCTL_FAULT_AT, a
# switch of debug builds), until a run reaches no N-th operation. After each run the operation
# is whole or absent, and teardown (DEL, disconnect, gc, network rm) leaves nothing: no link,
# rule, proxy, lease or row. Prints "PASS <operation> (K runs)" or "FAIL <operation> N: why".
# cni-killed: the bridge plugin (with ipMasq) is killed at its N-th operation instead
# (NETCTL_FAULT_KILL), as by a crash or SIGKILL: nothing of its own undoes what it did, and the
# runtime's DEL must still leave nothing.
# Usage: faults.sh cni|cni-killed|connect|create PRODUCTS_DIR
set -uo pipefail
mode="$1" products="$(realpath "$2")"
if [ "${FAULTS_INNER:-}" != 1 ]; then
    exec unshare --net --mount --propagation private -- env FAULTS_INNER=1 "$0" "$@"
fi
for dir in /run/netns /run/netctl /etc/netns /var/lib/cni; do
    while mountpoint -q "$dir"; do umount -l "$dir"; done
    mkdir -p "$dir" && mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
ip link set lo up
sysctl -qw net.ipv4.ip_forward=1

work="$(mktemp -d /tmp/netctl-faults-XXXXXX)"
export NETCTL_STATE_DIR="$work/state"
trap 'rm -rf "$work"' EXIT
netctl="$products/netctl"
db="$NETCTL_STATE_DIR/netctl.db"

links() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v -e '^lo$' -e '^br-' | sort | tr '\n' ' '; }
proxies() { for pid in $(pgrep -x netctl-proxy); do [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/self/ns/net)" ] && echo "$pid"; done | wc -l; }
rows() { sqlite3 -cmd ".timeout 5000" "$db" "SELECT (SELECT count(*) FROM ipam_leases) || ' leases ' || (SELECT count(*) FROM endpoints) || ' endpoints ' || (SELECT count(*) FROM firewall_attachments) || ' firewall ' || (SELECT count(*) FROM networks) || ' networks'" 2>/dev/null; }
# Whatever a run left that the baseline has not: links, rules naming the port or the
# network's subnet, proxies, rows.
leftovers() {
    local found=""
    [ "$(links)" = "$base_links" ] || found="$found links:[$(links)]"
    nft list ruleset 2>/dev/null | grep -q -E "$1" && found="$found rules:$(nft list ruleset | grep -E "$1" | tr -s " \t" " " | head -3)"
    [ "$(proxies)" = 0 ] || found="$found proxies:$(proxies)"
    [ "$(rows)" = "$base_rows" ] || found="$found rows:[$(rows)]"
    echo "$found"
}

failures=0 runs=0
fail() { echo "FAIL $mode $1: $2"; failures=$((failures + 1)); }

case "$mode" in
cni | cni-killed)
    mkdir -p "$work/net.d" "$work/plugins"
    for plugin in bridge host-local portmap; do ln -s "$products/netctl-cni" "$work/plugins/$plugin"; done
    cat > "$work/net.d/faults.conflist" <<'CONF'
{"cniVersion":"1.1.0","name":"faults","plugins":[
 {"type":"bridge","bridge":"flt0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.157.0.0/24"}]]}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
CONF
    export NETCONFPATH="$work/net.d" CNI_PATH="$work/plugins" CNI_CACHE_DIR="$work/cache"
    ip netns add c1
    cnitool() { "$products/cnitool" "$1" faults /run/netns/c1 --container-id c1 \
        --capability-args '{"portMappings":[{"hostPort":18157,"containerPort":80,"protocol":"tcp"}]}'; }
    # The baseline: one whole ADD and DEL (the store exists from then on).
    cnitool add >/dev/null && cnitool del >/dev/null
    ip link del flt0 2>/dev/null
    base_links=$(links) base_rows=$(rows)
    plugins="bridge host-local portmap"
    [ "$mode" = cni ] || { plugins=bridge; export NETCTL_FAULT_KILL=1; }
    for plugin in $plugins; do
        for n in $(seq 1 400); do
            output=$(NETCTL_FAULT_IN=$plugin NETCTL_FAULT_AT=$n cnitool add 2>&1)
            status=$?
            runs=$((runs + 1))
            if [ $status = 0 ] && ! cnitool check >/dev/null 2>&1; then fail "$plugin@$n" "ADD succeeded but CHECK fails"; fi
            NETCTL_FAULT_AT= cnitool del >/dev/null 2>&1 || NETCTL_FAULT_AT= cnitool del >/dev/null 2>&1 || fail "$plugin@$n" "DEL fails twice"
            ip link del flt0 2>/dev/null
            left=$(leftovers "\\b18157\\b|10\\.157\\.|flt0")
            [ -z "$left" ] || { fail "$plugin@$n" "left$left"; break; }
            echo "$output" | grep -q "injected fault $n" || break
        done
    done
    ;;
connect)
    "$netctl" network create fnet --subnet 10.158.0.0/24 >/dev/null
    "$netctl" sandbox create fs1 >/dev/null
    base_links=$(links) base_rows=$(rows)
    for n in $(seq 1 600); do
        output=$(NETCTL_FAULT_IN=netctl NETCTL_FAULT_AT=$n "$netctl" connect fnet fs1 -p 18158:80 -p 127.0.0.1:18159:80 2>&1)
        status=$?
        runs=$((runs + 1))
        if [ $status = 0 ]; then
            # The ports by their "Port" field: a proxy PID can hold the digits too.
            listed=$("$netctl" port ls --format json 2>&1)
            [ "$(echo "$listed" | python3 -c 'import json, sys; print(sum("1815" in p["Port"] for p in json.load(sys.stdin)))' 2>&1)" = 2 ] || \
                fail "@$n" "connect succeeded without its ports: port ls said $(echo "$listed" | tr '\n' ' ' | cut -c1-300); connect said $(echo "$output" | tr '\n' ' ' | cut -c1-300)"
        else
            # Absent: no endpoint is listed (a row marked by a killed connect is not an endpoint).
            [ "$("$netctl" network inspect fnet --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["Containers"]))')" = 0 ] \
                || "$netctl" gc >/dev/null 2>&1
        fi
        "$netctl" disconnect fnet fs1 >/dev/null 2>&1 || fail "@$n" "disconnect fails"
        "$netctl" gc >/dev/null 2>&1
        left=$(leftovers '\b1815[89]\b')
        # The bridge stays with the network: the baseline has none until the first connect.
        base_links=$(links)
        [ -z "$left" ] || { fail "@$n" "left$left"; break; }
        echo "$output" | grep -q "injected fault $n" || break
    done
    ;;
create)
    "$netctl" network create warm --subnet 10.159.1.0/24 >/dev/null && "$netctl" network rm warm >/dev/null
    base_links=$(links) base_rows=$(rows)
    for n in $(seq 1 300); do
        output=$(NETCTL_FAULT_IN=netctl NETCTL_FAULT_AT=$n "$netctl" network create fnew --subnet 10.159.0.0/24 2>&1)
        status=$?
        runs=$((runs + 1))
        listed=$("$netctl" network ls --format json | grep -c '"fnew"')
        if [ $status = 0 ] && [ "$listed" != 1 ]; then fail "@$n" "create succeeded but the network is not listed"; fi
        if [ $status != 0 ] && [ "$listed" != 0 ]; then fail "@$n" "create failed but the network is listed"; fi
        "$netctl" network rm fnew >/dev/null 2>&1 || fail "@$n" "network rm fails"
        left=$(leftovers 10.159.0)
        [ -z "$left" ] || { fail "@$n" "left$left"; break; }
        echo "$output" | grep -q "injected fault $n" || break
    done
    ;;
*) echo "usage: faults.sh cni|cni-killed|connect|create PRODUCTS_DIR" >&2; exit 2 ;;
esac
[ $failures = 0 ] && echo "PASS $mode ($runs runs, each whole or absent, nothing left)"
