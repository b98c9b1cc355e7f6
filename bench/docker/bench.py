#!/usr/bin/env python3
"""The Docker tables: netctl's plugin (netctld) against Docker's own bridge driver (iptables and
docker-proxy), both on one dockerd, in one run, round by round in turn (the order rotates every
round, so drift in the machine's load hits every side alike). bench/docker/run.sh starts the
daemons in namespaces of its own and calls this; it prints markdown.

    bench.py --host unix://DIR/docker.sock --netctld-pid PID --netctld-log FILE --floor-log FILE
             [--rounds 100] [--run-rounds 100] [--ports 50] [--outside NETNS]

The networks (made here, removed at the end):
    dbr  `-d bridge`                               Docker's bridge driver (a user-defined bridge)
    nbr  `-d netctl --ipam-driver netctl`          netctl's plugin
    fbr  `-d floor --ipam-driver floor`            floor_plugin.py: a remote driver that does
                                                   next to nothing, so dockerd's own share shows
Wall time is that of each /usr/bin/docker command (fork, exec and the CLI's own work included);
the plugins' time is summed from their per-call log lines written during that command.
"""
import argparse, http.client, json, os, re, socket, statistics, subprocess, sys, time

DOCKER = "/usr/bin/docker"
LOG_LINE = re.compile(r"^(?:netctld|floor): (/\S+) (\d+) ([0-9.]+) ms")

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--netctld-pid", type=int, required=True)
parser.add_argument("--netctld-log", required=True)
parser.add_argument("--floor-log", required=True)
parser.add_argument("--rounds", type=int, default=100, help="connect + disconnect rounds per network")
parser.add_argument("--run-rounds", type=int, default=100, help="run -d -p + rm -f rounds per network")
parser.add_argument("--ports", type=int, default=50, help="published ports in the memory table")
parser.add_argument("--outside", help="a namespace that reaches this one (192.0.2.1), for the DNAT check")
options = parser.parse_args()

if not os.environ.get("NETCTL_SANDBOX"):
    sys.exit("run it through bench/docker/run.sh: it needs the sandbox")
load_at_start = open("/proc/loadavg").read().split()[0]


def docker(*args, check=True):
    result = subprocess.run([DOCKER, "-H", options.host, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"docker {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout.strip()


class PluginLog:
    """Reads what a plugin logged since the last read: its calls and their milliseconds."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path)

    def since(self):
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        # A line still being written stays for the next read.
        end = data.rfind(b"\n") + 1
        self.offset += end
        calls = []
        for line in data[:end].decode(errors="replace").splitlines():
            match = LOG_LINE.match(line)
            if match:
                calls.append((match.group(1), int(match.group(2)), float(match.group(3))))
        return calls


logs = {"netctl": PluginLog(options.netctld_log), "floor": PluginLog(options.floor_log)}


def timed(log_name, *args):
    """Runs one docker command; returns (wall ms, the plugin's ms during it, its calls)."""
    log = logs.get(log_name)
    if log:
        log.since()
    start = time.perf_counter()
    docker(*args)
    wall = (time.perf_counter() - start) * 1000
    calls = log.since() if log else []
    failed = [call for call in calls if call[1] != 200]
    if failed:
        sys.exit(f"docker {' '.join(args)}: the plugin answered {failed}")
    return wall, sum(call[2] for call in calls), calls


per_call = {}  # (side, command, call) -> that call's milliseconds in each round (summed when made twice)


def record_calls(side, command, calls):
    sums = {}
    for path, _, milliseconds in calls:
        key = (side, command, path.split(".")[-1])
        sums[key] = sums.get(key, 0) + milliseconds
    for key, milliseconds in sums.items():
        per_call.setdefault(key, []).append(milliseconds)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("docker")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def api_timed(log_name, path, body):
    """POSTs to dockerd's API on a new connection, as the CLI does, without the CLI's exec."""
    log = logs.get(log_name)
    if log:
        log.since()
    start = time.perf_counter()
    connection = UnixConnection(options.host.removeprefix("unix://"))
    connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    wall = (time.perf_counter() - start) * 1000
    if response.status >= 300:
        sys.exit(f"POST {path}: {response.status} {data!r}")
    calls = log.since() if log else []
    return wall, sum(call[2] for call in calls)


def http_status(port, address="127.0.0.1", netns=None, timeout=3.0):
    """The status line's code of GET / (busybox httpd without an index answers 404)."""
    if netns:
        code = ("import socket,sys\n"
                "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3)\n"
                "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
                "print(s.recv(64).split(b' ')[1].decode())\n")
        result = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", code, address, str(port)],
                                capture_output=True, text=True)
        return result.stdout.strip() or result.stderr.strip().splitlines()[-1:]
    with socket.create_connection((address, port), timeout=timeout) as connection:
        connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = connection.recv(64).split(b" ")
        # An empty reply: the proxy accepted, the container's server was not listening yet.
        return reply[1].decode() if len(reply) > 1 else "an empty reply"


def serves(port, deadline=5.0):
    """Waits until the published port answers 404 from the container's httpd."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            last = http_status(port)
            if last == "404":
                return True
        except OSError as error:
            last = error
        time.sleep(0.02)
    sys.exit(f"published port {port} does not serve: {last}")


spares = 0


def make_spare():
    """A veth pair for the floor plugin's next Join, made outside the timed commands."""
    global spares
    name = f"vfl{spares}"
    spares += 1
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    subprocess.run(["ip", "link", "set", name + "p", "up"], check=True)


def settle(name):
    """Waits until the plugin has answered every call of the last command (dockerd may finish
    a container's network teardown after `rm -f` returned), then a moment more."""
    if name == "floor":
        make_spare()
    log = logs.get(name)
    if not log:
        time.sleep(0.15)
        return
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.15:
        if log.since():
            quiet_since = time.monotonic()
        time.sleep(0.02)


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def median(values):
    return statistics.median(values)


ARMS = [("docker", "dbr", "Docker's bridge driver"), ("netctl", "nbr", "netctl's plugin"), ("floor", "fbr", "floor plugin")]


def rotated(items, index):
    shift = index % len(items)
    return items[shift:] + items[:shift]


# --- the networks
make_spare()
docker("network", "create", "-d", "bridge", "--subnet", "10.210.0.0/24", "dbr")
docker("network", "create", "-d", "netctl", "--ipam-driver", "netctl", "--subnet", "10.211.0.0/24", "nbr")
docker("network", "create", "-d", "floor", "--ipam-driver", "floor", "--subnet", "10.212.0.0/24", "fbr")


def pids_of(executable):
    own = os.readlink("/proc/self/ns/net")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") == executable and os.readlink(f"/proc/{entry}/ns/net") == own:
                found.append(int(entry))
        except OSError:
            continue
    return found


# netctld starts the netctl-proxy beside its own executable.
netctl_proxy = os.path.join(os.path.dirname(os.readlink(f"/proc/{options.netctld_pid}/exe")), "netctl-proxy")

# --- every side publishes for real: loopback (the proxies) and another namespace (DNAT)
checks = []
for name, network, _ in ARMS[:2]:
    port = {"docker": 17001, "netctl": 17002}[name]
    docker("run", "-d", "--name", "bench-check", "--network", network, "-p", f"0.0.0.0:{port}:80", "bb", "httpd", "-f", "-p", "80")
    serves(port)
    outside = http_status(port, "192.0.2.1", options.outside) if options.outside else "not checked"
    proxies = {"docker": len(pids_of("/usr/sbin/docker-proxy")), "netctl": len(pids_of(netctl_proxy))}
    checks.append(f"{name}: loopback 404, outside namespace {outside}, docker-proxy {proxies['docker']}, netctl-proxy {proxies['netctl']}")
    docker("rm", "-f", "bench-check")
    settle(name)
    if options.outside and outside != "404":
        sys.exit(f"{name}: port {port} from the outside namespace gave {outside}")

# --- connect + disconnect of a running container
# One container for every side, on Docker's default `bridge` network (docker0), which stays its
# gateway endpoint: dockerd orders endpoints by network name, and "bridge" sorts before dbr, fbr
# and nbr, so every connect adds a second interface and nothing else moves.
docker("run", "-d", "--name", "bench-conn", "bb", "sleep", "1000000")
for name, network, _ in ARMS:
    subnet = {"dbr": "10.210.0.", "nbr": "10.211.0.", "fbr": "10.212.0."}[network]
    for _ in range(3):  # warm-up, and a check that connect adds an interface with an address
        docker("network", "connect", network, "bench-conn")
        addresses = docker("exec", "bench-conn", "ip", "-o", "-4", "addr").split()
        if not any(word.startswith(subnet) for word in addresses):
            sys.exit(f"connect {network}: no address in {subnet}0/24 in the container: {' '.join(addresses)}")
        docker("network", "disconnect", network, "bench-conn")
        settle(name)

connect = {name: {"connect": [], "disconnect": [], "both": [], "plugin connect": [], "plugin disconnect": [],
                  "plugin both": [], "api connect": [], "api disconnect": [], "api both": []} for name, _, _ in ARMS}
network_ids = {network: docker("network", "inspect", "-f", "{{.Id}}", network) for _, network, _ in ARMS}
cli_floor = []
connect_calls = {}
for index in range(options.rounds):
    for name, network, _ in rotated(ARMS, index):
        up, up_plugin, up_calls = timed(name, "network", "connect", network, "bench-conn")
        down, down_plugin, down_calls = timed(name, "network", "disconnect", network, "bench-conn")
        settle(name)
        connect_calls.setdefault(name, ([c[0] for c in up_calls], [c[0] for c in down_calls]))
        record_calls(name, "connect", up_calls)
        record_calls(name, "disconnect", down_calls)
        row = connect[name]
        row["connect"].append(up)
        row["disconnect"].append(down)
        row["both"].append(up + down)
        row["plugin connect"].append(up_plugin)
        row["plugin disconnect"].append(down_plugin)
        row["plugin both"].append(up_plugin + down_plugin)
        # The same through the API, without the CLI.
        up, _ = api_timed(name, f"/v1.41/networks/{network_ids[network]}/connect", {"Container": "bench-conn"})
        down, _ = api_timed(name, f"/v1.41/networks/{network_ids[network]}/disconnect", {"Container": "bench-conn"})
        settle(name)
        row["api connect"].append(up)
        row["api disconnect"].append(down)
        row["api both"].append(up + down)
    cli_floor.append(timed(None, "network", "inspect", "-f", "{{.Id}}", "dbr")[0])
docker("rm", "-f", "bench-conn")

# --- run -d -p + rm -f of one container
RUN_ARMS = ARMS + [("none", "none", "--network none, no -p")]
runs = {name: {"run": [], "rm": [], "both": [], "plugin run": [], "plugin rm": [], "plugin both": []} for name, _, _ in RUN_ARMS}
run_calls = {}
base_port = {"docker": 18000, "netctl": 19000, "floor": 20000}
for index in range(-3, options.run_rounds):  # three warm-up rounds
    for name, network, _ in rotated(RUN_ARMS, index):
        publish = ["-p", f"0.0.0.0:{base_port[name] + index % 1000}:80"] if name != "none" else []
        started, start_plugin, start_calls = timed(name, "run", "-d", "--name", "bench-run", "--network", network, *publish,
                                                   "bb", "httpd", "-f", "-p", "80")
        if name in ("docker", "netctl"):
            serves(base_port[name] + index % 1000)
        removed, remove_plugin, remove_calls = timed(name, "rm", "-f", "bench-run")
        settle(name)
        if index < 0:
            continue
        run_calls.setdefault(name, ([c[0] for c in start_calls], [c[0] for c in remove_calls]))
        record_calls(name, "run", start_calls)
        record_calls(name, "rm", remove_calls)
        row = runs[name]
        row["run"].append(started)
        row["rm"].append(removed)
        row["both"].append(started + removed)
        row["plugin run"].append(start_plugin)
        row["plugin rm"].append(remove_plugin)
        row["plugin both"].append(start_plugin + remove_plugin)


# --- memory for published ports
def memory(pid):
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Anonymous"):
                    values[key] = int(rest.split()[0])
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    values["Threads"] = int(line.split()[1])
    except OSError:
        return {"Rss": 0, "Pss": 0, "Anonymous": 0, "Threads": 0}
    return values


def total(pids):
    figures = [memory(pid) for pid in pids]
    return {"processes": len(pids), "threads": sum(f["Threads"] for f in figures),
            **{key: sum(f[key] for f in figures) / 1024 for key in ("Rss", "Pss", "Anonymous")}}


def measure(label):
    docker_side = total(pids_of("/usr/sbin/docker-proxy"))
    proxies = total(pids_of(netctl_proxy))
    daemon = total([options.netctld_pid])
    netctl_side = {key: proxies[key] + daemon[key] for key in proxies}
    return label, docker_side, proxies, daemon, netctl_side


idle = total([options.netctld_pid])
shapes = []
count = options.ports
serve_many = f"i=8000; while [ $i -lt {8000 + count} ]; do httpd -p $i; i=$((i+1)); done; exec sleep 1000000"
SHAPES = [
    # (label, host address in -p ("" for none), containers, ports per container)
    (f"{count} containers, `-p 0.0.0.0:PORT:80`", "0.0.0.0:", count, 1),
    (f"{count} containers, `-p PORT:80`", "", count, 1),
    (f"one container, `-p 0.0.0.0:P1-P{count}:8000-{8000 + count - 1}`", "0.0.0.0:", 1, count),
]
for shape, (label, host, containers, ports) in enumerate(SHAPES):
    names = {"docker": [], "netctl": []}
    for name, network, _ in ARMS[:2]:
        base = 21000 + 1000 * (2 * shape + (name == "netctl"))
        for index in range(containers):
            container = f"bench-mem-{name}-{index}"
            names[name].append(container)
            if ports == 1:
                docker("run", "-d", "--name", container, "--network", network, "-p", f"{host}{base + index}:80",
                       "bb", "httpd", "-f", "-p", "80")
            else:
                docker("run", "-d", "--name", container, "--network", network,
                       "-p", f"{host}{base}-{base + ports - 1}:8000-{8000 + ports - 1}", "bb", "sh", "-c", serve_many)
    for name in ("docker", "netctl"):
        base = 21000 + 1000 * (2 * shape + (name == "netctl"))
        for index in range(count):
            serves(base + index)
    time.sleep(1)
    shapes.append(measure(label))
    for name in ("docker", "netctl"):
        docker("rm", "-f", *names[name])
        settle(name)
    time.sleep(1)

for network in ("dbr", "nbr", "fbr"):
    docker("network", "rm", network)

# --- the tables
docker_version = docker("version", "-f", "{{.Server.Version}}")
print(f"{os.uname().release}, {os.cpu_count()} cores, load average {load_at_start} at the start and "
      f"{open('/proc/loadavg').read().split()[0]} at the end; "
      f"dockerd {docker_version} (--iptables=true, docker0, userland proxy on); wall time of each `docker` command in ms; "
      f"p99 is the {round(0.99 * (options.rounds - 1)) + 1}th of {options.rounds} (connect) and "
      f"the {round(0.99 * (options.run_rounds - 1)) + 1}th of {options.run_rounds} (run) sorted values.")
print()
print("Checks before timing: " + "; ".join(checks) + ".")
print()


def ratio(ours, theirs):
    return f"{ours / theirs:.2f}×" if theirs else "—"


def table(title, data, keys, labels, rounds, ours="netctl", theirs="docker", floor_names=("floor",)):
    print(f"| {title} | netctl median | netctl p99 | Docker bridge median | Docker bridge p99 | ratio median | ratio p99 |"
          + "".join(f" {data_label(f)} median | {data_label(f)} p99 |" for f in floor_names))
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(floor_names))
    for key, label in zip(keys, labels):
        a, b = data[ours][key], data[theirs][key]
        cells = "".join(f" {median(data[f][key]):.1f} | {p99(data[f][key]):.1f} |" for f in floor_names)
        print(f"| {label} | {median(a):.1f} | {p99(a):.1f} | {median(b):.1f} | {p99(b):.1f} | {ratio(median(a), median(b))} "
              f"| {ratio(p99(a), p99(b))} |{cells}")
    print()


def data_label(name):
    return {"floor": "floor plugin", "none": "`--network none`"}[name]


table(f"connect + disconnect, {options.rounds} rounds (ms)", connect,
      ["connect", "disconnect", "both", "api connect", "api disconnect", "api both"],
      ["`docker network connect`", "`docker network disconnect`", "**both**",
       "API `POST /networks/ID/connect` (no CLI)", "API `POST /networks/ID/disconnect`", "API both"], options.rounds)
def where(commands, data, both_label):
    """The plugins' own time, call by call (medians over the rounds; a call made twice in a
    command counts twice), and what is left of the command's wall time."""
    print(f"| where the time goes, medians (ms) | netctl | floor plugin |")
    print("|---|---:|---:|")
    for command in commands:
        seen = []
        for path in [c.split(".")[-1] for c in (connect_calls if command in ("connect", "disconnect") else run_calls)["netctl"][
                0 if command in ("connect", "run") else 1]]:
            if path in seen:
                continue
            seen.append(path)
            cells = []
            for side in ("netctl", "floor"):
                values = per_call.get((side, command, path), [])
                cells.append(f"{median(values):.1f}" if values else "—")
            twice = [c.split(".")[-1] for c in (connect_calls if command in ("connect", "disconnect") else run_calls)["netctl"][
                0 if command in ("connect", "run") else 1]].count(path)
            print(f"| `{command}`: {path}{f' (×{twice})' if twice > 1 else ''} | {cells[0]} | {cells[1]} |")
        print(f"| `{command}`: all the plugin's calls | {median(data['netctl']['plugin ' + command]):.1f} "
              f"| {median(data['floor']['plugin ' + command]):.1f} |")
    print(f"| {both_label}: all the plugin's calls | {median(data['netctl']['plugin both']):.1f} | {median(data['floor']['plugin both']):.1f} |")
    print(f"| {both_label}: the rest (the CLI, dockerd, its work in the container) | "
          f"{median([w - p for w, p in zip(data['netctl']['both'], data['netctl']['plugin both'])]):.1f} | "
          f"{median([w - p for w, p in zip(data['floor']['both'], data['floor']['plugin both'])]):.1f} |")


where(["connect", "disconnect"], connect, "connect + disconnect")
print(f"| two `docker network inspect` (the CLI's exec and one API call, twice) | {2 * median(cli_floor):.1f} | |")
print()
table(f"run -d -p + rm -f, {options.run_rounds} rounds (ms)", runs, ["run", "rm", "both"],
      ["`docker run -d -p`", "`docker rm -f`", "**both**"], options.run_rounds, floor_names=("floor", "none"))
where(["run", "rm"], runs, "run + rm")
print()
print(f"| memory for {count} published ports | Docker: docker-proxy | netctl: netctl-proxy | netctl: netctld | netctl: both | ratio netctl / Docker |")
print("|---|---:|---:|---:|---:|---:|")
for label, docker_side, proxies, daemon, netctl_side in shapes:
    print(f"| {label}: processes / threads | {docker_side['processes']} / {docker_side['threads']} | {proxies['processes']} / {proxies['threads']} "
          f"| {daemon['processes']} / {daemon['threads']} | {netctl_side['processes']} / {netctl_side['threads']} | |")
    for key in ("Pss", "Rss", "Anonymous"):
        print(f"| {label}: {key} (MiB) | {docker_side[key]:.1f} | {proxies[key]:.1f} | {daemon[key]:.1f} | {netctl_side[key]:.1f} "
              f"| {ratio(netctl_side[key], docker_side[key])} |")
print(f"| netctld before these containers (after the timed rounds): Pss / Rss / Anonymous (MiB) | | "
      f"| {idle['Pss']:.1f} / {idle['Rss']:.1f} / {idle['Anonymous']:.1f} | | |")
