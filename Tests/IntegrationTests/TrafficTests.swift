import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// Real packets between namespaces wired by the Netlink layer.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct TrafficTests {
    /// Creates a veth from `host` into `container` as `eth0`, up, with `address`.
    func attach(_ container: TestNamespace, to host: TestNamespace, hostSide: InterfaceName, master: LinkReference?, address: String) throws {
        try host.socket.addLink(LinkSpec(name: hostSide, kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace)),
                                         master: master, up: true))
        try container.socket.setLink("eth0", up: true)
        try container.socket.addAddress(try cidr(address), to: "eth0")
    }

    @Test func pingAcrossAVethPair() throws {
        let left = try TestNamespace("left")
        let right = try TestNamespace("right")
        try left.socket.addLink(LinkSpec(name: InterfaceName("eth0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: right.namespace)), up: true))
        try right.socket.setLink("eth0", up: true)
        try left.socket.addAddress(try cidr("10.90.0.1/30"), to: "eth0")
        try right.socket.addAddress(try cidr("10.90.0.2/30"), to: "eth0")
        #expect(try left.canPing("10.90.0.2"))
        #expect(try right.canPing("10.90.0.1"))
    }

    @Test func pingAcrossABridgeAndToTheGatewayViaTheDefaultRoute() throws {
        let host = try TestNamespace("host")
        let first = try TestNamespace("c1")
        let second = try TestNamespace("c2")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
        try host.socket.addAddress(try cidr("10.91.0.1/24"), to: "br0")
        try attach(first, to: host, hostSide: InterfaceName("vc1"), master: "br0", address: "10.91.0.2/24")
        try attach(second, to: host, hostSide: InterfaceName("vc2"), master: "br0", address: "10.91.0.3/24")
        try first.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 91, 0, 1)), device: "eth0"))
        try host.socket.addAddress(try cidr("10.92.0.1/32"), to: "lo")

        #expect(try first.canPing("10.91.0.3"))
        #expect(try second.canPing("10.91.0.2"))
        #expect(try first.canPing("10.92.0.1")) // off-link: only through the default route
        #expect(try !second.canPing("10.92.0.1")) // no default route there
    }

    /// Two macvlan siblings on one parent, each in a namespace of its own.
    func macvlanSiblings(_ mode: MacvlanMode) throws -> (TestNamespace, TestNamespace, TestNamespace) {
        let host = try TestNamespace("host")
        let first = try TestNamespace("m1")
        let second = try TestNamespace("m2")
        try host.socket.addLink(LinkSpec(name: InterfaceName("parent0"), kind: .veth(peer: VethPeer(name: InterfaceName("parent1"))), up: true))
        try host.socket.setLink("parent1", up: true)
        for (index, sibling) in [first, second].enumerated() {
            try host.socket.addLink(LinkSpec(name: InterfaceName("mv0"), kind: .macvlan(parent: "parent0", mode: mode), namespace: sibling.namespace))
            try sibling.socket.setLink("mv0", up: true)
            try sibling.socket.addAddress(try cidr("10.93.0.\(index + 1)/24"), to: "mv0")
        }
        return (host, first, second)
    }

    @Test func macvlanSiblingsInBridgeModeReachEachOther() throws {
        let (host, first, second) = try macvlanSiblings(.bridge)
        // The host namespace holds the parent: it must outlive the pings.
        defer { withExtendedLifetime(host) {} }
        #expect(try first.canPing("10.93.0.2"))
        #expect(try second.canPing("10.93.0.1"))
    }

    @Test func macvlanSiblingsInPrivateModeDoNot() throws {
        let (host, first, second) = try macvlanSiblings(.private)
        defer { withExtendedLifetime(host) {} }
        #expect(try !first.canPing("10.93.0.2"))
        #expect(try !second.canPing("10.93.0.1"))
        // Still there and up: the silence is the mode's doing, not a missing link.
        #expect(flags(try first.ipLink("mv0")).contains("UP"))
        #expect(flags(try second.ipLink("mv0")).contains("UP"))
    }

    @Test func vxlanOverlayBetweenTwoHostsCarriesContainerTraffic() throws {
        // Underlay: host1 <-veth-> host2 on 10.94.0.0/30. Overlay: VNI 100 bridged to one
        // container on each host, 10.95.0.0/24.
        let host1 = try TestNamespace("h1")
        let host2 = try TestNamespace("h2")
        let container1 = try TestNamespace("c1")
        let container2 = try TestNamespace("c2")
        try host1.socket.addLink(LinkSpec(name: InterfaceName("under0"), kind: .veth(peer: VethPeer(name: InterfaceName("under0"), namespace: host2.namespace)), up: true))
        try host2.socket.setLink("under0", up: true)
        let underlay = [(host1, "10.94.0.1", "10.94.0.2", container1, "10.95.0.1/24"),
                        (host2, "10.94.0.2", "10.94.0.1", container2, "10.95.0.2/24")]
        for (host, local, remote, container, overlayAddress) in underlay {
            try host.socket.addAddress(try cidr(local + "/30"), to: "under0")
            try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
            let options = VXLANOptions(vni: 100, local: IPAddress(local), remote: IPAddress(remote), underlay: "under0")
            try host.socket.addLink(LinkSpec(name: InterfaceName("vx100"), kind: .vxlan(options), mtu: 1450, master: "br0", up: true))
            try host.socket.addLink(LinkSpec(name: InterfaceName("vc0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace)),
                                             mtu: 1450, master: "br0", up: true))
            try container.socket.setLink("eth0", up: true)
            try container.socket.addAddress(try cidr(overlayAddress), to: "eth0")
        }
        #expect(try container1.canPing("10.95.0.2"))
        #expect(try container2.canPing("10.95.0.1"))
        // The containers have no route to the underlay: the traffic really went through the tunnel.
        #expect(try !container1.canPing("10.94.0.2"))
    }

    @Test func aFailedMultiStepSetupLeavesNothingBehind() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        #expect(throws: NetworkError.self) {
            try UndoStack.transaction { undo in
                try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
                undo.push("delete br0") { try host.socket.deleteLink("br0") }
                try host.socket.addLink(LinkSpec(name: InterfaceName("vc0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace)), master: "br0"))
                undo.push("delete vc0") { try host.socket.deleteLink("vc0") }
                // Fails: the gateway is not on any connected subnet.
                try container.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 96, 0, 1))))
            }
        }
        #expect(try host.socket.links().map(\.name) == ["lo"])
        #expect(try container.socket.links().map(\.name) == ["lo"])
    }
}
