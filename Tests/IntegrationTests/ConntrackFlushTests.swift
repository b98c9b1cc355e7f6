import Drivers
import Firewall
import Foundation
import Namespaces
import NetCore
import Netlink
import Publishing
import Store
import Testing

/// Publishing or unpublishing a UDP port flushes the port's conntrack entries, so a flow that
/// started before the change cannot keep its old destination (a blackhole for UDP clients
/// that keep their source port).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct ConntrackFlushTests {
    @Test func staleUDPFlowsAreFlushedWhenAPortIsPublishedAndWhenItIsRemoved() throws {
        let host = try TestNamespace("fwh")
        let client = try TestNamespace("fwc")
        try host.socket.addLink(LinkSpec(name: InterfaceName("up0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: client.namespace)), up: true))
        try client.socket.setLink("eth0", up: true)
        try host.socket.addAddress(try cidr("10.96.0.1/30"), to: "up0")
        try client.socket.addAddress(try cidr("10.96.0.2/30"), to: "eth0")
        // A route to the containers' subnet, so DNATed packets leave (and their flows are kept).
        try host.socket.addLink(LinkSpec(name: InterfaceName("flushbr0"), kind: .bridge, up: true))
        try host.socket.addAddress(try cidr("10.95.0.1/24"), to: "flushbr0")
        try host.namespace.writeSysctl("net/ipv4/ip_forward", "1")

        let lockPath = "/run/netctl/flush-test-\(UInt32.random(in: 0...UInt32.max)).lock"
        defer { unlink(lockPath) }
        let registry = FirewallRegistry(store: try StateStore(directory: NSTemporaryDirectory() + "flush-\(UUID().uuidString)", schema: [FirewallRegistry.schema]),
                                        firewall: try NftablesFirewall.open(in: host.namespace, lockPath: lockPath),
                                        proxyExecutable: nil, namespace: host.namespace)
        let network = FirewallNetwork(name: "flush", bridge: try InterfaceName("flushbr0"), subnets: [try cidr("10.95.0.0/24")])
        let id = AttachmentID(network: "flush", containerID: "udp", interface: try InterfaceName("eth0"))
        let conntrack = try ConntrackSocket.open(in: host.namespace)
        func flows() throws -> [ConntrackFlow] {
            try conntrack.flows(family: .v4).filter { $0.protocolNumber == 17 && $0.destinationPort == 5399 }
        }
        func send() throws {
            try run(["ip", "netns", "exec", client.name, "sh", "-c", "echo hi | nc -u -w1 -p 35399 10.96.0.1 5399"])
        }
        // Conntrack only tracks a namespace once a rule there needs it: the firewall's NAT chains do.
        try registry.attach(AttachmentID(network: "flush", containerID: "other", interface: InterfaceName("eth0")), network: network,
                            usesRules: false, ports: [PortMapping(parsing: "5400:53/udp")], containerAddresses: [try IPAddress(parsing: "10.95.0.9", field: "test")])

        try send()
        #expect(try !flows().isEmpty) // a flow to the host itself, from before the port existed
        try registry.attach(id, network: network, usesRules: false, ports: [PortMapping(parsing: "5399:53/udp")],
                            containerAddresses: [try IPAddress(parsing: "10.95.0.2", field: "test")])
        #expect(try flows().isEmpty)

        try send()
        #expect(try !flows().isEmpty) // now DNATed to the container
        try registry.detach(id)
        #expect(try flows().isEmpty)
    }
}
