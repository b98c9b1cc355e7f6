import Firewall
import Foundation
import NetCore
import Testing

/// Masquerade, isolation and reference counting of the per-network rules, with real traffic.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetworkRulesTests {
    @Test func twoNetworksCannotReachEachOtherButBothGoOutMasqueraded() throws {
        let topology = try Topology()
        let first = try topology.addBridgeNetwork(0)
        let second = try topology.addBridgeNetwork(1)
        let servers = try [PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.containers[1], ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.outside, ports: ["80/tcp"])]
        defer { servers.forEach { $0.stop() } }
        // Plain routing first: the isolation below is the firewall's doing.
        #expect(try ask(from: topology.containers[0], "10.11.0.2", 80) == "10.10.0.2 80")

        try topology.firewall.addNetwork(first)
        try topology.firewall.addNetwork(second)
        #expect(try ask(from: topology.containers[0], "10.11.0.2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.containers[1], "10.10.0.2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.containers[1], "fd10::2", 80, timeout: 0.5) == nil)
        #expect(try ask(from: topology.containers[0], Topology.outsideAddress, 80) == "\(Topology.hostAddress) 80")
        #expect(try ask(from: topology.containers[1], Topology.outsideAddress, 80) == "\(Topology.hostAddress) 80")
        #expect(try ask(from: topology.containers[1], Topology.outsideAddress6, 80) == "\(Topology.hostAddress6) 80")
    }

    @Test func aPublishedPortIsReachableFromAnotherNetworkThroughTheHost() throws {
        let topology = try Topology()
        let first = try topology.addBridgeNetwork(0)
        let second = try topology.addBridgeNetwork(1)
        try topology.firewall.addNetwork(first)
        try topology.firewall.addNetwork(second)
        try topology.firewall.publish([try topology.port("8080:80", on: first)], on: first)
        let server = try PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.containers[1], Topology.hostAddress, 8080) != nil)
        #expect(try ask(from: topology.containers[1], "10.10.0.2", 80, timeout: 0.5) == nil)
    }

    @Test func internalNetworkHasNoRouteOutAndNoMasquerade() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0, isInternal: true)
        let server = try PeerEchoServer(in: topology.outside, ports: ["80/tcp"])
        defer { server.stop() }
        try topology.firewall.addNetwork(network)

        #expect(try ask(from: topology.containers[0], Topology.outsideAddress, 80, timeout: 0.5) == nil)
        #expect(try topology.host.firewallElements("masquerade4").isEmpty)
        #expect(try topology.host.firewallElements("subnets4").count == 1)
        #expect(throws: NetworkError.self) {
            try topology.firewall.publish([try topology.port("8080:80", on: network)], on: network)
        }
    }

    @Test func withoutMasqueradeTheOutsideSeesTheContainerAddress() throws {
        let topology = try Topology()
        let network = try topology.addBridgeNetwork(0, masquerade: false)
        try topology.firewall.addNetwork(network)
        try topology.outside.socket.addRoute(.init(destination: cidr("10.10.0.0/24"), gateway: address(Topology.hostAddress)))
        let server = try PeerEchoServer(in: topology.outside, ports: ["80/tcp"])
        defer { server.stop() }

        #expect(try ask(from: topology.containers[0], Topology.outsideAddress, 80) == "10.10.0.2 80")
    }

    @Test func removingANetworkLeavesTheOtherIntactAndTheLastOneTakesTheTable() throws {
        let topology = try Topology()
        let first = try topology.addBridgeNetwork(0)
        let second = try topology.addBridgeNetwork(1)
        try topology.firewall.addNetwork(first)
        try topology.firewall.addNetwork(second)
        try topology.firewall.addNetwork(second) // again: harmless
        try topology.firewall.publish([try topology.port("8080:80", on: first)], on: first)
        try topology.firewall.publish([try topology.port("8081:80", on: second)], on: second)
        let servers = try [PeerEchoServer(in: topology.containers[0], ports: ["80/tcp"]),
                           PeerEchoServer(in: topology.containers[1], ports: ["80/tcp"])]
        defer { servers.forEach { $0.stop() } }

        try topology.firewall.removeNetwork(first)
        #expect(try topology.host.firewallChains().contains("net-br1"))
        #expect(try !topology.host.firewallChains().contains("net-br0"))
        #expect(try topology.host.firewallElements("dnat4_any_addr").count == 1)
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8081) == "\(Topology.outsideAddress) 80")
        #expect(try ask(from: topology.outside, Topology.hostAddress, 8080, timeout: 0.5) == nil)
        try topology.firewall.removeNetwork(first) // again: success

        try topology.firewall.removeNetwork(second)
        #expect(try topology.host.listFirewallTable() == nil)
        try topology.firewall.removeNetwork(second)
    }
}
