#!/usr/bin/env python3
"""netctl-dns against aardvark-dns 1.4 (Debian's), serving the same names, side by side in one
run. bench/dns/run.sh builds the load generator and runs this inside the sandbox, in a network
and mount namespace of its own:

    bench.py NETCTL DNSLOAD        (NETCTL: the netctl binary, netctl-dns beside it)

The two resolvers, each in a network namespace of its own with a bridge whose gateway it
answers on, and a stand-in upstream on 127.0.0.1:53 beside it (`dnsload serve`, named in
that namespace's resolv.conf):
  netctl      this namespace; `netctl network create` + `netctl connect` of two sandboxes,
              the target (10.241.0.2) and the client (10.241.0.3); netctl starts netctl-dns.
  aardvark    namespace dnsbaard, set up as podman runs it: `netavark setup` of the target
              (10.242.0.2, namespace dnsbaardt) and the client (10.242.0.3, dnsbaardc) on a
              DNS-enabled bridge network (aardbr0, gateway 10.242.0.1/24); netavark makes the
              bridge, the veth pairs and its firewall rules (iptables-nft: NAT and conntrack,
              as on every podman host), writes aardvark's config directory and starts
              `aardvark-dns --config DIR -p 53 run`. DNS_AARDVARK_SETUP=bare instead makes the
              bridge and the client's veth by hand with no firewall in that namespace, and
              writes the config directory itself (how the tables before 2026-12-05 10:00 UTC
              were taken; netctl's side always has netctl's firewall, conntrack included).

Measures, the sides interleaved (their order alternates from one repetition to the next):
  1. queries per second and latency, one client and CLIENTS concurrent (closed loop: each
     client has one query outstanding), for the target's name (answered by the resolver)
     and for a name it forwards (answered by the stand-in upstream); each resolver's CPU
     time per query; and the load generator's ceiling against the stand-in answering
     directly on the same path; then the same with dnsperf, where it is installed;
  2. resident memory (RSS, PSS, anonymous) with NETWORKS networks of NAMES names (NAMES
     sandboxes or containers each), fresh resolvers, and the queries of 1. on one of those
     networks against the resolvers of 1. serving one;
  3. time from `netctl connect` to the name answering (a poller asks every 250 µs); from a
     record committed to the store (sqlite3, as connect's transaction writes it) to the name
     answering: netctl-dns's own reaction; and, for reference, aardvark's reload: a line
     appended to the network's file and SIGHUP (what netavark does) to the name answering.
Prints markdown tables. Environment: DNS_REPS (5), DNS_SECONDS (3), DNS_CLIENTS (16),
DNS_ROUNDS (30), DNS_NETWORKS (100), DNS_NAMES (10), DNSPERF (1: a dnsperf cross-check
where dnsperf is installed), DNS_RAW (a file for every run's numbers as JSON), DNS_PARTS
(`rate` stops after 1.; default all three).
"""
import json, os, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time

AARDVARK = "/usr/lib/podman/aardvark-dns"
netctl, dnsload = sys.argv[1], sys.argv[2]
REPS = int(os.environ.get("DNS_REPS", "5"))
SECONDS = float(os.environ.get("DNS_SECONDS", "3"))
CLIENTS = int(os.environ.get("DNS_CLIENTS", "16"))
ROUNDS = int(os.environ.get("DNS_ROUNDS", "30"))
NETWORKS = int(os.environ.get("DNS_NETWORKS", "100"))
NAMES = int(os.environ.get("DNS_NAMES", "10"))
DNSPERF = os.environ.get("DNSPERF", "1") == "1" and shutil.which("dnsperf") is not None
RATE_ONLY = os.environ.get("DNS_PARTS", "all") == "rate"
AARDVARK_SETUP = os.environ.get("DNS_AARDVARK_SETUP", "netavark")
NETAVARK = "/usr/lib/podman/netavark"
FORWARDED = "www.forwarded.example"
LIFETIME = "3600"  # the stand-in upstreams exit by themselves after this long

if not os.environ.get("NETCTL_SANDBOX"):
    sys.exit("run it through bench/dns/run.sh: it changes links and mounts")
if not os.access(AARDVARK, os.X_OK):
    sys.exit(f"{AARDVARK} is missing: apt-get install aardvark-dns (bench/dns/run.sh does it outside the sandbox)")

work = tempfile.mkdtemp(prefix="dnsbench.")
started = []  # processes this script started (or whose PID it read), stopped by PID at the end
namespaces = []


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(args, env=None, check=True, input=None):
    result = subprocess.run(args, capture_output=True, text=True, env=env, input=input)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.stdout


def start(args):
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    started.append(process.pid)
    return process


def netctl_env(state):
    return dict(os.environ, NETCTL_STATE_DIR=state)


def netns(name):
    run(["ip", "netns", "add", name])
    namespaces.append(name)
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def in_ns(name, args):
    return ["ip", "netns", "exec", name] + args


def resolver_pid(state):
    """The netctl-dns serving this store (netctl started it; its command line names the store)."""
    for _ in range(200):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    argv = file.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"netctl-dns") and state.encode() in argv:
                return int(entry)
        time.sleep(0.01)
    raise SystemExit(f"no netctl-dns runs for {state}")


def start_aardvark(config):
    """aardvark-dns forks: the parent exits once the child serves; the child's PID is in the directory."""
    run(in_ns("dnsbaard", [AARDVARK, "--config", config, "-p", "53", "run"]))
    return aardvark_pid(config)


def aardvark_pid(config):
    with open(os.path.join(config, "aardvark.pid")) as file:
        pid = int(file.read().strip())
    started.append(pid)
    return pid


def netavark_setup(config, container, identifier, name, address):
    """What podman does for a container on a DNS-enabled bridge network: netavark makes the link,
    the firewall rules and aardvark's entry, and starts aardvark-dns when it is not running."""
    netns(container)
    options = json.dumps({
        "container_id": identifier, "container_name": name,
        "networks": {"dnsbench": {"interface_name": "eth0", "static_ips": [address]}},
        "network_info": {"dnsbench": {"dns_enabled": True, "driver": "bridge", "id": "d" * 64, "internal": False,
                                      "ipv6_enabled": False, "name": "dnsbench", "network_interface": "aardbr0",
                                      "subnets": [{"gateway": "10.242.0.1", "subnet": "10.242.0.0/24"}]}},
    })
    run(in_ns("dnsbaard", [NETAVARK, "--config", config, "setup", f"/run/netns/{container}"]), input=options)


def memory(pid):
    """RSS and PSS in MiB, from smaps_rollup; and the thread count."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:", "Anonymous:"):
                values[parts[0][:-1].lower()] = int(parts[1]) / 1024
    values["threads"] = len(os.listdir(f"/proc/{pid}/task"))
    return values


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, total) clock ticks of all CPUs, from /proc/stat."""
    with open("/proc/stat") as file:
        values = [int(v) for v in file.readline().split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def load_average():
    with open("/proc/loadavg") as file:
        return file.read().split()[0]


def load(ns, server, name, clients, rcode=0, seconds=SECONDS, port="53"):
    out = run(in_ns(ns, [dnsload, "load", server, port, name, "A", str(clients), str(seconds), str(rcode)]))
    result = json.loads(out)
    if result["bad"] or result["lost"]:
        log(f"  {ns} {server} {name} x{clients}: {result['bad']} bad, {result['lost']} lost answers")
    return result


def dnsperf(ns, server, name, clients):
    data = os.path.join(work, "dnsperf-" + name)
    with open(data, "w") as file:
        file.write(f"{name} A\n")
    out = run(in_ns(ns, ["dnsperf", "-s", server, "-d", data, "-c", str(clients), "-q", str(clients),
                         "-l", str(SECONDS), "-t", "1"]))
    fields = {}
    for line in out.splitlines():
        if ":" in line:
            key, _, value = line.strip().partition(":")
            fields[key.strip()] = value.strip()
    return {"qps": float(fields["Queries per second"]), "lost": fields.get("Queries lost", "?").split()[0],
            "mean_us": float(fields["Average Latency (s)"].split()[0]) * 1e6}


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def cleanup():
    for pid in reversed(started):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in reversed(started):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    for name in namespaces:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)


try:
    # --- the upstreams: resolv.conf names 127.0.0.1 in both resolvers' namespaces
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as file:
        file.write("nameserver 127.0.0.1\n")
    run(["mount", "--bind", resolv, "/etc/resolv.conf"])  # this mount namespace only
    os.makedirs("/etc/netns/dnsbaard", exist_ok=True)
    shutil.copy(resolv, "/etc/netns/dnsbaard/resolv.conf")
    start([dnsload, "serve", "127.0.0.1", "53", LIFETIME])
    netns("dnsbaard")
    start(in_ns("dnsbaard", [dnsload, "serve", "127.0.0.1", "53", LIFETIME]))

    # --- netctl: a network, the target and the client
    state = os.path.join(work, "netctl")
    env = netctl_env(state)
    run([netctl, "network", "create", "dnsbench", "--subnet", "10.241.0.0/24"], env)
    for sandbox, address in (("target", "10.241.0.2"), ("client", "10.241.0.3")):
        run([netctl, "sandbox", "create", sandbox], env)
        run([netctl, "connect", "dnsbench", sandbox, "--ip", address], env)
    ours = resolver_pid(state)
    started.append(ours)
    # The load generator's ceiling: the stand-in answering on the same gateway, another port.
    start([dnsload, "serve", "10.241.0.1", "5300", LIFETIME])

    # --- aardvark: its namespace's bridge, the target's and the client's namespaces on veths
    if AARDVARK_SETUP == "netavark":
        netavark_config = os.path.join(work, "netavark")
        os.makedirs(netavark_config)
        for container, identifier, name, address in (("dnsbaardt", "a" * 64, "target", "10.242.0.2"),
                                                     ("dnsbaardc", "c" * 64, "client", "10.242.0.3")):
            netavark_setup(netavark_config, container, identifier, name, address)
        aardvark_config = os.path.join(netavark_config, "aardvark-dns")
        theirs = aardvark_pid(aardvark_config)
    else:
        run(["ip", "-n", "dnsbaard", "link", "add", "aardbr0", "type", "bridge"])
        run(["ip", "-n", "dnsbaard", "addr", "add", "10.242.0.1/24", "dev", "aardbr0"])
        run(["ip", "-n", "dnsbaard", "link", "set", "aardbr0", "up"])
        netns("dnsbaardc")
        run(["ip", "-n", "dnsbaard", "link", "add", "aardv0", "type", "veth", "peer", "name", "eth0", "netns", "dnsbaardc"])
        run(["ip", "-n", "dnsbaard", "link", "set", "aardv0", "master", "aardbr0", "up"])
        run(["ip", "-n", "dnsbaardc", "addr", "add", "10.242.0.3/24", "dev", "eth0"])
        run(["ip", "-n", "dnsbaardc", "link", "set", "eth0", "up"])
        aardvark_config = os.path.join(work, "aardvark")
        os.makedirs(aardvark_config)
        with open(os.path.join(aardvark_config, "dnsbench"), "w") as file:
            file.write("10.242.0.1\n")
            file.write(f"{'a' * 64} 10.242.0.2  target\n")
            file.write(f"{'c' * 64} 10.242.0.3  client\n")
        theirs = start_aardvark(aardvark_config)

    sides = {"netctl": ("client", "10.241.0.1", ours), "aardvark": ("dnsbaardc", "10.242.0.1", theirs)}
    # Both answer before anything is timed.
    for side, (ns, server, _) in sides.items():
        for name in ("target", FORWARDED):
            if load(ns, server, name, 1, seconds=0.2)["answered"] == 0:
                raise SystemExit(f"{side} does not answer {name}")

    # --- 1. throughput and latency
    cases = [("name", "target"), ("forwarded", FORWARDED)]
    results = {}  # (side, case, clients) -> [result per repetition]
    perf_results = {}  # (side, case) -> [dnsperf result per repetition]
    busy_before, ticks_before = machine_ticks()
    load_before = load_average()
    cpu = {side: 0.0 for side in sides}
    log(f"throughput: {REPS} repetitions of {SECONDS} s per row")
    for rep in range(REPS):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for case, name in cases:
            for clients in (1, CLIENTS):
                for side in order:
                    ns, server, pid = sides[side]
                    before = cpu_seconds(pid)
                    result = load(ns, server, name, clients)
                    result["cpu_us"] = (cpu_seconds(pid) - before) / max(1, result["answered"]) * 1e6
                    results.setdefault((side, case, clients), []).append(result)
        for clients in (1, CLIENTS):
            results.setdefault(("ceiling", "stand-in", clients), []).append(load("client", "10.241.0.1", "target", clients, port="5300"))
        if DNSPERF:
            for case, name in cases:
                for side in order:
                    ns, server, _ = sides[side]
                    perf_results.setdefault((side, case), []).append(dnsperf(ns, server, name, CLIENTS))
        log(f"  repetition {rep + 1} done")
    idle_memory = {side: memory(pid) for side, (_, _, pid) in sides.items()}
    busy_after, ticks_after = machine_ticks()
    busy = (busy_after - busy_before) / max(1, ticks_after - ticks_before)

    def med(side, case, clients, key):
        return statistics.median(r[key] for r in results[(side, case, clients)])

    def paired(case, clients, key):
        """The median of the repetitions' ratios: each repetition runs the sides back to back."""
        ours, theirs = results[("netctl", case, clients)], results[("aardvark", case, clients)]
        return statistics.median(o[key] / max(1, t[key]) for o, t in zip(ours, theirs))

    print(f"### Queries per second and latency ({REPS} runs of {SECONDS:g} s per row; medians of the runs, "
          "ratios the median of the runs' ratios)\n")
    print("| query | clients | netctl-dns qps | aardvark qps | qps ratio | netctl-dns p50 µs | aardvark p50 µs "
          "| netctl-dns p99 µs | aardvark p99 µs | p99 ratio | netctl-dns CPU µs/query | aardvark CPU µs/query | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, _ in cases:
        for clients in (1, CLIENTS):
            o = {k: med("netctl", case, clients, k) for k in ("qps", "p50_us", "p99_us", "cpu_us")}
            t = {k: med("aardvark", case, clients, k) for k in ("qps", "p50_us", "p99_us", "cpu_us")}
            print(f"| {case} | {clients} | {o['qps']:.0f} | {t['qps']:.0f} | {paired(case, clients, 'qps'):.2f}× "
                  f"| {o['p50_us']:.0f} | {t['p50_us']:.0f} | {o['p99_us']:.0f} | {t['p99_us']:.0f} "
                  f"| {paired(case, clients, 'p99_us'):.2f}× | {o['cpu_us']:.1f} | {t['cpu_us']:.1f} "
                  f"| {paired(case, clients, 'cpu_us'):.2f}× |")
    for clients in (1, CLIENTS):
        c = {k: med("ceiling", "stand-in", clients, k) for k in ("qps", "p50_us", "p99_us")}
        print(f"| generator ceiling: the stand-in upstream answering directly, same path | {clients} | {c['qps']:.0f} | | "
              f"| {c['p50_us']:.0f} | | {c['p99_us']:.0f} | | | | | |")
    if DNSPERF:
        print(f"\ndnsperf 2.10 cross-check ({CLIENTS} clients, {CLIENTS} queries outstanding, medians of {REPS} runs, "
              "the ratio the median of the runs' ratios):\n")
        print("| query | netctl-dns qps | aardvark qps | ratio | netctl-dns mean µs | aardvark mean µs |")
        print("|---|---:|---:|---:|---:|---:|")
        for case, _ in cases:
            o_q, t_q = (statistics.median(r["qps"] for r in perf_results[(side, case)]) for side in ("netctl", "aardvark"))
            o_l, t_l = (statistics.median(r["mean_us"] for r in perf_results[(side, case)]) for side in ("netctl", "aardvark"))
            ratio = statistics.median(o["qps"] / t["qps"] for o, t in zip(perf_results[("netctl", case)], perf_results[("aardvark", case)]))
            print(f"| {case} | {o_q:.0f} | {t_q:.0f} | {ratio:.2f}× | {o_l:.0f} | {t_l:.0f} |")
    missed = {side: sum(r["lost"] + r["bad"] for (s, _, _), runs in results.items() if s == side for r in runs) for side in sides}
    generator = statistics.median(r["own_cpu"] for runs in results.values() for r in runs)
    print(f"\nUnanswered or wrong answers in the dnsload runs: netctl-dns {missed['netctl']}, aardvark {missed['aardvark']}. "
          f"The machine's CPUs were {busy:.0%} busy over these runs (load average {load_before} before, {load_average()} after); "
          f"the load generator itself used {generator:.2f} of a core (median of its runs).")
    sys.stdout.flush()
    if RATE_ONLY:
        with open(os.environ.get("DNS_RAW", os.devnull), "w") as file:
            json.dump({"throughput": {f"{s}|{c}|{n}": r for (s, c, n), r in results.items()}}, file, indent=1)
        raise SystemExit(0)

    # --- 2. memory with NETWORKS networks of NAMES names, fresh resolvers
    log(f"memory: {NETWORKS} networks of {NAMES} names each")
    big_state = os.path.join(work, "netctl-big")
    big_env = netctl_env(big_state)
    began = time.monotonic()
    for n in range(NETWORKS):
        run([netctl, "network", "create", f"mem{n}", "--subnet", f"10.243.{n}.0/24"], big_env)
        for m in range(NAMES):
            run([netctl, "sandbox", "create", f"m{n}-{m}"], big_env)
            run([netctl, "connect", f"mem{n}", f"m{n}-{m}", "--ip", f"10.243.{n}.{10 + m}"], big_env)
    setup_seconds = time.monotonic() - began
    log(f"  netctl side set up in {setup_seconds:.0f} s")
    big_ours = resolver_pid(big_state)
    started.append(big_ours)
    setup_cpu = cpu_seconds(big_ours)  # rereading the names after each commit of the setup
    big_config = os.path.join(work, "aardvark-big")
    os.makedirs(big_config)
    run(["ip", "-n", "dnsbaard", "link", "add", "aardmem0", "type", "bridge"])
    for n in range(NETWORKS):
        run(["ip", "-n", "dnsbaard", "addr", "add", f"10.244.{n}.1/24", "dev", "aardmem0"])
        with open(os.path.join(big_config, f"mem{n}"), "w") as file:
            file.write(f"10.244.{n}.1\n")
            for m in range(NAMES):
                file.write(f"{n * 1000 + m:064x} 10.244.{n}.{10 + m}  m{n}-{m}\n")
    run(["ip", "-n", "dnsbaard", "link", "set", "aardmem0", "up"])
    netns("dnsbaardm")  # the last container of network 0 asks
    run(["ip", "-n", "dnsbaard", "link", "add", "aardv1", "type", "veth", "peer", "name", "eth0", "netns", "dnsbaardm"])
    run(["ip", "-n", "dnsbaard", "link", "set", "aardv1", "master", "aardmem0", "up"])
    run(["ip", "-n", "dnsbaardm", "addr", "add", f"10.244.0.{10 + NAMES - 1}/24", "dev", "eth0"])
    run(["ip", "-n", "dnsbaardm", "link", "set", "eth0", "up"])
    big_theirs = start_aardvark(big_config)
    time.sleep(1)
    big_sides = {"netctl": (f"m0-{NAMES - 1}", "10.243.0.1", big_ours), "aardvark": ("dnsbaardm", "10.244.0.1", big_theirs)}
    loaded = {side: memory(pid) for side, (_, _, pid) in big_sides.items()}
    # The same load as in 1., on network 0 of the many and on the one network, interleaved.
    big_load = {}
    for rep in range(REPS):
        order = list(sides) if rep % 2 == 0 else list(reversed(sides))
        for case, big_name, small_name in (("name", "m0-1", "target"), ("forwarded", FORWARDED, FORWARDED)):
            for side in order:
                ns, server, _ = big_sides[side]
                big_load.setdefault((side, case, "many"), []).append(load(ns, server, big_name, CLIENTS, seconds=2))
                ns, server, _ = sides[side]
                big_load.setdefault((side, case, "one"), []).append(load(ns, server, small_name, CLIENTS, seconds=2))
    served = {side: memory(pid) for side, (_, _, pid) in big_sides.items()}

    print(f"\n### Resident memory (MiB, /proc/PID/smaps_rollup)\n")
    print("| resolver state | netctl-dns RSS | netctl-dns PSS | netctl-dns anonymous | aardvark RSS | aardvark PSS "
          "| aardvark anonymous | PSS ratio | threads (netctl-dns / aardvark) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, values in (("1 network, 2 names, after the throughput runs", idle_memory),
                          (f"{NETWORKS} networks × {NAMES} names, fresh, loaded", loaded),
                          (f"{NETWORKS} networks × {NAMES} names, after the queries below", served)):
        o, t = values["netctl"], values["aardvark"]
        print(f"| {label} | {o['rss']:.1f} | {o['pss']:.1f} | {o['anonymous']:.1f} | {t['rss']:.1f} | {t['pss']:.1f} "
              f"| {t['anonymous']:.1f} | {o['pss'] / t['pss']:.2f}× | {o['threads']} / {t['threads']} |")
    print(f"\nSetting up the netctl side ({NETWORKS} × network create, {NETWORKS * NAMES} × sandbox create + connect) "
          f"took {setup_seconds:.0f} s; netctl-dns, which reads the names again after commits to the store, "
          f"used {setup_cpu:.1f} s of CPU meanwhile.")
    print(f"\nQueries at {CLIENTS} clients on network 0 of the {NETWORKS} networks against the resolvers of 1. serving one, "
          f"interleaved ({REPS} runs of 2 s, medians; ratios the median of the runs' ratios):\n")
    print("| query | networks served | netctl-dns qps | aardvark qps | ratio | netctl-dns p99 µs | aardvark p99 µs | p99 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case in ("name", "forwarded"):
        for scope, count in (("one", 1), ("many", NETWORKS)):
            o = {k: statistics.median(r[k] for r in big_load[("netctl", case, scope)]) for k in ("qps", "p99_us")}
            t = {k: statistics.median(r[k] for r in big_load[("aardvark", case, scope)]) for k in ("qps", "p99_us")}
            pairs = list(zip(big_load[("netctl", case, scope)], big_load[("aardvark", case, scope)]))
            q_ratio = statistics.median(a["qps"] / b["qps"] for a, b in pairs)
            p_ratio = statistics.median(a["p99_us"] / max(1, b["p99_us"]) for a, b in pairs)
            print(f"| {case} | {count} | {o['qps']:.0f} | {t['qps']:.0f} | {q_ratio:.2f}× | {o['p99_us']:.0f} "
                  f"| {t['p99_us']:.0f} | {p_ratio:.2f}× |")
    sys.stdout.flush()

    # --- 3. connect (or reload) to the name answering
    log(f"connect to answer: {ROUNDS} rounds per row")

    def poller(ns, server, name, address):
        process = subprocess.Popen(in_ns(ns, [dnsload, "wait", server, "53", name, address, "5000"]),
                                   stdout=subprocess.PIPE, text=True)
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"the poller of {name} on {server} got no answer")
        return process

    refused = {}

    def answered_at(process, label):
        line = process.stdout.readline().split()
        if process.wait() != 0 or not line:
            raise SystemExit(f"{label}: the name never answered")
        refused[label] = refused.get(label, 0) + int(line[1])
        return int(line[0])

    timings = {}

    def netctl_round(label, state_env, network, subnet, ns, i):
        sandbox, address = f"r{i}", f"{subnet}.{100 + i}"
        run([netctl, "sandbox", "create", sandbox], state_env)
        waiting = poller(ns, f"{subnet}.1", f"{sandbox}.netctl", address)
        before = time.monotonic_ns()
        run([netctl, "connect", network, sandbox, "--ip", address], state_env)
        returned = time.monotonic_ns()
        at = answered_at(waiting, label)
        timings.setdefault(label, []).append(((at - before) / 1e6, (returned - before) / 1e6, (at - returned) / 1e6))
        run([netctl, "disconnect", network, sandbox], state_env)
        run([netctl, "sandbox", "rm", sandbox], state_env)

    def aardvark_round(label, config, network, subnet, ns, pid, i):
        name, address = f"r{i}", f"{subnet}.{100 + i}"
        path = os.path.join(config, network)
        with open(path) as file:
            original = file.read()
        waiting = poller(ns, f"{subnet}.1", name, address)
        before = time.monotonic_ns()
        with open(path, "a") as file:
            file.write(f"{9000 + i:064x} {address}  {name}\n")
        os.kill(pid, signal.SIGHUP)
        returned = time.monotonic_ns()
        at = answered_at(waiting, label)
        timings.setdefault(label, []).append(((at - before) / 1e6, (returned - before) / 1e6, (at - returned) / 1e6))
        with open(path, "w") as file:
            file.write(original)
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.05)

    def store_round(label, state, network, subnet, ns, i):
        """A record committed to the store as connect's transaction commits it: the resolver's own reaction."""
        name, address = f"s{i}", f"{subnet}.{200 + i}"
        waiting = poller(ns, f"{subnet}.1", f"{name}.netctl", address)
        database = sqlite3.connect(os.path.join(state, "netctl.db"), timeout=5, isolation_level=None)
        before = time.monotonic_ns()
        database.execute("INSERT INTO dns_records (network, owner, name, address) VALUES (?, ?, ?, ?)",
                         (f"netctl:{network}", "dns-bench", name, address))
        returned = time.monotonic_ns()
        at = answered_at(waiting, label)
        timings.setdefault(label, []).append(((at - before) / 1e6, (returned - before) / 1e6, (at - returned) / 1e6))
        database.execute("DELETE FROM dns_records WHERE owner = 'dns-bench'")
        database.close()

    small = "netctl connect → name answers, 1 network of 2 names"
    large = f"netctl connect → name answers, beside {NETWORKS} × {NAMES} names"
    small_a = "aardvark: file line + SIGHUP → name answers, 1 network of 2 names"
    large_a = f"aardvark: file line + SIGHUP → name answers, beside {NETWORKS} × {NAMES} names"
    small_s = "netctl-dns: a record committed to the store → name answers, 1 network of 2 names"
    large_s = f"netctl-dns: a record committed to the store → name answers, beside {NETWORKS} × {NAMES} names"
    rows = [small, large, small_s, large_s, small_a, large_a]
    with_store = True
    for i in range(ROUNDS):
        netctl_round(small, env, "dnsbench", "10.241.0", "client", i)
        aardvark_round(small_a, aardvark_config, "dnsbench", "10.242.0", "dnsbaardc", theirs, i)
        netctl_round(large, big_env, "mem0", "10.243.0", f"m0-{NAMES - 1}", i)
        aardvark_round(large_a, big_config, "mem0", "10.244.0", "dnsbaardm", big_theirs, i)
        if with_store:
            try:
                store_round(small_s, state, "dnsbench", "10.241.0", "client", i)
                store_round(large_s, big_state, "mem0", "10.243.0", f"m0-{NAMES - 1}", i)
            except sqlite3.Error as error:  # the store's schema moved on: the rows go
                log(f"  no store rows: {error}")
                with_store = False
                rows = [row for row in rows if row not in (small_s, large_s)]

    print(f"\n### Time to the name answering ({ROUNDS} rounds, ms; a poller asks every 250 µs)\n")
    print("| from → to | median | p99 | the step itself (connect, INSERT, write + SIGHUP), median | its end → answer, median "
          "| polls met a closed port (all rounds) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in rows:
        total = [t[0] for t in timings[label]]
        print(f"| {label} | {statistics.median(total):.1f} | {p99(total):.1f} "
              f"| {statistics.median(t[1] for t in timings[label]):.1f} | {statistics.median(t[2] for t in timings[label]):.1f} "
              f"| {refused.get(label, 0)} |")
    raw = {"throughput": {f"{s}|{c}|{n}": r for (s, c, n), r in results.items()},
           "memory": {"idle": idle_memory, "loaded": loaded, "served": served},
           "big_load": {"|".join(key): r for key, r in big_load.items()}, "timings": timings}
    with open(os.environ.get("DNS_RAW", os.devnull), "w") as file:
        json.dump(raw, file, indent=1)
finally:
    cleanup()
