import Firewall
import Foundation
import Namespaces
import NetCore
import Netlink
import Publishing
import Testing

/// Privileged tests run only as root inside the throwaway sandbox `make test` sets up, so they
/// can never touch the machine's own interfaces, routes or ruleset.
enum Sandbox {
    static let isAvailable = getuid() == 0 && getenv("NETCTL_SANDBOX") != nil
    static let reason: Comment = "needs root inside the test sandbox (run `make test`)"
}

/// A network namespace made for one test, with a route socket opened inside it; removed
/// (with every link in it) when the test is done.
final class TestNamespace: Sendable {
    let name: String
    let namespace: NetNamespace
    let socket: RouteSocket

    init(_ role: String) throws {
        name = "fw-\(role)-\(UInt32.random(in: 0...UInt32.max))"
        namespace = try NetNamespace.create(named: name)
        // Link-local addresses would otherwise be tentative for a second or two after each
        // link comes up, and the first IPv6 connection would wait out neighbour discovery.
        try namespace.writeSysctl("net/ipv6/conf/default/accept_dad", "0")
        try namespace.writeSysctl("net/ipv6/conf/all/accept_dad", "0")
        socket = try RouteSocket.open(in: namespace)
        try socket.setLink("lo", up: true)
    }

    deinit { try? NetNamespace.delete(named: name) }

    /// Runs `arguments` inside the namespace (`ip netns exec`).
    @discardableResult
    func exec(_ arguments: String...) throws -> (status: Int32, text: String) {
        try run(["ip", "netns", "exec", name] + arguments)
    }

    /// `nft -j list table inet netctl` in this namespace, decoded; `nil` when there is no table.
    func listFirewallTable() throws -> [[String: Any]]? {
        let output = try exec("nft", "-j", "list", "table", "inet", "netctl")
        guard output.status == 0 else { return nil }
        let decoded = try JSONSerialization.jsonObject(with: Data(output.text.utf8)) as? [String: Any]
        return decoded?["nftables"] as? [[String: Any]]
    }

    /// The elements of set or map `name` in the firewall table, as nft prints them.
    func firewallElements(_ name: String) throws -> [Any] {
        for object in try listFirewallTable() ?? [] {
            if let set = (object["map"] ?? object["set"]) as? [String: Any], set["name"] as? String == name {
                return set["elem"] as? [Any] ?? []
            }
        }
        return []
    }

    func firewallChains() throws -> [String] {
        try (listFirewallTable() ?? []).compactMap { ($0["chain"] as? [String: Any])?["name"] as? String }
    }
}

struct CommandFailed: Error, CustomStringConvertible {
    let command: String
    let output: String
    var description: String { "\(command) failed: \(output)" }
}

/// Runs a command (found through `PATH`) and returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String]) throws -> (status: Int32, text: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func cidr(_ text: String) throws -> CIDR { try CIDR(parsing: text) }

func address(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "address") }

// MARK: - Servers and clients

/// Whether this kernel has SCTP (many minimal kernels leave it out).
let kernelHasSCTP: Bool = {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), Int32(IPPROTO_SCTP))
    guard descriptor >= 0 else { return false }
    close(descriptor)
    return true
}()

/// A Python server in a namespace that answers every TCP connection and UDP datagram on
/// its ports with "PEER-ADDRESS LOCAL-PORT", so a test sees who the container saw.
/// Stopped by PID when the test is done.
final class PeerEchoServer {
    private let process = Process()

    static let script = #"""
    import socket, sys, threading
    def tcp(port, protocol=0):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, protocol)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port)); s.listen(64)
        while True:
            c, peer = s.accept()
            c.sendall(("%s %d\n" % (peer[0].removeprefix("::ffff:"), port)).encode()); c.close()
    def udp(port):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        while True:
            data, peer = s.recvfrom(2048)
            s.sendto(("%s %d\n" % (peer[0].removeprefix("::ffff:"), port)).encode(), peer)
    for spec in sys.argv[1:]:
        proto, port = spec.split("/")[1], int(spec.split("/")[0])
        if proto == "sctp":
            threading.Thread(target=tcp, args=(port, socket.IPPROTO_SCTP), daemon=True).start()
        else:
            threading.Thread(target=tcp if proto == "tcp" else udp, args=(port,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    """#

    /// Starts serving `ports` ("80/tcp", "53/udp") inside `namespace` and waits until it listens.
    init(in namespace: TestNamespace, ports: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace.name, "python3", "-c", Self.script] + ports
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("ready") else {
            stop()
            throw CommandFailed(command: "peer echo server", output: line)
        }
    }

    /// Ends the server by its PID (`ip netns exec` execs python, so the PID is python's).
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// What `PeerEchoServer` answered: the client address it saw and the port it was reached on,
/// or `nil` when nothing answered within the timeout.
func ask(from namespace: TestNamespace, _ host: String, _ port: UInt16, transport: TransportProtocol = .tcp,
         timeout: Double = 2) throws -> String? {
    let script = #"""
    import socket, sys
    host, port, proto, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        if proto == "tcp":
            s = socket.create_connection((host, port), timeout=timeout)
            print(s.recv(200).decode().strip())
        elif proto == "sctp":
            s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_SCTP); s.settimeout(timeout)
            s.connect((host, port))
            print(s.recv(200).decode().strip())
        else:
            s = socket.socket(family, socket.SOCK_DGRAM); s.settimeout(timeout)
            s.sendto(b"hello", (host, port))
            print(s.recvfrom(200)[0].decode().strip())
    except Exception as error:
        print("ERROR", error); sys.exit(1)
    """#
    let output = try namespace.exec("python3", "-c", script, host, String(port), transport.rawValue, String(timeout))
    guard output.status == 0 else { return nil }
    return output.text.trimmingCharacters(in: .whitespacesAndNewlines)
}

// MARK: - Topology

/// A host namespace with an uplink to an "outside" namespace, and bridge networks with one
/// container each:
///
///     outside (192.0.2.2/24, 2001:db8::2/64) -- eth0 | up0 -- host (192.0.2.1, 2001:db8::1)
///     host: brN 10.1N.0.1/24, fd1N::1/64  --  container N: eth0 10.1N.0.2/24, fd1N::2/64
///
/// The firewall is opened inside the host namespace.
final class Topology {
    let host: TestNamespace
    let outside: TestNamespace
    private(set) var containers: [TestNamespace] = []
    private(set) var networks: [FirewallNetwork] = []
    let lockPath: String
    let firewall: NftablesFirewall

    static let hostAddress = "192.0.2.1"
    static let hostAddress6 = "2001:db8::1"
    static let outsideAddress = "192.0.2.2"
    static let outsideAddress6 = "2001:db8::2"

    init() throws {
        host = try TestNamespace("host")
        outside = try TestNamespace("out")
        try host.socket.addLink(LinkSpec(name: InterfaceName("up0"),
                                         kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: outside.namespace)), up: true))
        try outside.socket.setLink("eth0", up: true)
        try host.socket.addAddress(cidr(Self.hostAddress + "/24"), to: "up0")
        try host.socket.addAddress(cidr(Self.hostAddress6 + "/64"), to: "up0", skipDuplicateDetection: true)
        try outside.socket.addAddress(cidr(Self.outsideAddress + "/24"), to: "eth0")
        try outside.socket.addAddress(cidr(Self.outsideAddress6 + "/64"), to: "eth0", skipDuplicateDetection: true)
        try host.namespace.writeSysctl("net/ipv4/ip_forward", "1")
        try host.namespace.writeSysctl("net/ipv6/conf/all/forwarding", "1")
        lockPath = "/run/netctl/firewall-test-\(UInt32.random(in: 0...UInt32.max)).lock"
        firewall = try NftablesFirewall.open(in: host.namespace, lockPath: lockPath)
    }

    deinit { unlink(lockPath) }

    /// Adds bridge `br<index>` with one container and returns its (not yet added) network.
    @discardableResult
    func addBridgeNetwork(_ index: Int, masquerade: Bool = true, isInternal: Bool = false,
                          localhostDNAT: Bool = false) throws -> FirewallNetwork {
        let bridge = try InterfaceName("br\(index)")
        let container = try TestNamespace("c\(index)")
        try host.socket.addLink(LinkSpec(name: bridge, kind: .bridge, up: true))
        try host.socket.addAddress(cidr("10.1\(index).0.1/24"), to: .name(bridge))
        try host.socket.addAddress(cidr("fd1\(index)::1/64"), to: .name(bridge), skipDuplicateDetection: true)
        let hostSide = try InterfaceName("veth\(index)")
        try host.socket.addLink(LinkSpec(name: hostSide, kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace)),
                                         master: .name(bridge), up: true))
        // With br_netfilter loaded, a hairpin DNAT is bridged back out of the port it came
        // in by: the port needs hairpin mode, as the bridge driver sets with `hairpinMode`.
        try host.socket.setHairpin(.name(hostSide), true)
        try container.socket.setLink("eth0", up: true)
        try container.socket.addAddress(cidr("10.1\(index).0.2/24"), to: "eth0")
        try container.socket.addAddress(cidr("fd1\(index)::2/64"), to: "eth0", skipDuplicateDetection: true)
        try container.socket.addRoute(.defaultRoute(via: address("10.1\(index).0.1"), device: "eth0"))
        try container.socket.addRoute(.defaultRoute(via: address("fd1\(index)::1"), device: "eth0"))
        containers.append(container)
        let network = FirewallNetwork(name: "net\(index)", bridge: bridge,
                                      subnets: [try cidr("10.1\(index).0.0/24"), try cidr("fd1\(index)::/64")],
                                      masquerade: masquerade, isInternal: isInternal, localhostDNAT: localhostDNAT)
        networks.append(network)
        return network
    }

    /// `SPEC` published for the container of `network` (its IPv4 address unless `v6`).
    func port(_ spec: String, on network: FirewallNetwork, v6: Bool = false, owner: String = "ctr") throws -> PublishedPort {
        guard let subnet = network.subnets.first(where: { $0.family == (v6 ? .v6 : .v4) }),
              let container = IPAddress(family: subnet.family, integerValue: subnet.networkAddress.integerValue + 2)
        else { throw CommandFailed(command: "port", output: "no subnet") }
        return try PublishedPort(parsing: spec, containerAddress: container, owner: owner)
    }
}
