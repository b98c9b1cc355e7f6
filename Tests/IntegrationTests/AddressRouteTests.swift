import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// Addresses and routes on real links, checked with `ip -j`.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct AddressRouteTests {
    func hostWithBridge() throws -> TestNamespace {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
        return host
    }

    func ipAddresses(_ host: TestNamespace, _ link: String) throws -> [[String: Any]] {
        try host.ipJSON("addr", "show", "dev", link).first?["addr_info"] as? [[String: Any]] ?? []
    }

    @Test func addListAndDeleteIPv4AndIPv6Addresses() throws {
        let host = try hostWithBridge()
        try host.socket.addAddress(try cidr("10.10.0.1/24"), to: "br0")
        try host.socket.addAddress(try cidr("fd00:10::1/64"), to: "br0", skipDuplicateDetection: true)

        let seen = try ipAddresses(host, "br0")
        let v4 = seen.first { $0["local"] as? String == "10.10.0.1" }
        #expect(v4?["prefixlen"] as? Int == 24)
        #expect(v4?["broadcast"] as? String == "10.10.0.255")
        let v6 = seen.first { $0["local"] as? String == "fd00:10::1" }
        #expect(v6?["prefixlen"] as? Int == 64)
        #expect(v6?["tentative"] == nil) // no DAD: usable at once

        let ours = try host.socket.addresses(of: "br0").map(\.address.description)
        #expect(ours.contains("10.10.0.1/24"))
        #expect(ours.contains("fd00:10::1/64"))
        #expect(try host.socket.addresses(of: "br0", family: .v4).map(\.address.description) == ["10.10.0.1/24"])
        #expect(try host.socket.addresses(of: "br0").first { $0.address.description == "fd00:10::1/64" }?.skipsDuplicateDetection == true)

        try host.socket.deleteAddress(try cidr("10.10.0.1/24"), from: "br0")
        try host.socket.deleteAddress(try cidr("fd00:10::1/64"), from: "br0")
        #expect(try ipAddresses(host, "br0").allSatisfy { $0["family"] as? String != "inet" })
        #expect(try ipAddresses(host, "br0").allSatisfy { $0["local"] as? String != "fd00:10::1" })
        // Already gone, and a link that does not exist: both success.
        try host.socket.deleteAddress(try cidr("10.10.0.1/24"), from: "br0")
        try host.socket.deleteAddress(try cidr("10.10.0.1/24"), from: "nosuch0")
    }

    @Test func duplicateAddressIsAlreadyExists() throws {
        let host = try hostWithBridge()
        try host.socket.addAddress(try cidr("10.10.0.1/24"), to: "br0")
        #expect {
            try host.socket.addAddress(try cidr("10.10.0.1/24"), to: "br0")
        } throws: { error in
            (error as? NetworkError)?.code == .alreadyExists && "\(error)".contains("10.10.0.1/24")
        }
        #expect {
            try host.socket.addAddress(try cidr("10.10.0.1/24"), to: "nosuch0")
        } throws: { error in
            (error as? NetworkError)?.code == .notFound && "\(error)".contains("nosuch0")
        }
    }

    @Test func defaultGatewayScopeLinkMetricAndTableRoutes() throws {
        let host = try hostWithBridge()
        try host.socket.addAddress(try cidr("10.10.0.1/24"), to: "br0")
        try host.socket.addAddress(try cidr("fd00:10::1/64"), to: "br0", skipDuplicateDetection: true)

        try host.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 10, 0, 254)), device: "br0"))
        try host.socket.addRoute(Route(destination: try cidr("10.20.0.0/16"), device: "br0", metric: 50))
        try host.socket.addRoute(Route(destination: try cidr("10.30.0.0/16"), gateway: IPAddress("10.10.0.253"), table: 1000))
        try host.socket.addRoute(.defaultRoute(via: .v6(IPv6Address("fd00:10::fe") ?? .any), device: "br0", metric: 10))

        let main = try host.ipJSON("route", "show")
        let defaultRoute = main.first { $0["dst"] as? String == "default" }
        #expect(defaultRoute?["gateway"] as? String == "10.10.0.254")
        #expect(defaultRoute?["dev"] as? String == "br0")
        let linkRoute = main.first { $0["dst"] as? String == "10.20.0.0/16" }
        #expect(linkRoute?["scope"] as? String == "link")
        #expect(linkRoute?["metric"] as? Int == 50)
        let tabled = try host.ipJSON("route", "show", "table", "1000")
        #expect(tabled.first?["dst"] as? String == "10.30.0.0/16")
        #expect(tabled.first?["gateway"] as? String == "10.10.0.253")
        let v6 = try host.ipJSON("-6", "route", "show", "default")
        #expect(v6.first?["gateway"] as? String == "fd00:10::fe")
        #expect(v6.first?["metric"] as? Int == 10)

        let ours = try host.socket.routes(family: .v4)
        #expect(ours.contains { $0.isDefault && $0.gateway == IPAddress("10.10.0.254") })
        #expect(ours.contains { $0.destination.description == "10.20.0.0/16" && $0.metric == 50 && $0.scope == .link })
        #expect(try host.socket.routes(family: .v4, table: 1000).map(\.destination.description) == ["10.30.0.0/16"])
        #expect(try host.socket.routes(family: .v6).contains { $0.isDefault && $0.metric == 10 })

        #expect {
            try host.socket.addRoute(Route(destination: try cidr("10.20.0.0/16"), device: "br0", metric: 50))
        } throws: { ($0 as? NetworkError)?.code == .alreadyExists }

        let doomed = Route(destination: try cidr("10.30.0.0/16"), gateway: IPAddress("10.10.0.253"), table: 1000)
        try host.socket.deleteRoute(doomed)
        try host.socket.deleteRoute(doomed)
        #expect(try host.ipJSON("route", "show", "table", "1000").isEmpty)
        try host.socket.deleteRoute(.defaultRoute(via: .v4(IPv4Address(10, 10, 0, 254)), device: "br0"))
        #expect(try host.ipJSON("route", "show", "default").isEmpty)
    }

    @Test func unreachableGatewayIsRefusedNamingTheRoute() throws {
        let host = try hostWithBridge()
        #expect {
            try host.socket.addRoute(.defaultRoute(via: .v4(IPv4Address(192, 0, 2, 1))))
        } throws: { error in
            "\(error)".contains("192.0.2.1")
        }
    }
}
