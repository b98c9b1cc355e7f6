import Firewall
import Foundation
import NetCore
import Testing

/// Real traffic to published ports, through the ruleset libnftables installed in a host namespace.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct PublishedPortTrafficTests {
    @Test func outsideClientReachesThePortAndKeepsItsAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080) == "\(Topology.outsideAddress) 80")
        let elements = try topology.host.firewallElements("dnat4_any_addr")
        #expect(elements.count == 1)
    }

    @Test func hostReachesThePortThroughItsOwnAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.host, Topology.hostAddress, 8080) == "\(Topology.hostAddress) 80")
        // Loopback is the userland proxy's unless the network opted into localhost DNAT.
        #expect(try ask(from: topology.host, "127.0.0.1", 8080, timeout: 0.5) == nil)
    }

    @Test func containerReachesItsOwnPortThroughTheHost() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }

        // Hairpin: masqueraded to the bridge address, so the reply goes back through the host.
        #expect(try ask(from: topology.containers[0], Topology.hostAddress, 8080) == "10.10.0.1 80")
        #expect(try ask(from: topology.containers[0], "10.10.0.1", 8080) == "10.10.0.1 80")
    }

    @Test func udpMappingAnswers() throws {
        try expectOnlyItsProtocolAnswers("5353:53/udp", transport: .udp)
    }

    @Test(.enabled(if: kernelHasSCTP, "this kernel has no SCTP: socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails"))
    func sctpMappingAnswersWithTheClientAddress() throws {
        try expectOnlyItsProtocolAnswers("3868:3868/sctp", transport: .sctp)
    }

    /// A mapping of another protocol than TCP answers from outside with the client's address,
    /// and TCP to the same port does not: only the protocol that was published is forwarded.
    private func expectOnlyItsProtocolAnswers(_ spec: String, transport: TransportProtocol) throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        let port = try topology.port(spec, on: network)
        try topology.firewall.publish([port], on: network)
        let hostPort = port.mapping.hostPorts.lowerBound, containerPort = port.mapping.containerPorts.lowerBound
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["\(containerPort)/\(transport.rawValue)"])
        defer { server.stop() }

        #expect(try ask(from: topology.outside, Topology.hostAddress, hostPort, transport: transport) == "\(Topology.outsideAddress) \(containerPort)")
        #expect(try ask(from: topology.outside, Topology.hostAddress, hostPort, timeout: 0.5) == nil)
    }

    @Test func ipv6MappingAnswersWithTheClientAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8080:80", on: network, v6: true),
                                       try topology.port("[\(Topology.hostAddress6)]:8443:443", on: network, v6: true)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp", "443/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.outside, Topology.hostAddress6, 8080) == "\(Topology.outsideAddress6) 80")
        #expect(try ask(from: topology.outside, Topology.hostAddress6, 8443) == "\(Topology.outsideAddress6) 443")
        #expect(try ask(from: topology.containers[0], Topology.hostAddress6, 8080) == "fd10::1 80")
    }

    @Test func rangeMapsPortByPort() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("8000-8002:80-82", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp", "81/tcp", "82/tcp"])
        defer { server.stop() }

        for (hostPort, containerPort) in [(8000, 80), (8001, 81), (8002, 82)] {
            #expect(try ask(from: topology.outside, Topology.hostAddress, UInt16(hostPort)) == "\(Topology.outsideAddress) \(containerPort)")
        }
        #expect(try topology.host.firewallElements("dnat4_any_port").count == 3)
    }

    @Test func specificHostAddressServesOnlyThatAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([try topology.port("\(Topology.hostAddress):8080:80", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080) == "\(Topology.outsideAddress) 80")
        // The bridge address is the host's too, but not the one published on.
        #expect(try ask(from: topology.containers[0], "10.10.0.1", 8080, timeout: 0.5) == nil)
    }

    @Test func removingOneMappingLeavesTheOthersWorking() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        try topology.firewall.addNetwork(network)
        let first = try topology.port("8080:80", on: network, owner: "first")
        let second = try topology.port("8081:81", on: network, owner: "second")
        try topology.firewall.publish([first], on: network)
        try topology.firewall.publish([second], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp", "81/tcp"])
        defer { server.stop() }

        try topology.firewall.unpublish([first], from: network)
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080, timeout: 0.5) == nil)
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8081) == "\(Topology.outsideAddress) 81")
        // Again: absent mappings are success.
        try topology.firewall.unpublish([first], from: network)
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8081) == "\(Topology.outsideAddress) 81")
    }

    @Test func reloadAfterAFlushedRulesetRestoresService() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0)
        let port = try topology.port("8080:80", on: network)
        try topology.firewall.addNetwork(network)
        try topology.firewall.publish([port], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080) != nil)

        #expect(try topology.host.exec("nft", "flush", "ruleset").status == 0)
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080, timeout: 0.5) == nil)

        try topology.firewall.reload(FirewallState(networks: [.init(network, publishedPorts: [port])]))
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080) == "\(Topology.outsideAddress) 80")
        // Reloading over a live ruleset is just as good.
        try topology.firewall.reload(FirewallState(networks: [.init(network, publishedPorts: [port])]))
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080) == "\(Topology.outsideAddress) 80")
    }

    @Test func localhostDNATServesLoopbackWhenTheNetworkOptsIn() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0, localhostDNAT: true)
        try topology.firewall.addNetwork(network)
        #expect(try topology.host.namespace.readSysctl("net/ipv4/conf/br0/route_localnet") == "1")
        try topology.firewall.publish([try topology.port("8080:80", on: network),
                                       try topology.port("127.0.0.1:8081:81", on: network)], on: network)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp", "81/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.host, "127.0.0.1", 8080) == "10.10.0.1 80")
        #expect(try ask(from: topology.host, "127.0.0.1", 8081) == "10.10.0.1 81")
        // Loopback-only is loopback-only: not from outside, and the guard is in place.
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8081, timeout: 0.5) == nil)
        #expect(try topology.host.firewallElements("localnet_bridges").count == 1)

        try topology.firewall.removeNetwork(network)
        #expect(try topology.host.namespace.readSysctl("net/ipv4/conf/br0/route_localnet") == "0")
        #expect(try topology.host.listFirewallTable() == nil)
    }
}
