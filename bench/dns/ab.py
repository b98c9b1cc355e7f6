#!/usr/bin/env python3
"""Builds of netctl-dns side by side, without aardvark: each build's netctl makes a network of its
own in one namespace (a store each, so a resolver each), and the load generator runs against
them in turn, the order alternating, so every build sees the same machine at the same time.
Answers "did this change help" faster than bench.py, on a machine shared with other work.

    cc -O2 -o .build/dnsload bench/dns/dnsload.c
    scripts/sandbox.sh python3 bench/dns/ab.py .build/dnsload REPS SECONDS LABEL=BUILD_DIR[:THREADS]...

BUILD_DIR holds netctl and netctl-dns; THREADS runs that netctl-dns with --udp-threads THREADS
(through a wrapper beside a copy of netctl: netctl starts the netctl-dns beside its
/proc/self/exe, so a link would start the original's). Each side's binary and arguments go to
stderr. LABEL=@serve (after at least one build) is no resolver: `dnsload serve` on the first
build's gateway, port 5353, on the same path (the client's namespace, its veth, the bridge): the
measuring path's ceiling, and what the least a server can do (recvmmsg, sendmmsg, no parsing)
costs in CPU per answer there. Queries: the target's name and a forwarded name (a stand-in
upstream on 127.0.0.1:53), 1 and 16 clients. Prints the medians of the REPS runs: queries per
second, p50 and p99 µs, and the resolver's CPU µs per answer. AB_RAW=FILE writes every run's
numbers there as JSON (a run on a quiet moment stands out there; the medians hide it).
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

if not os.environ.get("NETCTL_SANDBOX"):
    sys.exit("run it through scripts/sandbox.sh: it makes links and mounts")
dnsload, reps, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
variants = [argument.split("=", 1) for argument in sys.argv[4:]]


def run(args, env=None):
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


work = tempfile.mkdtemp(prefix="dnsab.")
run(["ip", "link", "set", "lo", "up"])
with open(f"{work}/resolv.conf", "w") as file:
    file.write("nameserver 127.0.0.1\n")
run(["mount", "--bind", f"{work}/resolv.conf", "/etc/resolv.conf"])  # the sandbox's mount namespace only
upstream = subprocess.Popen([dnsload, "serve", "127.0.0.1", "53", "3600"])
sides = []
try:
    for index, (label, spec) in enumerate(variants):
        if spec == "@serve":
            continue
        build, _, threads = spec.partition(":")
        build = os.path.abspath(build)
        if threads:
            # A wrapper that adds --udp-threads, beside a copy of netctl (see above).
            wrapped = f"{work}/build{index}"
            os.makedirs(wrapped)
            shutil.copy2(f"{build}/netctl", f"{wrapped}/netctl")
            with open(f"{wrapped}/netctl-dns", "w") as file:
                file.write(f'#!/bin/bash\nexec -a "$0" {build}/netctl-dns --udp-threads {int(threads)} "$@"\n')
            os.chmod(f"{wrapped}/netctl-dns", 0o755)
            build = wrapped
        env = dict(os.environ, NETCTL_STATE_DIR=f"{work}/state{index}")
        subnet = f"10.{200 + index}.0"
        run([f"{build}/netctl", "network", "create", f"ab{index}", "--subnet", f"{subnet}.0/24"], env)
        for sandbox, address in ((f"t{index}", f"{subnet}.2"), (f"c{index}", f"{subnet}.3")):
            run([f"{build}/netctl", "sandbox", "create", sandbox], env)
            run([f"{build}/netctl", "connect", f"ab{index}", sandbox, "--ip", address], env)
        time.sleep(0.3)
        pid = int(run(["pgrep", "-f", f"netctl-dns.* --state-dir {work}/state{index}$"]).split()[0])
        with open(f"/proc/{pid}/cmdline") as file:  # which binary and arguments each side really runs
            print(f"{label}: {os.readlink(f'/proc/{pid}/exe')} {file.read().replace(chr(0), ' ')}", file=sys.stderr)
        sides.append((label, f"c{index}", f"t{index}", f"{subnet}.1", "53", pid))
    for label, spec in variants:
        if spec == "@serve":
            _, client, target, server, _, _ = sides[0]
            ceiling = subprocess.Popen([dnsload, "serve", server, "5353", "3600"])
            time.sleep(0.2)
            sides.append((label, client, target, server, "5353", ceiling.pid))
    sides.sort(key=lambda side: [label for label, _ in variants].index(side[0]))

    results = {}
    for rep in range(reps):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for case in ("name", "forwarded"):
            for clients in (1, 16):
                for label, client, target, server, port, pid in order:
                    name = target if case == "name" else "www.forwarded.example"
                    before = cpu_seconds(pid)
                    out = json.loads(run(["ip", "netns", "exec", client, dnsload, "load", server, port, name, "A",
                                          str(clients), seconds, "0"]))
                    out["cpu_us"] = (cpu_seconds(pid) - before) / max(1, out["answered"]) * 1e6
                    results.setdefault((case, clients, label), []).append(out)

    if os.environ.get("AB_RAW"):  # every run's numbers, for a closer look than the medians
        with open(os.environ["AB_RAW"], "w") as file:
            json.dump({"|".join(map(str, key)): runs for key, runs in results.items()}, file, indent=1)
    print(f"| query | clients | " + " | ".join(f"{label} qps | p50 µs | p99 µs | CPU µs/query" for label, *_ in sides) + " |")
    print("|---|---:|" + "---:|---:|---:|---:|" * len(sides))
    for case in ("name", "forwarded"):
        for clients in (1, 16):
            cells = []
            for label, *_ in sides:
                runs = results[(case, clients, label)]
                cells.append(" | ".join(f"{statistics.median(r[key] for r in runs):.{1 if key == 'cpu_us' else 0}f}"
                                        for key in ("qps", "p50_us", "p99_us", "cpu_us")))
            print(f"| {case} | {clients} | " + " | ".join(cells) + " |")
finally:
    upstream.kill()
    for *_, pid in sides:
        os.kill(pid, 15)
