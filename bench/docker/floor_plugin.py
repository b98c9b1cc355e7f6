#!/usr/bin/env python3
"""The floor: a Docker remote NetworkDriver + IpamDriver that does next to nothing, so that
`docker network connect`, `disconnect`, `run` and `rm` on its network measure what dockerd (and
the CLI) spend around any remote driver: the plugin HTTP round trips, moving an interface into
the container and configuring it, the sandbox's files and DNS.

Join hands dockerd a veth end made before the timed command (bench.py makes a spare pair,
vfl<N> and vfl<N>p, between commands); Leave deletes the pair from its host end as netctl
does, leaving the kernel's reclaim to a forked child (the names are gone at once; dockerd then
has nothing to move back). Only when no spare is left does a call make one (`ip link add`, slow,
logged). Addresses come from one pool in order.

    floor_plugin.py SOCKET [SUBNET]     (SUBNET default 10.212.0.0/24)

Serves until SIGTERM. Logs each call with its own time, in netctld's --verbose format.
"""
import ipaddress, json, os, signal, socket, socketserver, struct, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler

socket_path = sys.argv[1]
subnet = ipaddress.ip_network(sys.argv[2] if len(sys.argv) > 2 else "10.212.0.0/24")
PREFIX = "vfl"
lock = threading.Lock()
by_endpoint = {}   # endpoint ID -> the veth end handed to dockerd
leased = set()


def spare():
    """A vfl<N> whose peer is up on the host and that no endpoint holds."""
    held = set(by_endpoint.values())
    for name in sorted(os.listdir("/sys/class/net")):
        if name.startswith(PREFIX) and name[len(PREFIX):].isdigit() and name not in held:
            return name
    name = f"{PREFIX}{int(time.time() * 1000) % 10**9}"
    sys.stderr.write(f"floor: no spare veth pair, making {name} in the call\n")
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    subprocess.run(["ip", "link", "set", name + "p", "up"], check=True)
    return name


RTM_DELLINK, NLM_F_REQUEST, NLM_F_ACK = 17, 1, 4
children = []


def delete_pair(name):
    """Deletes the pair from its host end and returns once its names are gone. A forked child
    sends RTM_DELLINK and waits out the kernel's reclaim in its stead (the request returns
    only after it, ~15 ms), as netctl's hand-off does; the pair leaves its namespaces at once."""
    peer = name + "p"
    try:
        with open(f"/sys/class/net/{peer}/ifindex") as file:
            index = int(file.read())
    except OSError:
        return
    request = struct.pack("=IHHII", 32, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + struct.pack("=BxHiII", 0, 0, index, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            link = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            link.send(request)
            link.recv(4096)
        finally:
            os._exit(0)
    children.append(pid)
    deadline = time.monotonic() + 1
    while os.path.exists(f"/sys/class/net/{peer}") and time.monotonic() < deadline:
        time.sleep(0.0002)
    for child in list(children):
        if os.waitpid(child, os.WNOHANG)[0]:
            children.remove(child)


def next_address():
    for host in subnet.hosts():
        if host == next(subnet.hosts()):
            continue  # the gateway
        if str(host) not in leased:
            leased.add(str(host))
            return str(host)
    raise RuntimeError("pool used up")


def handle(path, request):
    if path == "/Plugin.Activate":
        return {"Implements": ["NetworkDriver", "IpamDriver"]}
    if path == "/NetworkDriver.GetCapabilities":
        return {"Scope": "local", "ConnectivityScope": "local"}
    if path == "/NetworkDriver.CreateEndpoint":
        return {"Interface": {}}
    if path == "/NetworkDriver.EndpointOperInfo":
        return {"Value": {}}
    if path == "/NetworkDriver.Join":
        with lock:
            name = spare()
            by_endpoint[request["EndpointID"]] = name
        return {"InterfaceName": {"SrcName": name, "DstPrefix": "eth"},
                "Gateway": str(next(subnet.hosts()))}
    if path == "/NetworkDriver.Leave":
        with lock:
            name = by_endpoint.get(request["EndpointID"])
        if name:
            delete_pair(name)
        return {}
    if path == "/NetworkDriver.DeleteEndpoint":
        with lock:
            by_endpoint.pop(request["EndpointID"], None)
        return {}
    if path == "/IpamDriver.GetCapabilities":
        return {"RequiresMACAddress": False}
    if path == "/IpamDriver.GetDefaultAddressSpaces":
        return {"LocalDefaultAddressSpace": "floor-local", "GlobalDefaultAddressSpace": "floor-global"}
    if path == "/IpamDriver.RequestPool":
        return {"PoolID": "floor-pool", "Pool": str(subnet), "Data": {}}
    if path == "/IpamDriver.RequestAddress":
        options = request.get("Options") or {}
        with lock:
            if options.get("RequestAddressType") == "com.docker.network.gateway":
                address = str(next(subnet.hosts()))
            elif request.get("Address"):
                address = request["Address"]
                leased.add(address)
            else:
                address = next_address()
        return {"Address": f"{address}/{subnet.prefixlen}", "Data": {}}
    if path == "/IpamDriver.ReleaseAddress":
        with lock:
            leased.discard(request.get("Address", ""))
        return {}
    # CreateNetwork, DeleteNetwork, Program/RevokeExternalConnectivity, Discover*,
    # ReleasePool: nothing to do.
    return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            request = json.loads(body) if body.strip() else {}
            status, answer = 200, handle(self.path, request)
        except Exception as error:  # noqa: BLE001 - the answer carries it to dockerd
            status, answer = 500, {"Err": str(error)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        milliseconds = (time.perf_counter() - started) * 1000
        sys.stderr.write(f"floor: {self.path} {status} {milliseconds:.1f} ms\n")
        sys.stderr.flush()

    def log_message(self, *args):
        pass

    def address_string(self):
        return "dockerd"


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = Server(socket_path, Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()
    os.unlink(socket_path)
