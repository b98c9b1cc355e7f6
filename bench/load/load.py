#!/usr/bin/env python3
"""Load and soak: many containers on one bridge, many published ports, and thousands of
attach/detach rounds, through the CNI plugins (run by cnitool) and through `netctl`. Prints
Markdown. bench/load/run.sh starts it inside a sandbox of its own; run it through that.

    load.py --build DIR [--parts scale,ports,soak] [--paths cni,netctl] [--containers 1000]
            [--span 100] [--ports 10000] [--ports-per 100] [--port-rounds 50]
            [--soak-rounds 10000] [--soak-every 1000] [--netctld]

scale   --containers sandboxes (netctl) / namespaces (cnitool) on one bridge: the cost of each
        connect / ADD, the first --span against the last --span; then the teardown, twice:
        pass 1 deletes the namespaces behind netctl's or cnitool's back and collects with
        `netctl gc` / `cnitool gc NET` (no valid attachments); pass 2 connects / ADDs them all
        again and removes them the ordinary way (`netctl network rm --force`, one `cnitool del`
        each).
ports   --ports published TCP ports, --ports-per per container (one range each), and at 0,
        10 %, 50 % and 100 % of them the cost of publishing and unpublishing one more port
        (--port-rounds rounds); at the top, the last port is reached by DNAT from another
        namespace through the host's address (and, for netctl, on 127.0.0.1 through the
        userland proxy).
soak    --soak-rounds rounds of `netctl connect -p` + `disconnect` of one sandbox beside an idle
        one that keeps its port (so its netctl-proxy and netctl-dns live through the soak), and
        as many rounds of `cnitool add` + `del` through bridge + host-local + portmap with one
        port; every --soak-every rounds: descriptors and memory of the long-lived processes,
        the ruleset, the store's rows and WAL, links, namespaces and CNI cache entries.
        With --netctld, also the same rounds against netctld over Docker's plugin protocol
        (CreateEndpoint, Join, ProgramExternalConnectivity with one port, then the reverse).
"""
import argparse, atexit, http.client, json, os, resource, socket, sqlite3, statistics, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--build", required=True)
parser.add_argument("--label", help="the build directory to name in the output (default: --build)")
parser.add_argument("--parts", default="scale,ports,soak")
parser.add_argument("--paths", default="cni,netctl")
parser.add_argument("--containers", type=int, default=1000)
parser.add_argument("--span", type=int, default=100)
parser.add_argument("--ports", type=int, default=10000)
parser.add_argument("--ports-per", type=int, default=100)
parser.add_argument("--port-rounds", type=int, default=50)
parser.add_argument("--soak-rounds", type=int, default=10000)
parser.add_argument("--soak-every", type=int, default=1000)
parser.add_argument("--netctld", action="store_true")
options = parser.parse_args()
parts = [part for part in options.parts.split(",") if part]
paths = [path for path in options.paths.split(",") if path]

if not os.environ.get("NETCTL_SANDBOX"):
    sys.exit("run it through bench/load/run.sh: it needs the sandbox")

BUILD = options.build
NETCTL = f"{BUILD}/netctl"
CNITOOL = f"{BUILD}/cnitool"
STORE = "/var/lib/netctl/netctl.db"
CNI_CACHE = "/var/lib/cni/load-cache"
CNI_CONF = "/run/netctl/load-conf"
CNI_PLUGINS = "/run/netctl/load-plugins"
CNI_ENV = dict(os.environ, NETCONFPATH=CNI_CONF, CNI_PATH=CNI_PLUGINS, CNI_CACHE_DIR=CNI_CACHE)
OWN_NETNS = os.readlink("/proc/self/ns/net")
started = time.time()


def progress(message):
    print(f"[{time.time() - started:7.1f}s] {message}", file=sys.stderr, flush=True)


# MARK: running commands

class Ms(float):
    """Wall milliseconds of an exec, with the CPU milliseconds (user + system) it and the
    children it waited for used in `cpu`: on a machine shared with other work, the wall time
    includes waiting for a CPU, the CPU time does not."""
    cpu = 0.0


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def run(args, check=True, env=None, stdin=None):
    """Runs a command; returns (Ms, stdout)."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env)
    elapsed = Ms((time.perf_counter() - start) * 1000)
    elapsed.cpu = cpu_of_children() - cpu
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return elapsed, result.stdout


def plus(*times):
    """The sum of several execs' Ms, CPU included."""
    total = Ms(sum(times))
    total.cpu = sum(each.cpu for each in times)
    return total


def cpu(times):
    return [each.cpu for each in times]


def netctl(*args, check=True):
    return run([NETCTL, *args], check=check)


def cnitool(*args, check=True):
    return run([CNITOOL, *args], check=check, env=CNI_ENV)


def ip_batch(lines):
    """One `ip -batch` exec for many commands; returns its milliseconds."""
    return run(["ip", "-batch", "-"], stdin="".join(f"{line}\n" for line in lines))[0]


def links():
    return len(os.listdir("/sys/class/net"))


def wait_for_links(count, limit=600):
    """Waits until the namespace has `count` links (the kernel removes the veths of deleted
    namespaces in the background); returns the milliseconds it took."""
    start = time.perf_counter()
    while links() > count:
        if time.perf_counter() - start > limit:
            sys.exit(f"{links()} links left after {limit} s, waiting for {count}")
        time.sleep(0.02)
    return (time.perf_counter() - start) * 1000


# MARK: statistics

def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def med(values):
    return statistics.median(values)


def ms(value):
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(last, first):
    return f"{last / first:.2f}×" if first else "–"


# MARK: what the machine holds

def own_processes(name):
    """Live processes named `name` in this benchmark's network namespace, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as comm:
                command = comm.read().strip()
            if command != name or fields[0] == "Z" or os.readlink(f"/proc/{entry}/ns/net") != OWN_NETNS:
                continue
            found.append((int(fields[19]), int(entry)))   # start time, pid
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return [pid for _, pid in sorted(found)]


def process_usage(pid):
    """(descriptors, RSS KiB, PSS KiB, anonymous KiB) of a process, or None once it is gone.
    PSS also moves when other processes map the same binary; anonymous memory (heap, stacks)
    is the process's own."""
    try:
        descriptors = len(os.listdir(f"/proc/{pid}/fd"))
        usage = {}
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Anonymous"):
                    usage[key] = int(rest.split()[0])
        return descriptors, usage.get("Rss", 0), usage.get("Pss", 0), usage.get("Anonymous", 0)
    except (FileNotFoundError, ProcessLookupError):
        return None


def ruleset():
    """(tables, chains, rules, set and map elements) of the namespace's nftables ruleset."""
    _, text = run(["nft", "-j", "list", "ruleset"])
    counts = {"table": 0, "chain": 0, "rule": 0, "elements": 0}
    for item in json.loads(text).get("nftables", []):
        for kind in ("table", "chain", "rule"):
            if kind in item:
                counts[kind] += 1
        for kind in ("set", "map"):
            if kind in item:
                counts["elements"] += len(item[kind].get("elem", []))
    return counts


STORE_TABLES = ["ipam_leases", "endpoints", "docker_endpoints", "firewall_attachments", "dns_records", "sandboxes", "networks"]


def store_rows():
    """Row counts of the store's tables, read without writing (a read-only connection never
    checkpoints or removes the WAL), and the WAL's size, taken first."""
    try:
        wal = os.stat(f"{STORE}-wal").st_size
    except FileNotFoundError:
        wal = 0
    rows = {}
    if os.path.exists(STORE):
        database = sqlite3.connect(f"file:{STORE}?mode=ro", uri=True, timeout=10)
        try:
            for table in STORE_TABLES:
                rows[table] = database.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            database.close()
    else:
        rows = {table: 0 for table in STORE_TABLES}
    return rows, wal


def cache_entries():
    results = f"{CNI_CACHE}/results"
    return len(os.listdir(results)) if os.path.isdir(results) else 0


def snapshot():
    rows, wal = store_rows()
    _, link_text = run(["ip", "-o", "link"])
    state = dict(rows)
    state.update(ruleset())
    state["wal"] = wal
    state["links"] = len(link_text.splitlines())
    state["netns"] = len(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else 0
    state["cache"] = cache_entries()
    state["proxies"] = len(own_processes("netctl-proxy"))
    state["resolvers"] = len(own_processes("netctl-dns"))
    return state


STATE_COLUMNS = [
    ("nft rules", "rule"), ("nft elements", "elements"), ("leases", "ipam_leases"), ("endpoints", "endpoints"),
    ("Docker endpoints", "docker_endpoints"), ("firewall records", "firewall_attachments"), ("DNS records", "dns_records"), ("sandboxes", "sandboxes"),
    ("links", "links"), ("netns", "netns"), ("CNI cache", "cache"), ("netctl-proxy", "proxies"),
    ("netctl-dns", "resolvers"), ("WAL KiB", "wal"),
]


def state_table(title, rows):
    """rows: (label, snapshot) or (label, snapshot, label of the row it should equal); a value
    that differs from that row's is in bold (the WAL's size is never: it moves by design)."""
    lines = [f"| {title} | " + " | ".join(name for name, _ in STATE_COLUMNS) + " |",
             "|---|" + "---:|" * len(STATE_COLUMNS)]
    by_label = {row[0]: row[1] for row in rows}
    for row in rows:
        label, state = row[0], row[1]
        reference = by_label.get(row[2]) if len(row) > 2 else None
        cells = []
        for _, key in STATE_COLUMNS:
            value = state[key]
            text = f"{value / 1024:.0f}" if key == "wal" else str(value)
            cells.append(f"**{text}**" if reference is not None and key != "wal" and value != reference[key] else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wait_for_quiet(limit=30):
    """Waits until no netctl-proxy or netctl-dns of ours is left (the resolver exits 10 s after
    its last network); what is left after `limit` seconds is stopped by PID and named."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if not own_processes("netctl-proxy") and not own_processes("netctl-dns"):
            return []
        time.sleep(0.25)
    left = [(name, pid) for name in ("netctl-proxy", "netctl-dns") for pid in own_processes(name)]
    for _, pid in left:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    return left


def stop_ours():
    """At exit, a failed run too: what this run started and is still running in its namespace
    (proxies, the resolver, netctld) is stopped by PID, so nothing outlives the sandbox."""
    for name in ("netctld", "netctl-proxy", "netctl-dns"):
        for pid in own_processes(name):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass


atexit.register(stop_ours)


# MARK: setup

def setup():
    run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    os.makedirs(CNI_PLUGINS, exist_ok=True)
    os.makedirs(CNI_CONF, exist_ok=True)
    for name in ("bridge", "host-local", "portmap", "loopback"):
        link = f"{CNI_PLUGINS}/{name}"
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(f"{BUILD}/netctl-cni", link)


def conflist(name, bridge, subnet, portmap):
    plugins = [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]}}]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    with open(f"{CNI_CONF}/{name}.conflist", "w") as file:
        json.dump({"cniVersion": "1.1.0", "name": name, "plugins": plugins}, file)


def port_args(first_host, first_container, count):
    return json.dumps({"portMappings": [{"hostPort": first_host + index, "containerPort": first_container + index,
                                         "protocol": "tcp"} for index in range(count)]})


def delete_bridge(name):
    run(["ip", "link", "del", name], check=False)


# MARK: scale

def growth_row(label, times, span):
    first, last = times[:span], times[-span:]
    return (f"| {label} | {ms(med(first))} | {ms(p99(first))} | {ms(med(last))} | {ms(p99(last))} "
            f"| {ratio(med(last), med(first))} | {ratio(p99(last), p99(first))} "
            f"| {ms(med(cpu(first)))} | {ms(med(cpu(last)))} | {ratio(med(cpu(last)), med(cpu(first)))} |")


def scale_cni(count, span):
    progress(f"scale, cnitool: {count} containers")
    conflist("loadscale", "lsc0", "10.252.0.0/16", portmap=False)
    base_links = links()
    before = snapshot()
    names = [f"lsc{index}" for index in range(count)]
    growth, teardown, states = [], [], [("start", before)]
    for number in (1, 2):
        ip_batch(f"netns add {name}" for name in names)
        adds = []
        for index, name in enumerate(names):
            adds.append(cnitool("add", "loadscale", f"/run/netns/{name}", "--container-id", f"lsc-{index}")[0])
            if index % 250 == 249:
                progress(f"  pass {number}: {index + 1} ADDs, last {ms(adds[-1])} ms")
        growth.append(growth_row(f"cnitool ADD (bridge + host-local), pass {number}", adds, span))
        full = snapshot()
        if number == 1:
            states.append((f"{count} attached", full))
            removal = ip_batch(f"netns del {name}" for name in names)
            reclaim = wait_for_links(base_links + 1)   # the bridge stays
            collect, _ = cnitool("gc", "loadscale")
            states.append(("namespaces deleted, `cnitool gc`", snapshot(), "start"))
            teardown.append(f"| cnitool, pass 1 | `ip -batch` netns del ×{count}: {ms(removal)} ms; the kernel's removal "
                            f"of the veths after it: {ms(reclaim)} ms | `cnitool gc loadscale` (a DEL of each of the {count} "
                            f"cached attachments, then GC of each plugin): **{ms(collect)} ms** |")
        else:
            deletes = []
            for index, name in enumerate(names):
                deletes.append(cnitool("del", "loadscale", f"/run/netns/{name}", "--container-id", f"lsc-{index}")[0])
            growth.append(growth_row(f"cnitool DEL, pass 2 (first: {count} attached; last: ≤ {span})", deletes, span))
            removal = ip_batch(f"netns del {name}" for name in names)
            reclaim = wait_for_links(base_links + 1)
            states.append(("DEL of each, namespaces deleted", snapshot(), "start"))
            teardown.append(f"| cnitool, pass 2 | {count} × `cnitool del`: **{sum(deletes) / 1000:.1f} s** "
                            f"(median {ms(med(deletes))} ms) | `ip -batch` netns del ×{count}: {ms(removal)} ms, "
                            f"links gone {ms(reclaim)} ms later |")
    delete_bridge("lsc0")
    return growth, teardown, states


def scale_netctl(count, span):
    progress(f"scale, netctl: {count} sandboxes")
    base_links = links()
    before = snapshot()
    netctl("network", "create", "loadscale", "--subnet", "10.253.0.0/16", "-o", "com.docker.network.bridge.name=lsn0")
    names = [f"lsn{index}" for index in range(count)]
    growth, teardown, states = [], [], [("start", before), ("network created", snapshot())]
    processes = []
    for number in (1, 2):
        creates = [netctl("sandbox", "create", name)[0] for name in names]
        connects = []
        for index, name in enumerate(names):
            connects.append(netctl("connect", "loadscale", name)[0])
            if index % 250 == 249:
                progress(f"  pass {number}: {index + 1} connects, last {ms(connects[-1])} ms")
        growth.append(growth_row(f"netctl connect, pass 1 (sandbox create beside it: median {ms(med(creates))} ms)"
                                 if number == 1 else "netctl connect, pass 2", connects, span))
        full = snapshot()
        resolver = own_processes("netctl-dns")
        if resolver:
            usage = process_usage(resolver[0])
            if usage:
                processes.append(f"netctl-dns serving {count} names (pass {number}): {usage[0]} descriptors, "
                                 f"RSS {usage[1]} KiB, PSS {usage[2]} KiB, anonymous {usage[3]} KiB")
        if number == 1:
            states.append((f"{count} connected", full))
            removal = ip_batch(f"netns del {name}" for name in names)
            reclaim = wait_for_links(base_links + 1)
            collect, _ = netctl("gc")
            states.append(("namespaces deleted, `netctl gc`", snapshot(), "network created"))
            teardown.append(f"| netctl, pass 1 | `ip -batch` netns del ×{count}: {ms(removal)} ms; the kernel's removal "
                            f"of the veths after it: {ms(reclaim)} ms | `netctl gc` (every endpoint and sandbox gone): "
                            f"**{ms(collect)} ms** |")
        else:
            remove, _ = netctl("network", "rm", "--force", "loadscale")
            reclaim = wait_for_links(base_links)
            sandboxes, _ = netctl("sandbox", "rm", *names)
            states.append(("`network rm --force`, `sandbox rm`", snapshot(), "start"))
            teardown.append(f"| netctl, pass 2 | `netctl network rm --force loadscale` ({count} endpoints): "
                            f"**{ms(remove)} ms**; links gone {ms(reclaim)} ms later | `netctl sandbox rm` of the "
                            f"{count} (one exec): {ms(sandboxes)} ms |")
    left = wait_for_quiet()
    states.append(("resolver exited" if not left else f"**stopped after 30 s: {left}**", snapshot(), "start"))
    netctl("network", "create", "loadwal", "--subnet", "10.245.0.0/24", "-o", "com.docker.network.bridge.name=lwal0")
    netctl("network", "rm", "loadwal")
    states.append(("after one more short command that commits (`network create`, `rm`)", snapshot(), "start"))
    return growth, teardown, states, processes


def part_scale(count, span):
    span = min(span, count // 2)
    print(f"## Scale: {count} containers on one bridge\n")
    growth, teardown, states, notes = [], [], [], []
    if "cni" in paths:
        cni = scale_cni(count, span)
        growth += cni[0]
        teardown += cni[1]
        states.append(("cnitool", cni[2]))
    if "netctl" in paths:
        ours = scale_netctl(count, span)
        growth += ours[0]
        teardown += ours[1]
        states.append(("netctl", ours[2]))
        notes += ours[3]
    print(f"| each call, ms (first {span} vs last {span} of {count}) | first median | first p99 | last median | last p99 "
          "| last / first median | last / first p99 | CPU first median | CPU last median | CPU last / first |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(growth))
    print("\n| teardown | removing the namespaces | collecting |")
    print("|---|---|---|")
    print("\n".join(teardown))
    for title, rows in states:
        print()
        print(state_table(title, rows))
    for note in notes:
        print(f"\n{note}")
    print()


# MARK: ports

SERVER = r"""
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen(16)
print("ready", flush=True)
while True:
    connection, _ = listener.accept()
    connection.sendall(b"load-bench-reply\n")
    connection.close()
"""

CLIENT = r"""
import socket, sys, time
start = time.perf_counter()
try:
    connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    data = connection.recv(64)
    connection.close()
    print("yes" if data.startswith(b"load-bench-reply") else "wrong reply", f"{(time.perf_counter() - start) * 1000:.2f}")
except OSError as error:
    print("no", error)
"""


class Outside:
    """A namespace of our own that reaches this one's address 192.0.2.1 over a veth pair."""

    def __init__(self):
        run(["ip", "netns", "add", "lout"])
        ip_batch(["link add lout0 type veth peer name eth0 netns lout", "addr add 192.0.2.1/24 dev lout0",
                  "link set lout0 up"])
        run(["ip", "-n", "lout", "-batch", "-"], stdin="addr add 192.0.2.2/24 dev eth0\nlink set eth0 up\n"
            "link set lo up\nroute add default via 192.0.2.1\n")

    def reach(self, address, port, netns="lout"):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        _, output = run([*prefix, sys.executable, "-c", CLIENT, address, str(port)], check=False)
        return output.strip()

    def close(self):
        run(["ip", "link", "del", "lout0"], check=False)
        run(["ip", "netns", "del", "lout"], check=False)


def serve(netns, port):
    server = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    return server


def stop(server):
    server.terminate()
    server.wait()


def levels(total, per):
    wanted = [0, total // 10, total // 2, total]
    return sorted({(level // per) * per for level in wanted})


def probe_rounds(rounds, *pairs):
    """`rounds` rounds of each (attach, detach) pair, the pairs taking turns within a round so
    that drift in the machine's load hits them alike; returns ([up], [down]) per pair."""
    samples = [([], []) for _ in pairs]
    for _ in range(rounds):
        for (attach, detach), (up, down) in zip(pairs, samples):
            up.append(attach())
            down.append(detach())
    return samples


def ports_netctl(total, per, rounds, outside):
    progress(f"ports, netctl: {total} ports, {per} per sandbox")
    before = snapshot()
    netctl("network", "create", "loadports", "--subnet", "10.254.0.0/16", "-o", "com.docker.network.bridge.name=lpn0")
    netctl("sandbox", "create", "lpprobe")
    rows, fillers, filler_times, extra = [], 0, [], []
    for level in levels(total, per):
        while fillers * per < level:
            name = f"lpf{fillers}"
            netctl("sandbox", "create", name)
            first = 20000 + fillers * per
            filler_times.append(netctl("connect", "loadports", name, "-p", f"{first}-{first + per - 1}:1000-{1000 + per - 1}")[0])
            fillers += 1
        progress(f"  {level} ports present: {rounds} rounds")
        plain, published = probe_rounds(
            rounds, (lambda: netctl("connect", "loadports", "lpprobe")[0], lambda: netctl("disconnect", "loadports", "lpprobe")[0]),
            (lambda: netctl("connect", "loadports", "lpprobe", "-p", "40000:80")[0],
             lambda: netctl("disconnect", "loadports", "lpprobe")[0]))
        state = snapshot()
        proxies = [process_usage(pid) for pid in own_processes("netctl-proxy")]
        pss = sum(usage[2] for usage in proxies if usage) / 1024
        rows.append((level, plain, published, state, pss))
    top = snapshot()
    # The last port of the last sandbox, from another namespace through the host's address
    # (DNAT) and from this namespace on 127.0.0.1 (the sandbox's netctl-proxy).
    if fillers:
        last_port = 20000 + fillers * per - 1
        server = serve(f"lpf{fillers - 1}", 1000 + per - 1)
        extra.append(f"DNAT at {fillers * per} ports: port {last_port} from another namespace to 192.0.2.1: "
                     f"{outside.reach('192.0.2.1', last_port)} (ms); on 127.0.0.1 through netctl-proxy: "
                     f"{outside.reach('127.0.0.1', last_port, netns=None)} (ms)")
        stop(server)
        extra.append(f"{fillers} sandboxes with {per} ports each: connect -p (a range of {per}) median "
                     f"{ms(med(filler_times[:10]))} ms for the first 10, {ms(med(filler_times[-10:]))} ms for the last 10; "
                     f"{top['proxies']} netctl-proxy processes, {rows[-1][4]:.1f} MiB PSS together")
    remove, _ = netctl("network", "rm", "--force", "loadports")
    netctl("sandbox", "rm", "lpprobe", *[f"lpf{index}" for index in range(fillers)])
    extra.append(f"`netctl network rm --force loadports` with {fillers + 0} endpoints and {fillers * per} ports: {ms(remove)} ms")
    left = wait_for_quiet()
    after = snapshot()
    return rows, extra, [("start", before), (f"{fillers * per} ports", top), ("removed", after, "start")], left


def ports_cni(total, per, rounds, outside):
    progress(f"ports, cnitool: {total} ports, {per} per container")
    base_links = links()
    before = snapshot()
    conflist("loadports", "lpc0", "10.249.0.0/16", portmap=True)
    run(["ip", "netns", "add", "lcprobe"])
    rows, fillers, filler_times, extra = [], 0, [], []
    mapping = port_args(40000, 80, 1)
    for level in levels(total, per):
        while fillers * per < level:
            name = f"lcf{fillers}"
            run(["ip", "netns", "add", name])
            filler_times.append(cnitool("add", "loadports", f"/run/netns/{name}", "--container-id", name,
                                        "--capability-args", port_args(20000 + fillers * per, 1000, per))[0])
            fillers += 1
        progress(f"  {level} ports present: {rounds} rounds")
        published, = probe_rounds(rounds, (
            lambda: cnitool("add", "loadports", "/run/netns/lcprobe", "--container-id", "lcprobe", "--capability-args", mapping)[0],
            lambda: cnitool("del", "loadports", "/run/netns/lcprobe", "--container-id", "lcprobe", "--capability-args", mapping)[0]))
        rows.append((level, None, published, snapshot(), 0))
    top = snapshot()
    if fillers:
        last_port = 20000 + fillers * per - 1
        server = serve(f"lcf{fillers - 1}", 1000 + per - 1)
        extra.append(f"DNAT at {fillers * per} ports: port {last_port} from another namespace to 192.0.2.1: "
                     f"{outside.reach('192.0.2.1', last_port)} (ms)")
        stop(server)
        extra.append(f"{fillers} containers with {per} ports each: ADD median {ms(med(filler_times[:10]))} ms for the "
                     f"first 10, {ms(med(filler_times[-10:]))} ms for the last 10")
    deletes = []
    for index in range(fillers):
        deletes.append(cnitool("del", "loadports", f"/run/netns/lcf{index}", "--container-id", f"lcf{index}",
                               "--capability-args", port_args(20000 + index * per, 1000, per))[0])
    if deletes:
        extra.append(f"DEL of the {fillers} containers ({per} ports each): {sum(deletes) / 1000:.1f} s in all, "
                     f"median {ms(med(deletes))} ms")
    ip_batch(["netns del lcprobe", *[f"netns del lcf{index}" for index in range(fillers)]])
    wait_for_links(base_links + 1)   # the bridge stays
    delete_bridge("lpc0")
    after = snapshot()
    return rows, extra, [("start", before), (f"{fillers * per} ports", top), ("removed", after, "start")], []


def ports_table(title, rows, rounds, plain):
    base = rows[0]
    if plain:
        print(f"| {title}, ports present | connect median | connect p99 | disconnect median | disconnect p99 "
              "| both median | both p99 | both / at 0 | both, CPU median | both / at 0, CPU | without -p: both median "
              "| without -p: both, CPU median | publish + unpublish share, CPU | nft elements |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print(f"| {title}, ports present | ADD median | ADD p99 | DEL median | DEL p99 | both median | both p99 "
              "| both / at 0 | both, CPU median | both / at 0, CPU | nft elements |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_both = [plus(a, b) for a, b in zip(*base[2])]
    for level, without, (up, down), state, _ in rows:
        both = [plus(a, b) for a, b in zip(up, down)]
        cells = [f"{level}", ms(med(up)), ms(p99(up)), ms(med(down)), ms(p99(down)), ms(med(both)), ms(p99(both)),
                 ratio(med(both), med(base_both)), ms(med(cpu(both))), ratio(med(cpu(both)), med(cpu(base_both)))]
        if plain:
            plain_both = [plus(a, b) for a, b in zip(*without)]
            cells += [ms(med(plain_both)), ms(med(cpu(plain_both))), ms(med(cpu(both)) - med(cpu(plain_both)))]
        cells.append(str(state["elements"]))
        print("| " + " | ".join(cells) + " |")


def part_ports(total, per, rounds):
    per = max(1, min(per, total)) if total else per
    print(f"## {total} published ports, {per} per container; {rounds} rounds of one more port at each count (ms)\n")
    outside = Outside()
    try:
        results = []
        if "cni" in paths:
            results.append(("cnitool, bridge + host-local + portmap, one mapping", ports_cni(total, per, rounds, outside), False))
        if "netctl" in paths:
            results.append(("netctl connect -p 40000:80", ports_netctl(total, per, rounds, outside), True))
    finally:
        outside.close()
    for title, (rows, extra, states, left), plain in results:
        ports_table(title, rows, rounds, plain)
        print()
        for line in extra:
            print(f"- {line}")
        if left:
            print(f"- **still running 30 s after the teardown, stopped: {left}**")
        print()
        print(state_table(title.split(",")[0], states))
        print()


# MARK: soak

def soak_loop(label, rounds, every, one_round, long_lived, cpu_counter=None):
    """Runs `rounds` rounds; returns the rows of the state table and of the process table.
    A round's CPU time is that of the execs it waited for, or with `cpu_counter` (a function
    returning a process's CPU milliseconds so far) that process's, averaged over the block."""
    states, usages, times, blocks = [], [], [], []
    one_round(0)   # a warm-up round, so that what the first round makes for good (a bridge) is in the baseline
    watched = {name: find() for name, find in long_lived.items()}

    def record(done):
        states.append((f"{done}", snapshot(), "0" if done else None))
        row = [f"{done}"]
        for name, pid in watched.items():
            usage = process_usage(pid) if pid else None
            now = long_lived[name]()
            row.append("gone" if usage is None else f"{usage[0]} / {usage[1]} / {usage[2]} / {usage[3]}"
                       + ("" if now == pid else f" (now PID {now})"))
        usages.append(row)

    record(0)
    counted = cpu_counter() if cpu_counter else 0
    for done in range(1, rounds + 1):
        times.append(one_round(done))
        if done % every == 0 or done == rounds:
            block = times[-every:] if done % every == 0 else times[-(done % every):]
            if cpu_counter:
                now = cpu_counter()
                block_cpu = (now - counted) / len(block)
                counted = now
            else:
                block_cpu = med(cpu(block))
            blocks.append((done, med(block), p99(block), block_cpu))
            record(done)
            progress(f"  {label}: {done} rounds, median {ms(med(block))} ms")
    return states, usages, blocks


def soak_tables(title, before, states, usages, blocks, long_lived_names, settled):
    print(f"### {title}\n")
    print("| rounds done | round median ms (the last block) | round p99 ms | round CPU ms |" + "".join(
        f" {name}: descriptors / RSS / PSS / anonymous KiB |" for name in long_lived_names))
    print("|---:|---:|---:|---:|" + "---|" * len(long_lived_names))
    timing = {done: (median, tail, used) for done, median, tail, used in blocks}
    for row in usages:
        done = int(row[0])
        median, tail, used = timing.get(done, (None, None, None))
        print(f"| {row[0]} | {ms(median) if median else '–'} | {ms(tail) if tail else '–'} | {ms(used) if used is not None else '–'} |"
              + "".join(f" {cell} |" for cell in row[1:]))
    print()
    print(state_table("rounds done", [("before setup", before)] + states + settled))
    print()


def part_soak(rounds, every):
    print(f"## Soak: {rounds} rounds\n")
    if "netctl" in paths:
        progress(f"soak, netctl: {rounds} rounds of connect -p + disconnect")
        before = snapshot()
        netctl("network", "create", "loadsoak", "--subnet", "10.248.0.0/16", "-o", "com.docker.network.bridge.name=lsk0")
        netctl("sandbox", "create", "lskidle")
        netctl("sandbox", "create", "lsk")
        netctl("connect", "loadsoak", "lskidle", "-p", "18080:80")

        def one_round(_):
            up, _ = netctl("connect", "loadsoak", "lsk", "-p", "18081:80")
            down, _ = netctl("disconnect", "loadsoak", "lsk")
            return plus(up, down)

        long_lived = {"netctl-dns": lambda: next(iter(own_processes("netctl-dns")), None),
                      "netctl-proxy of the idle sandbox": lambda: next(iter(own_processes("netctl-proxy")), None)}
        states, usages, blocks = soak_loop("netctl", rounds, every, one_round, long_lived)
        time.sleep(2)
        settled = [("2 s after the last round", snapshot(), "0")]
        netctl("disconnect", "loadsoak", "lskidle")
        netctl("sandbox", "rm", "lsk", "lskidle")
        netctl("network", "rm", "loadsoak")
        wait_for_quiet()
        settled.append(("network removed, resolver exited", snapshot(), "before setup"))
        soak_tables(f"netctl: {rounds} rounds of `connect -p 18081:80` + `disconnect` beside an idle sandbox with a port",
                    before, states, usages, blocks, list(long_lived), settled)
    if "cni" in paths:
        progress(f"soak, cnitool: {rounds} rounds of ADD + DEL")
        before = snapshot()
        conflist("loadsoak", "lsc1", "10.247.0.0/16", portmap=True)
        run(["ip", "netns", "add", "lskc"])
        mapping = port_args(18082, 80, 1)

        def one_round(done):
            up, _ = cnitool("add", "loadsoak", "/run/netns/lskc", "--container-id", f"lskc-{done}", "--capability-args", mapping)
            down, _ = cnitool("del", "loadsoak", "/run/netns/lskc", "--container-id", f"lskc-{done}", "--capability-args", mapping)
            return plus(up, down)

        states, usages, blocks = soak_loop("cnitool", rounds, every, one_round, {})
        time.sleep(2)
        settled = [("2 s after the last round", snapshot(), "0")]
        run(["ip", "netns", "del", "lskc"])
        delete_bridge("lsc1")
        cnitool("gc", "loadsoak")
        settled.append(("namespace and bridge deleted, `cnitool gc`", snapshot(), "before setup"))
        soak_tables(f"cnitool: {rounds} rounds of ADD + DEL (bridge + host-local + portmap, one port; a new container ID each round)",
                    before, states, usages, blocks, [], settled)
    if options.netctld:
        soak_netctld(rounds, every)


# MARK: netctld over Docker's plugin protocol

class PluginClient:
    def __init__(self, path):
        self.path = path

    def call(self, method, body):
        connection = http.client.HTTPConnection("localhost")
        connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.sock.connect(self.path)
        connection.request("POST", f"/{method}", json.dumps(body), {"Content-Type": "application/vnd.docker.plugins.v1.2+json"})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        answer = json.loads(data) if data else {}
        if response.status != 200 or answer.get("Err"):
            sys.exit(f"netctld {method} failed ({response.status}): {data!r}")
        return answer


def soak_netctld(rounds, every):
    progress(f"soak, netctld: {rounds} rounds over the plugin socket")
    before = snapshot()
    socket_path = "/run/netctl/load-netctld.sock"
    log = open("/run/netctl/load-netctld.log", "w")
    daemon = subprocess.Popen([f"{BUILD}/netctld", "plugin", "serve", "--socket", socket_path,
                               "--docker-host", "unix:///run/netctl/no-docker.sock"], stdout=log, stderr=log)
    for _ in range(200):
        if os.path.exists(socket_path):
            break
        time.sleep(0.05)
    client = PluginClient(socket_path)
    client.call("Plugin.Activate", {})
    pool = client.call("IpamDriver.RequestPool", {"AddressSpace": "LocalDefault", "Pool": "10.246.0.0/16", "SubPool": "",
                                                  "Options": {}, "V6": False})
    gateway = client.call("IpamDriver.RequestAddress", {"PoolID": pool["PoolID"], "Address": "",
                                                        "Options": {"RequestAddressType": "com.docker.network.gateway"}})
    network_id = "d" * 64
    client.call("NetworkDriver.CreateNetwork", {
        "NetworkID": network_id, "Options": {"com.docker.network.generic": {"com.docker.network.bridge.name": "lsd0"}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": pool["Pool"], "Gateway": gateway["Address"]}], "IPv6Data": []})

    def attach(endpoint, host_port):
        address = client.call("IpamDriver.RequestAddress", {"PoolID": pool["PoolID"], "Address": "", "Options": {}})
        client.call("NetworkDriver.CreateEndpoint", {"NetworkID": network_id, "EndpointID": endpoint,
                                                     "Interface": {"Address": address["Address"], "AddressIPv6": "", "MacAddress": ""},
                                                     "Options": {}})
        client.call("NetworkDriver.Join", {"NetworkID": network_id, "EndpointID": endpoint,
                                           "SandboxKey": f"/run/netns/{endpoint[:12]}", "Options": {}})
        client.call("NetworkDriver.ProgramExternalConnectivity", {"NetworkID": network_id, "EndpointID": endpoint, "Options": {
            "com.docker.network.portmap": [{"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": host_port, "HostPortEnd": host_port}],
            "com.docker.network.endpoint.exposedports": [{"Proto": 6, "Port": 80}]}})
        return address["Address"]

    def detach(endpoint, address):
        client.call("NetworkDriver.RevokeExternalConnectivity", {"NetworkID": network_id, "EndpointID": endpoint})
        client.call("NetworkDriver.Leave", {"NetworkID": network_id, "EndpointID": endpoint})
        client.call("NetworkDriver.DeleteEndpoint", {"NetworkID": network_id, "EndpointID": endpoint})
        client.call("IpamDriver.ReleaseAddress", {"PoolID": pool["PoolID"], "Address": address.split("/")[0]})

    idle = "e" * 64
    idle_address = attach(idle, 18090)

    def one_round(done):
        endpoint = f"{done:064x}"
        start = time.perf_counter()
        address = attach(endpoint, 18091)
        detach(endpoint, address)
        return Ms((time.perf_counter() - start) * 1000)

    long_lived = {"netctld": lambda: daemon.pid if daemon.poll() is None else None,
                  "netctl-proxy of the idle endpoint": lambda: next(iter(own_processes("netctl-proxy")), None)}
    ticks = os.sysconf("SC_CLK_TCK")

    def daemon_cpu():
        with open(f"/proc/{daemon.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / ticks

    states, usages, blocks = soak_loop("netctld", rounds, every, one_round, long_lived, cpu_counter=daemon_cpu)
    time.sleep(2)
    settled = [("2 s after the last round", snapshot(), "0")]
    detach(idle, idle_address)
    client.call("NetworkDriver.DeleteNetwork", {"NetworkID": network_id})
    client.call("IpamDriver.ReleaseAddress", {"PoolID": pool["PoolID"], "Address": gateway["Address"].split("/")[0]})
    client.call("IpamDriver.ReleasePool", {"PoolID": pool["PoolID"]})
    daemon.terminate()
    daemon.wait()
    log.close()
    wait_for_quiet()
    settled.append(("network deleted, netctld stopped", snapshot(), "before setup"))
    netctl("network", "create", "loadwal", "--subnet", "10.245.0.0/24", "-o", "com.docker.network.bridge.name=lwal0")
    netctl("network", "rm", "loadwal")
    settled.append(("after one short command that commits (`netctl network create`, `rm`)", snapshot(), "before setup"))
    soak_tables(f"netctld: {rounds} rounds of CreateEndpoint, Join, ProgramExternalConnectivity (one port), "
                "RevokeExternalConnectivity, Leave, DeleteEndpoint beside an idle endpoint with a port",
                before, states, usages, blocks, list(long_lived), settled)


# MARK: main

setup()
with open("/proc/loadavg") as loadavg:
    load_at_start = loadavg.read().split()[0]
_, kernel = run(["uname", "-r"])
label = options.label or BUILD
print(f"kernel {kernel.strip()}, {os.cpu_count()} CPUs, load average {load_at_start} at the start; build {os.path.basename(os.path.dirname(label))}/{os.path.basename(label)}. "
      "Times are wall time of each exec (fork and exec from the driver included), in ms; "
      "descriptors and memory from /proc/PID/fd and /proc/PID/smaps_rollup; a changed value is in bold.\n")
if "scale" in parts:
    part_scale(options.containers, options.span)
if "ports" in parts:
    part_ports(options.ports, options.ports_per, options.port_rounds)
if "soak" in parts:
    part_soak(options.soak_rounds, options.soak_every)
with open("/proc/loadavg") as loadavg:
    print(f"Load average at the end: {loadavg.read().split()[0]}; the whole run took {(time.time() - started) / 60:.1f} min.")
