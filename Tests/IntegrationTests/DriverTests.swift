import Drivers
import IPAM
import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// The bridge and macvlan drivers on real namespaces, with traffic.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct DriverTests {
    func assignment(_ address: String, gateway: String?) throws -> IPConfiguration.Assignment {
        IPConfiguration.Assignment(address: try cidr(address), gateway: gateway.flatMap { IPAddress($0) })
    }

    func bridgeDriver(_ host: TestNamespace, _ options: BridgeOptions) -> BridgeDriver {
        BridgeDriver(options: options, host: host.socket, hostNamespace: host.namespace)
    }

    func id(_ container: String, _ interface: String = "eth0") throws -> AttachmentID {
        AttachmentID(network: "net1", containerID: container, interface: try InterfaceName(interface))
    }

    @Test func bridgeAttachmentsReachEachOtherAndTheGateway() throws {
        let host = try TestNamespace("host")
        let first = try TestNamespace("c1")
        let second = try TestNamespace("c2")
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), mtu: 1400, isDefaultGateway: true, hairpin: true))
        let firstIP = IPConfiguration(assignments: [try assignment("10.98.0.2/24", gateway: "10.98.0.1"), try assignment("fd98::2/64", gateway: "fd98::1")])
        let attached = try driver.attach(try id("c1"), namespace: first.namespace, ip: firstIP,
                                         mac: try MACAddress(parsing: "02:98:00:00:00:02"))
        _ = try driver.attach(try id("c2"), namespace: second.namespace,
                              ip: IPConfiguration(assignments: [try assignment("10.98.0.3/24", gateway: "10.98.0.1")]))

        #expect(attached.container.mac?.description == "02:98:00:00:00:02")
        #expect(attached.container.mtu == 1400)
        let hostEnd = try host.ipLink(try id("c1").hostInterfaceName.rawValue)
        #expect(hostEnd?["master"] as? String == "nbr0")
        #expect(hostEnd?["ifalias"] as? String == "netctl:net1/c1/eth0")
        #expect(((hostEnd?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any])?["hairpin"] as? Bool == true)
        let bridgeAddresses = try host.socket.addresses(of: "nbr0").map(\.address.description)
        #expect(bridgeAddresses.contains("10.98.0.1/24") && bridgeAddresses.contains("fd98::1/64"))
        #expect(try host.namespace.readSysctl("net.ipv4.ip_forward") == "1")
        #expect(try first.socket.routes(family: .v4).contains { $0.isDefault && $0.gateway == IPAddress("10.98.0.1") })

        #expect(try first.canPing("10.98.0.3"))
        #expect(try second.canPing("10.98.0.1"))
        try driver.check(try id("c1"), namespace: first.namespace, ip: firstIP, mac: try MACAddress(parsing: "02:98:00:00:00:02"))
    }

    /// The gateway's MAC is the bridge's own from the start, not the lowest of its ports', so
    /// containers coming and going never change it under the others' neighbour caches.
    @Test func theBridgeKeepsItsMACAsContainersComeAndGo() throws {
        let host = try TestNamespace("host")
        let containers = [try TestNamespace("c1"), try TestNamespace("c2"), try TestNamespace("c3")]
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), isGateway: true))
        func bridgeMAC() throws -> String? { try host.ipLink("nbr0")?["address"] as? String }
        var seen: Set<String> = []
        for (index, container) in containers.enumerated() {
            _ = try driver.attach(try id("c\(index)"), namespace: container.namespace,
                                  ip: IPConfiguration(assignments: [try assignment("10.98.2.\(index + 2)/24", gateway: "10.98.2.1")]))
            seen.insert(try #require(try bridgeMAC()))
        }
        try driver.detach(try id("c0"), namespace: containers[0].namespace)
        try driver.detach(try id("c1"), namespace: containers[1].namespace)
        seen.insert(try #require(try bridgeMAC()))
        #expect(seen.count == 1, "the bridge's MAC changed: \(seen)")
        let ports = try host.socket.links().filter { $0.kind == "veth" }.compactMap { $0.mac?.description }
        #expect(!ports.contains { seen.contains($0) }, "the bridge took a port's MAC")
        #expect(try containers[2].canPing("10.98.2.1"))
    }

    @Test func aFailedAttachLeavesNothingBehind() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), isGateway: true))
        var ip = IPConfiguration(assignments: [try assignment("10.98.1.2/24", gateway: "10.98.1.1")])
        ip.routes = [Route(destination: try cidr("10.200.0.0/16"), gateway: IPAddress("10.77.7.7"))] // unreachable
        #expect(throws: NetworkError.self) { try driver.attach(try id("c1"), namespace: container.namespace, ip: ip) }
        #expect(try host.socket.links().map(\.name) == ["lo"]) // no veth, and the bridge it created is gone
        #expect(try container.socket.links().map(\.name) == ["lo"])
    }

    @Test func detachIsIdempotentAndWorksWithoutTheNamespace() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0")))
        let ip = IPConfiguration(assignments: [try assignment("10.98.2.2/24", gateway: nil)])
        _ = try driver.attach(try id("c1"), namespace: container.namespace, ip: ip)
        try driver.detach(try id("c1"), namespace: nil)
        #expect(try host.ipLink(try id("c1").hostInterfaceName.rawValue) == nil)
        #expect(try container.ipLink("eth0") == nil)
        try driver.detach(try id("c1"), namespace: nil)
        try driver.detach(try id("c1"), namespace: container.namespace)
        #expect(try host.ipLink("nbr0") != nil) // the bridge is shared; it stays
    }

    /// Deleting the host end takes the pair; when someone renamed it, the container end is
    /// deleted from inside the container's namespace instead (and takes the renamed end along).
    @Test(arguments: [LinkDeletion.awaitingReclaim, .leavingReclaimToAChild])
    func detachRemovesThePairWhenTheHostEndWasRenamed(deletion: LinkDeletion) throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        let driver = BridgeDriver(options: BridgeOptions(bridge: try InterfaceName("nbr0")), host: host.socket,
                                  hostNamespace: host.namespace, linkDeletion: deletion)
        _ = try driver.attach(try id("c1"), namespace: container.namespace,
                              ip: IPConfiguration(assignments: [try assignment("10.98.3.2/24", gateway: nil)]))
        #expect(try run(["ip", "-n", host.name, "link", "set", try id("c1").hostInterfaceName.rawValue, "name", "renamed0"]).status == 0)
        try driver.detach(try id("c1"), namespace: container.namespace)
        #expect(try container.ipLink("eth0") == nil)
        #expect(try host.ipLink("renamed0") == nil)
    }

    @Test func checkNamesWhatIsMissing() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), isDefaultGateway: true))
        let ip = IPConfiguration(assignments: [try assignment("10.98.3.2/24", gateway: "10.98.3.1")])
        _ = try driver.attach(try id("c1"), namespace: container.namespace, ip: ip)
        try driver.check(try id("c1"), namespace: container.namespace, ip: ip)
        try container.socket.deleteAddress(try cidr("10.98.3.2/24"), from: "eth0")
        #expect {
            try driver.check(try id("c1"), namespace: container.namespace, ip: ip)
        } throws: { "\($0)".contains("10.98.3.2/24") }
        try driver.detach(try id("c1"), namespace: container.namespace)
        let hostEnd = try id("c1").hostInterfaceName.rawValue
        #expect {
            try driver.check(try id("c1"), namespace: container.namespace, ip: ip)
        } throws: { "\($0)".contains(hostEnd) }
    }

    @Test func aNonBridgeWithTheBridgesNameIsRefused() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        try host.socket.addLink(LinkSpec(name: try InterfaceName("nbr0"), kind: .veth(peer: VethPeer(name: try InterfaceName("other0")))))
        let driver = bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0")))
        #expect {
            _ = try driver.attach(try id("c1"), namespace: container.namespace, ip: IPConfiguration())
        } throws: { "\($0)".contains("not a bridge") }
        #expect(try container.socket.links().map(\.name) == ["lo"])
    }

    @Test func aDifferentGatewayOnTheBridgeNeedsForceAddress() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        try host.socket.addLink(LinkSpec(name: try InterfaceName("nbr0"), kind: .bridge, up: true))
        try host.socket.addAddress(try cidr("10.98.4.254/24"), to: "nbr0")
        let ip = IPConfiguration(assignments: [try assignment("10.98.4.2/24", gateway: "10.98.4.1")])
        #expect {
            _ = try bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), isGateway: true))
                .attach(try id("c1"), namespace: container.namespace, ip: ip)
        } throws: { "\($0)".contains("forceAddress") }
        _ = try bridgeDriver(host, BridgeOptions(bridge: try InterfaceName("nbr0"), isGateway: true, forceAddress: true))
            .attach(try id("c1"), namespace: container.namespace, ip: ip)
        #expect(try host.socket.addresses(of: "nbr0", family: .v4).map(\.address.description) == ["10.98.4.1/24"])
    }

    @Test func macvlanAttachmentsOnTheDefaultRouteParentReachEachOther() throws {
        let host = try TestNamespace("host")
        let first = try TestNamespace("m1")
        let second = try TestNamespace("m2")
        try host.socket.addLink(LinkSpec(name: try InterfaceName("uplink0"), kind: .veth(peer: VethPeer(name: try InterfaceName("uplink1"))), up: true))
        try host.socket.setLink("uplink1", up: true)
        try host.socket.addAddress(try cidr("10.99.0.254/24"), to: "uplink0")
        try host.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 99, 0, 1)), device: "uplink0"))

        let driver = MacvlanDriver(options: MacvlanOptions(mode: .bridge), host: host.socket)
        #expect(try driver.parent(in: host.socket).name == "uplink0")
        _ = try driver.attach(try id("m1"), namespace: first.namespace, ip: IPConfiguration(assignments: [try assignment("10.99.0.11/24", gateway: nil)]))
        let attached = try driver.attach(try id("m2"), namespace: second.namespace, ip: IPConfiguration(assignments: [try assignment("10.99.0.12/24", gateway: nil)]))
        #expect(attached.container.kind == "macvlan")
        #expect(try first.canPing("10.99.0.12"))
        try driver.check(try id("m1"), namespace: first.namespace, ip: IPConfiguration(assignments: [try assignment("10.99.0.11/24", gateway: nil)]))

        try driver.detach(try id("m1"), namespace: first.namespace)
        try driver.detach(try id("m1"), namespace: first.namespace)
        #expect(try first.ipLink("eth0") == nil)
    }

    @Test func macvlanWithAMissingParentNamesIt() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        let driver = MacvlanDriver(options: MacvlanOptions(parent: try InterfaceName("nosuch0")), host: host.socket)
        #expect {
            _ = try driver.attach(try id("m1"), namespace: container.namespace, ip: IPConfiguration())
        } throws: { "\($0)".contains("nosuch0") }
        let noDefault = MacvlanDriver(options: MacvlanOptions(), host: host.socket)
        #expect { _ = try noDefault.parent(in: host.socket) } throws: { "\($0)".contains("default route") }
    }
}

/// Subnet selection reads the host's real routes through netlink.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct HostRouteSelectionTests {
    @Test func selectionSkipsSubnetsThatOverlapHostRoutesAndUsedNetworks() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: try InterfaceName("lan0"), kind: .bridge, up: true))
        try host.socket.addAddress(try cidr("172.17.5.1/24"), to: "lan0")              // a connected route inside 172.17/16
        try host.socket.addRoute(Route(destination: try cidr("172.16.0.0/12"), device: "lan0", metric: 500)) // a VPN-wide route
        try host.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(172, 17, 5, 254)))) // ignored: it overlaps everything

        let routes = HostRouteTable(socket: host.socket)
        #expect(try routes.routeDestinations().contains(try cidr("172.17.5.0/24")))
        // 172.16/12 covers every 172.17-31 pool subnet, so selection moves on to 192.168/16 in /20s.
        let first = try SubnetSelector().select(used: [], hostRoutes: routes)
        #expect(first == (try cidr("192.168.0.0/20")))
        #expect(try SubnetSelector().select(used: [first], hostRoutes: routes) == (try cidr("192.168.16.0/20")))

        try host.socket.deleteRoute(Route(destination: try cidr("172.16.0.0/12"), device: "lan0", metric: 500))
        #expect(try SubnetSelector().select(used: [], hostRoutes: routes) == (try cidr("172.18.0.0/16")))
    }
}
