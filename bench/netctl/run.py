#!/usr/bin/env python3
"""netctl connect + disconnect with one published port, against netavark setup + teardown
with one port: the same work (a veth pair onto a bridge, an address, a default route, DNAT
for one port), side by side in one run, in blocks that alternate so machine noise hits both.

Run inside the sandbox (it changes the namespace's links and rules):
    scripts/sandbox.sh bench/netctl/run.py .build/release/netctl [ROUNDS [BESIDE]]
BESIDE (default 0) idle containers, each with a published port of its own, are set up on each
side's network first, so the rounds run beside them.
Prints a markdown table: medians and p99 in ms, and ours / theirs.
"""
import json, os, statistics, subprocess, sys, tempfile, time

NETAVARK = "/usr/lib/podman/netavark"
netctl = sys.argv[1] if len(sys.argv) > 1 else ".build/release/netctl"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 100
beside = int(sys.argv[3]) if len(sys.argv) > 3 else 0
block = 10

if not os.environ.get("NETCTL_SANDBOX"):
    sys.exit("run it inside scripts/sandbox.sh: it changes links and the ruleset")
if not os.access(NETAVARK, os.X_OK):
    # The sandbox has no network: `make bench` installs the peers before it enters it.
    sys.exit(f"{NETAVARK} is missing: run `make bench` (scripts/install-bench-deps.sh installs it)")

def run(args, stdin=None):
    result = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")

def timed(args, stdin=None):
    start = time.perf_counter()
    run(args, stdin)
    return (time.perf_counter() - start) * 1000

subprocess.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
# netctl: one network and one sandbox, connected and disconnected each round.
run([netctl, "network", "create", "benchnet", "--subnet", "10.231.0.0/16", "-o", "com.docker.network.bridge.name=benchbr0"])
run([netctl, "sandbox", "create", "benchsb"])
# netavark: the same shape of network, a namespace of its own.
run(["ip", "netns", "add", "benchnva"])
config_dir = tempfile.mkdtemp(prefix="netavark-")
def netavark_options(container_id, address, host_port):
    return json.dumps({
        "container_id": container_id, "container_name": "bench",
        "networks": {"benchnv": {"interface_name": "eth0", "static_ips": [address]}},
        "network_info": {"benchnv": {"dns_enabled": False, "driver": "bridge", "id": "c" * 64, "internal": False,
                                     "ipv6_enabled": False, "name": "benchnv", "network_interface": "benchnv0",
                                     "subnets": [{"gateway": "10.232.0.1", "subnet": "10.232.0.0/16"}]}},
        "port_mappings": [{"container_port": 80, "host_ip": "", "host_port": host_port, "protocol": "tcp", "range": 1}],
    })
options = netavark_options("b" * 64, "10.232.0.2", 8181)
netavark = [NETAVARK, "--config", config_dir]

# The idle containers: a sandbox (netctl) or a namespace (netavark) each, with a port each.
def idle_netavark_options(index):
    return netavark_options(f"{index:064x}", f"10.232.{1 + index // 250}.{1 + index % 250}", 30000 + index)
for index in range(beside):
    run([netctl, "sandbox", "create", f"benchidle{index}"])
    run([netctl, "connect", "benchnet", f"benchidle{index}", "-p", f"{20000 + index}:80"])
    run(["ip", "netns", "add", f"benchidle{index}nv"])
    run(netavark + ["setup", f"/run/netns/benchidle{index}nv"], idle_netavark_options(index))

samples = {"netctl": {"up": [], "down": [], "both": []}, "netavark": {"up": [], "down": [], "both": []}}
done = 0
while done < rounds:
    for _ in range(min(block, rounds - done)):
        up = timed([netctl, "connect", "benchnet", "benchsb", "-p", "8180:80"])
        down = timed([netctl, "disconnect", "benchnet", "benchsb"])
        for key, value in (("up", up), ("down", down), ("both", up + down)):
            samples["netctl"][key].append(value)
    for _ in range(min(block, rounds - done)):
        up = timed(netavark + ["setup", "/run/netns/benchnva"], options)
        down = timed(netavark + ["teardown", "/run/netns/benchnva"], options)
        for key, value in (("up", up), ("down", down), ("both", up + down)):
            samples["netavark"][key].append(value)
    done += block

for index in range(beside):
    run(netavark + ["teardown", f"/run/netns/benchidle{index}nv"], idle_netavark_options(index))
    run(["ip", "netns", "delete", f"benchidle{index}nv"])
    run([netctl, "sandbox", "rm", "-f", f"benchidle{index}"])
run([netctl, "sandbox", "rm", "-f", "benchsb"])
run([netctl, "network", "rm", "-f", "benchnet"])
run(["ip", "netns", "delete", "benchnva"])

def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

print(f"| {rounds} rounds, 1 published port{f', beside {beside} containers' if beside else ''} | netctl median ms | netctl p99 ms | netavark median ms | netavark p99 ms | median ratio | p99 ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for key, label in (("up", "connect / setup"), ("down", "disconnect / teardown"), ("both", "both")):
    ours, theirs = samples["netctl"][key], samples["netavark"][key]
    print(f"| {label} | {statistics.median(ours):.1f} | {p99(ours):.1f} | {statistics.median(theirs):.1f} | {p99(theirs):.1f} "
          f"| {statistics.median(ours) / statistics.median(theirs):.2f} | {p99(ours) / p99(theirs):.2f} |")
