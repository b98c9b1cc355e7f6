import Firewall
import Foundation
import NetCore
import Netlink
import Publishing
import Store
import Testing

/// Overlay networks with real traffic: a network's tunnel is its own and isolated from other
/// networks, and a tunnel port takes UDP only from its peers.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct TunnelTrafficTests {
    /// Another host's share of an overlay, behind a veth standing in for the VXLAN device:
    ///
    ///     host: vxN 10.1N.1.1/24, fd1N:0:0:1::1/64  --  remote N: eth0 10.1N.1.2/24, fd1N:0:0:1::2/64
    ///
    /// and `network` (bridge brN, 10.1N.0.0/24) as that overlay's network: the whole
    /// 10.1N.0.0/16 and fd1N::/48, with vxN as its tunnel.
    static func addTunnel(to network: FirewallNetwork, _ index: Int, in topology: Topology) throws -> (remote: TestNamespace, overlay: FirewallNetwork) {
        let remote = try TestNamespace("r\(index)")
        let tunnel = try InterfaceName("vx\(index)")
        let host = topology.host.socket
        try host.addLink(LinkSpec(name: tunnel, kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: remote.namespace)), up: true))
        try host.addAddress(cidr("10.1\(index).1.1/24"), to: .name(tunnel))
        try host.addAddress(cidr("fd1\(index):0:0:1::1/64"), to: .name(tunnel), skipDuplicateDetection: true)
        try remote.socket.setLink("eth0", up: true)
        try remote.socket.addAddress(cidr("10.1\(index).1.2/24"), to: "eth0")
        try remote.socket.addAddress(cidr("fd1\(index):0:0:1::2/64"), to: "eth0", skipDuplicateDetection: true)
        try remote.socket.addRoute(.defaultRoute(via: address("10.1\(index).1.1"), device: "eth0"))
        try remote.socket.addRoute(.defaultRoute(via: address("fd1\(index):0:0:1::1"), device: "eth0"))
        var overlay = network
        overlay.subnets = [try cidr("10.1\(index).0.0/16"), try cidr("fd1\(index)::/48")]
        overlay.tunnel = tunnel
        return (remote, overlay)
    }

    /// Whether a UDP datagram from `source` in `namespace` to `host`:`port` reached the
    /// `PeerEchoServer` there (its answer names the source it saw).
    static func datagramArrives(from namespace: TestNamespace, source: String, to host: String, _ port: UInt16,
                                timeout: Double = 2) throws -> Bool {
        let script = #"""
        import socket, sys
        source, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout); s.bind((source, 0))
        s.sendto(b"hello", (host, port))
        try:
            print(s.recvfrom(200)[0].decode().strip())
        except Exception as error:
            print("ERROR", error); sys.exit(1)
        """#
        let output = try namespace.exec("python3", "-c", script, source, host, String(port), String(timeout))
        guard output.status == 0 else { return false }
        let answer = output.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard answer == "\(source) \(port)" else { throw CommandFailed(command: "udp client", output: answer) }
        return true
    }

    @Test func trafficBetweenABridgeAndItsTunnelIsForwardedAndOtherNetworksAreCutOffBothWays() throws {
        let topology = try Topology()
        let (remote, overlay) = try Self.addTunnel(to: topology.addBridgeNetwork(0), 0, in: topology)
        let second = try topology.addBridgeNetwork(1)
        let servers = try [PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.containers[1], ports: ["80/tcp"]),
                           PeerEchoServer(in: remote, ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.outside, ports: ["80/tcp"])]
        defer { servers.forEach { $0.stop() } }
        // Plain routing first: the isolation below is the firewall's doing.
        #expect(try ask(from: topology.containers[1], "10.10.1.2", 80) == "10.11.0.2 80")
        #expect(try ask(from: remote, "10.11.0.2", 80) == "10.10.1.2 80")

        try topology.firewall.addNetwork(overlay)
        try topology.firewall.addNetwork(second)
        // The network's own traffic, both ways, keeping its source: the other share is in its subnets.
        #expect(try ask(from: topology.containers[0], "10.10.1.2", 80) == "10.10.0.2 80")
        #expect(try ask(from: remote, "10.10.0.2", 80) == "10.10.1.2 80")
        #expect(try ask(from: topology.containers[0], "fd10:0:0:1::2", 80) == "fd10::2 80")
        #expect(try ask(from: remote, "fd10::2", 80) == "fd10:0:0:1::2 80")
        // Between the tunnel and another network: dropped both ways.
        #expect(try ask(from: topology.containers[1], "10.10.1.2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: remote, "10.11.0.2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.containers[1], "fd10:0:0:1::2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: remote, "fd11::2", 80, timeout: 0.5) == nil)
        // Leaving the overlay is masqueraded.
        #expect(try ask(from: topology.containers[0], Topology.outsideAddress, 80) == "\(Topology.hostAddress) 80")
        #expect(try topology.host.firewallElements("bridges").count == 3)

        // Removing the network takes its tunnel's elements with it; the other network stays isolated.
        try topology.firewall.removeNetwork(overlay)
        #expect(try topology.host.firewallElements("networks").count == 1)
        #expect(try topology.host.firewallElements("bridges").count == 1)
        #expect(try ask(from: topology.containers[1], Topology.outsideAddress, 80) == "\(Topology.hostAddress) 80")
    }

    @Test func anInternalNetworkWithATunnelTalksOnlyBetweenBridgeAndTunnel() throws {
        let topology = try Topology()
        let (remote, overlay) = try Self.addTunnel(to: topology.addBridgeNetwork(0, isInternal: true), 0, in: topology)
        try topology.outside.socket.addRoute(.init(destination: cidr("10.10.0.0/16"), gateway: address(Topology.hostAddress)))
        let servers = try [PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"]),
                           PeerEchoServer(in: remote, ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.outside, ports: ["80/tcp"])]
        defer { servers.forEach { $0.stop() } }
        #expect(try ask(from: remote, Topology.outsideAddress, 80) == "10.10.1.2 80")

        try topology.firewall.addNetwork(overlay)
        #expect(try ask(from: topology.containers[0], "10.10.1.2", 80) == "10.10.0.2 80")
        #expect(try ask(from: remote, "10.10.0.2", 80) == "10.10.1.2 80")
        #expect(try ask(from: remote, Topology.outsideAddress, 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.containers[0], Topology.outsideAddress, 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.outside, "10.10.1.2", 80, timeout: 0.5) == nil)
    }

    /// A = 192.0.2.2 / 2001:db8::2, B = 192.0.2.3 / 2001:db8::3, both outside the host.
    @Test func aTunnelPortTakesUDPOnlyFromItsPeers() throws {
        let topology = try Topology()
        try topology.outside.socket.addAddress(cidr("192.0.2.3/24"), to: "eth0")
        try topology.outside.socket.addAddress(cidr("2001:db8::3/64"), to: "eth0", skipDuplicateDetection: true)
        let server = try PeerEchoServer(in: topology.host, ports: ["4789/udp", "4790/udp", "4789/tcp"])
        defer { server.stop() }
        let host = Topology.hostAddress, host6 = Topology.hostAddress6
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4789))

        try topology.firewall.setTunnelPeers(port: 4789, peers: [address("192.0.2.2"), address("2001:db8::2")])
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.2", to: host, 4789))
        #expect(try !Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4789, timeout: 0.5))
        #expect(try Self.datagramArrives(from: topology.outside, source: "2001:db8::2", to: host6, 4789))
        #expect(try !Self.datagramArrives(from: topology.outside, source: "2001:db8::3", to: host6, 4789, timeout: 0.5))
        // Other UDP ports, and TCP to the same port, are untouched.
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4790))
        #expect(try Self.datagramArrives(from: topology.outside, source: "2001:db8::3", to: host6, 4790))
        #expect(try ask(from: topology.outside, host, 4789) == "\(Topology.outsideAddress) 4789")

        // Setting them again replaces them.
        try topology.firewall.setTunnelPeers(port: 4789, peers: [address("192.0.2.3")])
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4789))
        #expect(try !Self.datagramArrives(from: topology.outside, source: "192.0.2.2", to: host, 4789, timeout: 0.5))
        #expect(try !Self.datagramArrives(from: topology.outside, source: "2001:db8::2", to: host6, 4789, timeout: 0.5))
        #expect(try topology.host.firewallElements("vxlan_peers4").count == 1)
        #expect(try topology.host.firewallElements("vxlan_peers6").isEmpty)

        // Removed: everyone's datagrams arrive again, and with nothing else in it the table goes.
        try topology.firewall.removeTunnelPort(4789)
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.2", to: host, 4789))
        #expect(try Self.datagramArrives(from: topology.outside, source: "2001:db8::3", to: host6, 4789))
        #expect(try topology.host.listFirewallTable() == nil)
        try topology.firewall.removeTunnelPort(4789) // again: success
    }

    /// The table stays for a filtered port when the last network goes, and the filter stays
    /// through adding and removing networks (which rewrite the shared chains).
    @Test func tunnelPortsAndNetworksKeepEachOtherAlive() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.outside.socket.addAddress(cidr("192.0.2.3/24"), to: "eth0")
        let server = try PeerEchoServer(in: topology.host, ports: ["4789/udp"])
        defer { server.stop() }
        try topology.firewall.setTunnelPeers(port: 4789, peers: [address("192.0.2.2")])
        try topology.firewall.addNetwork(network)
        #expect(try !Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: Topology.hostAddress, 4789, timeout: 0.5))
        try topology.firewall.removeNetwork(network)
        #expect(try topology.host.listFirewallTable() != nil)
        #expect(try !Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: Topology.hostAddress, 4789, timeout: 0.5))
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.2", to: Topology.hostAddress, 4789))
    }

    /// `netctl firewall reload` after `nft flush ruleset`: the registry rebuilds the tunnel's
    /// isolation and the tunnel port's peers from the store.
    @Test func reloadAfterAFlushRestoresTunnelPeersAndTunnelIsolation() throws {
        let topology = try Topology()
        let (remote, overlay) = try Self.addTunnel(to: topology.addBridgeNetwork(0), 0, in: topology)
        let second = try topology.addBridgeNetwork(1)
        try topology.outside.socket.addAddress(cidr("192.0.2.3/24"), to: "eth0")
        let servers = try [PeerEchoServer(in: topology.host, ports: ["4789/udp"]),
                           PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.containers[1], ports: ["80/tcp"])]
        defer { servers.forEach { $0.stop() } }
        let directory = "/var/lib/netctl/tunnel-test-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = FirewallRegistry(store: try StateStore(directory: directory, schema: [FirewallRegistry.schema]), firewall: topology.firewall,
                                        proxyExecutable: nil, namespace: topology.host.namespace)
        try registry.addNetwork(overlay, name: "ov0")
        try registry.addNetwork(second, name: "net1")
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.2")])
        let host = Topology.hostAddress

        func expectFiltered() throws {
            #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.2", to: host, 4789))
            #expect(try !Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4789, timeout: 0.5))
            #expect(try ask(from: remote, "10.10.0.2", 80) == "10.10.1.2 80")
            #expect(try ask(from: remote, "10.11.0.2", 80, timeout: 0.5) == nil)
        }
        try expectFiltered()

        #expect(try topology.host.exec("nft", "flush", "ruleset").status == 0)
        #expect(try Self.datagramArrives(from: topology.outside, source: "192.0.2.3", to: host, 4789))
        #expect(try ask(from: remote, "10.11.0.2", 80) == "10.10.1.2 80")

        try registry.reload()
        try expectFiltered()
        #expect(try topology.host.firewallElements("bridges").count == 3)
    }
}
