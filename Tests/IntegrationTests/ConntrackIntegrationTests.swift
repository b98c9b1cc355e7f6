import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// Real conntrack entries: a UDP flow is tracked, listed and flushed by port.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct ConntrackIntegrationTests {
    @Test func udpFlowToAPortIsListedAndFlushedLeavingOthers() throws {
        let client = try TestNamespace("cli")
        let server = try TestNamespace("srv")
        try client.socket.addLink(LinkSpec(name: InterfaceName("eth0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: server.namespace)), up: true))
        try server.socket.setLink("eth0", up: true)
        try client.socket.addAddress(try cidr("10.97.0.1/30"), to: "eth0")
        try server.socket.addAddress(try cidr("10.97.0.2/30"), to: "eth0")
        // Conntrack only tracks a namespace once a rule there needs it.
        let rules = "add table inet track; add chain inet track input { type filter hook input priority 0; }; add rule inet track input ct state new counter"
        #expect(try run(["ip", "netns", "exec", server.name, "nft", rules]).status == 0)

        for port in [7001, 7002] {
            try run(["ip", "netns", "exec", client.name, "sh", "-c", "echo hi | nc -u -w1 -p \(port + 30000) 10.97.0.2 \(port)"])
        }
        let conntrack = try ConntrackSocket.open(in: server.namespace)
        let udp = try conntrack.flows(family: .v4).filter { $0.protocolNumber == 17 }
        #expect(Set(udp.compactMap(\.destinationPort)).isSuperset(of: [7001, 7002]))
        #expect(udp.first { $0.destinationPort == 7001 }?.source == IPAddress("10.97.0.1"))

        let deleted = try conntrack.deleteFlows(matching: ConntrackFilter(transport: .udp, destinationPorts: 7001...7001))
        #expect(deleted == 1)
        let left = try conntrack.flows(family: .v4).compactMap(\.destinationPort)
        #expect(!left.contains(7001))
        #expect(left.contains(7002))
        #expect(try conntrack.deleteFlows(matching: ConntrackFilter(transport: .udp, destinationPorts: 7001...7001)) == 0)
    }
}
