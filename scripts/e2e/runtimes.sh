#!/usr/bin/env bash
# End-to-end with real runtimes, driven by Tests/EndToEndTests/RuntimeTests.swift inside the
# test sandbox: podman (CNI backend) with our plugins publishing -p 8180:80, crun running an
# OCI bundle that joins a netns our plugins configured, and crun in a netctl sandbox with -p.
# Prints "PASS <step>" / "FAIL <step>".
# Usage: runtimes.sh podman|crun|netctl-crun PLUGIN_DIR [NETCTL]
set -uo pipefail
mode="$1" plugins="$2" netctl="${3:-netctl}"
work="$(mktemp -d /tmp/netctl-e2e-XXXXXX)"
trap 'umount "$work/root" "$work/run" 2>/dev/null; rm -rf "$work"' EXIT

# shellcheck source=scripts/e2e/podman-env.sh
. "$(dirname "$0")/podman-env.sh"

fetch() { python3 -c "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode().strip())" "$1" 2>/dev/null; }
step() { if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: got '$2', want '$3'"; fi; }

# A busybox root file system: no image pull.
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/www" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
cp /bin/busybox "$rootfs/bin/"
for tool in sh httpd sleep; do ln -s busybox "$rootfs/bin/$tool"; done
echo "hello from $mode" > "$rootfs/www/index.html"

# The runtimes need these, in this private mount namespace only.
mount -t tmpfs tmpfs /dev/shm
umount /sys/fs/cgroup/unified 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1

# crun keeps its container state under $work, not in the machine's /run/crun.
crun() { command crun --root "$work/crun" "$@"; }
# Runs the bundle detached; a failure prints crun's own words. The container keeps the
# output it inherits, so that is a file: a pipe would never reach its end.
crun_run() {
    crun --cgroup-manager=disabled run -d --bundle "$bundle" "$1" >"$work/crun.log" 2>&1 \
        || echo "FAIL crun run: $(tr '\n' ' ' < "$work/crun.log")"
}

# An OCI bundle running busybox httpd on port 80 in the network namespace at $1.
make_bundle() {
    bundle="$work/bundle"
    mkdir -p "$bundle" && ln -s "$rootfs" "$bundle/rootfs"
    (cd "$bundle" && crun spec)
    python3 - "$bundle/config.json" "$1" <<'PY'
import json, sys
path, netns = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] not in ("network", "cgroup")] \
    + [{"type": "network", "path": netns}]
spec["linux"].pop("cgroupsPath", None)
json.dump(spec, open(path, "w"))
PY
}

case "$mode" in
podman)
    mkdir -p "$work/net.d"
    cat > "$work/net.d/e2e.conflist" <<CONF
{"cniVersion":"1.0.0","name":"e2e","plugins":[
 {"type":"bridge","bridge":"pme2e0","isGateway":true,"ipMasq":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.150.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
CONF
    podman_env "$work" "$plugins"
    "${podman[@]}" run -d --name web --network e2e -p 8180:80 --rootfs "$rootfs" /bin/httpd -f -p 80 -h /www >/dev/null \
        || echo "FAIL podman run"
    for _ in $(seq 20); do fetch http://127.0.0.1:8180/ >/dev/null && break; sleep 0.2; done
    step "podman -p 8180:80 from the host's loopback" "$(fetch http://127.0.0.1:8180/)" "hello from podman"
    step "podman -p 8180:80 through the bridge address" "$(fetch http://10.150.0.1:8180/)" "hello from podman"
    "${podman[@]}" rm -f -t 0 web >/dev/null || echo "FAIL podman rm"
    step "podman rm leaves no port on the bridge" "$(ip -o link show master pme2e0 | wc -l)" "0"
    # Other tests share this namespace's table: look for what this network made only.
    step "podman rm leaves no rule of the network" "$(nft list table inet netctl 2>/dev/null | grep -e pme2e0 -e 8180 | tr -s " \t" " ")" ""
    step "podman rm leaves no firewall record" \
        "$(sqlite3 -cmd ".timeout 10000" /var/lib/netctl/netctl.db "SELECT count(*) FROM firewall_attachments WHERE network LIKE '%:e2e'" 2>/dev/null || echo 0)" "0"
    step "podman rm leaves no address lease" \
        "$(sqlite3 -cmd ".timeout 10000" /var/lib/netctl/netctl.db "SELECT count(*) FROM ipam_leases WHERE network = 'e2e'" 2>/dev/null || echo 0)" "0"
    step "podman rm leaves no cached result" "$(ls /var/lib/cni/results 2>/dev/null | grep -c '^e2e-' || true)" "0"
    step "podman rm leaves no container interface on the host" "$(ip -o link show | grep -c 'alias netctl:e2e/' || true)" "0"
    ;;
crun)
    netns=e2e-crun-$$
    ip netns add "$netns"
    config='{"cniVersion":"1.1.0","name":"crun","type":"bridge","bridge":"crune2e0","isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.151.0.0/24"}]]}}'
    run_plugin() { CNI_COMMAND=$1 CNI_CONTAINERID=crun1 CNI_NETNS=/run/netns/$netns CNI_IFNAME=eth0 CNI_PATH="$plugins" "$plugins/bridge" <<< "$config"; }
    address="$(run_plugin ADD | python3 -c 'import json,sys;print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])')"
    make_bundle "/run/netns/$netns"
    crun_run crun1
    for _ in $(seq 20); do fetch "http://$address/" >/dev/null && break; sleep 0.2; done
    step "crun bundle in a netns our bridge plugin configured serves HTTP" "$(fetch "http://$address/")" "hello from crun"
    crun kill crun1 KILL 2>/dev/null; sleep 0.3; crun delete -f crun1 2>/dev/null
    run_plugin DEL >/dev/null || echo "FAIL bridge DEL"
    step "DEL leaves no port on the bridge" "$(ip -o link show master crune2e0 | wc -l)" "0"
    ip netns delete "$netns"
    ;;
netctl-crun)
    "$netctl" network create e2ecrun --subnet 10.152.0.0/24 -o com.docker.network.bridge.name=e2ecrun0 >/dev/null || echo "FAIL network create"
    path="$("$netctl" sandbox create e2ecrun1)"
    "$netctl" connect e2ecrun e2ecrun1 -p 8680:80 >/dev/null || echo "FAIL connect"
    make_bundle "$path"
    crun_run netctl1
    for _ in $(seq 20); do fetch http://127.0.0.1:8680/ >/dev/null && break; sleep 0.2; done
    step "crun in a netctl sandbox, -p 8680:80 from the host's loopback" "$(fetch http://127.0.0.1:8680/)" "hello from netctl-crun"
    step "crun in a netctl sandbox, -p 8680:80 through the bridge address" "$(fetch http://10.152.0.1:8680/)" "hello from netctl-crun"
    crun kill netctl1 KILL 2>/dev/null; sleep 0.3; crun delete -f netctl1 2>/dev/null
    "$netctl" disconnect e2ecrun e2ecrun1 && "$netctl" sandbox rm e2ecrun1 && "$netctl" network rm e2ecrun || echo "FAIL teardown"
    step "nothing of the network is left" "$(ip -o link show e2ecrun0 2>/dev/null | wc -l)$(ls /run/netns | grep -c e2ecrun)" "00"
    ;;
esac
