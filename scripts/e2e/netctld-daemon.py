#!/usr/bin/env python3
"""netctld as a daemon, driven by Tests/EndToEndTests/NetctldDaemonTests.swift in the test
sandbox: a socket systemd would pass (LISTEN_FDS), SIGTERM, a second server on a live socket,
a stale socket file. Prints "PASS <step>" / "FAIL <step>".
Usage: netctld-daemon.py NETCTLD"""
import http.client, os, signal, socket, subprocess, sys, tempfile, time

netctld = sys.argv[1]
work = tempfile.mkdtemp(prefix="netctld-daemon-")
os.environ["NETCTL_STATE_DIR"] = os.path.join(work, "state")


def step(name, got, want):
    print(f"PASS {name}" if got == want else f"FAIL {name}: got {got!r}, want {want!r}", flush=True)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(path, method, body=b""):
    connection = UnixHTTP(path)
    connection.request("POST", "/" + method, body=body)
    response = connection.getresponse()
    return response.status, response.read().decode()


def wait_for(path):
    for _ in range(200):
        try:
            return call(path, "Plugin.Activate")
        except OSError:
            time.sleep(0.025)
    return None


# Socket activation: the socket is bound and listening before netctld starts, as systemd does.
activated = os.path.join(work, "activated.sock")
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(activated)
listener.listen(8)
pid = os.fork()
if pid == 0:
    if listener.fileno() == 3:
        os.set_inheritable(3, True)
    else:
        os.dup2(listener.fileno(), 3)
    os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
    os.execv(netctld, [netctld, "plugin", "serve", "--socket", os.path.join(work, "unused.sock")])
listener.close()
step("answers on the socket it was passed", wait_for(activated),
     (200, '{"Implements":["NetworkDriver","IpamDriver"]}'))
step("binds no socket of its own when passed one", os.path.exists(os.path.join(work, "unused.sock")), False)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
step("SIGTERM: exit 0", os.waitstatus_to_exitcode(status), 0)
step("the passed socket's file stays (systemd's)", os.path.exists(activated), True)

# Its own socket: answered, kept-alive, a second server refused, removed on SIGTERM.
own = os.path.join(work, "plugins", "netctl.sock")
server = subprocess.Popen([netctld, "plugin", "serve", "--socket", own], stderr=subprocess.PIPE)
step("answers on its own socket", wait_for(own), (200, '{"Implements":["NetworkDriver","IpamDriver"]}'))
step("the socket is root's only", oct(os.stat(own).st_mode & 0o777), "0o600")
connection = UnixHTTP(own)
answers = []
for method in ["NetworkDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces", "NetworkDriver.Nothing"]:
    connection.request("POST", "/" + method, body=b"{}")
    response = connection.getresponse()
    answers.append(response.status)
    response.read()
step("one connection carries several calls", answers, [200, 200, 404])
connection.request("GET", "/Plugin.Activate")
response = connection.getresponse()
step("a GET is refused", (response.status, "POST" in response.read().decode()), (405, True))
second = subprocess.run([netctld, "plugin", "serve", "--socket", own], stderr=subprocess.PIPE, timeout=10)
step("a second server on a live socket is refused", (second.returncode != 0, b"another process serves" in second.stderr), (True, True))
server.send_signal(signal.SIGTERM)
server.wait(timeout=10)
log = server.stderr.read().decode()
step("SIGTERM: exit 0, logged", (server.returncode, "stopped" in log), (0, True))
step("its socket file is removed", os.path.exists(own), False)

# A socket file left by a server killed outright is replaced.
killed = subprocess.Popen([netctld, "plugin", "serve", "--socket", own], stderr=subprocess.DEVNULL)
wait_for(own)
killed.kill()
killed.wait()
restarted = subprocess.Popen([netctld, "plugin", "serve", "--socket", own], stderr=subprocess.DEVNULL)
step("a stale socket file is replaced", wait_for(own), (200, '{"Implements":["NetworkDriver","IpamDriver"]}'))
restarted.send_signal(signal.SIGTERM)
restarted.wait(timeout=10)

# SIGTERM the moment the socket file appears (a supervisor that stops what it just started):
# the handler is in place before the socket is, so the signal is never lost.
outcomes = []
for _ in range(5):
    early = subprocess.Popen([netctld, "plugin", "serve", "--socket", own], stderr=subprocess.DEVNULL)
    for _ in range(4000):
        if os.path.exists(own):
            break
        time.sleep(0.0005)
    early.send_signal(signal.SIGTERM)
    try:
        outcomes.append(early.wait(timeout=10))
    except subprocess.TimeoutExpired:
        early.kill()
        early.wait()
        outcomes.append("still running 10 s after SIGTERM")
step("SIGTERM as soon as the socket appears: exit 0 (5 tries)", outcomes, [0] * 5)
