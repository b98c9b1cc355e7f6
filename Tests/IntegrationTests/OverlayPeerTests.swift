import Foundation
import Namespaces
import NetCore
import Netlink
import Testing

/// What a routed VXLAN overlay programs per remote host, on real kernel objects: the vxlan on
/// its underlay, then per peer a permanent neighbour entry, a forwarding entry and an onlink
/// route, each checked with the library's dumps and with `ip` / `bridge`.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct OverlayPeerTests {
    static let vtepMAC = "02:0e:0a:c8:01:00"
    static let peerMAC = "02:0e:0a:c8:02:00"

    /// The peer at 10.99.0.2 whose subnet is 10.200.2.0/24, as this host programs it.
    struct Peer {
        var neighbour: Neighbour
        var entry: FDBEntry
        var route: Route

        init(mac: String = OverlayPeerTests.peerMAC, underlay: String = "10.99.0.2") throws {
            let gateway = try address("10.200.2.0")
            let mac = try MACAddress(parsing: mac)
            neighbour = Neighbour(device: "vx0", address: gateway, mac: mac)
            entry = FDBEntry(device: "vx0", mac: mac, destination: try address(underlay))
            route = Route(destination: try cidr("10.200.2.0/24"), gateway: gateway, device: "vx0", onlink: true)
        }

        /// In the overlay's order: the route last, so the kernel never has to resolve its gateway.
        func program(on socket: RouteSocket) throws {
            try socket.replaceNeighbour(neighbour)
            try socket.replaceFDBEntry(entry)
            try socket.replaceRoute(route)
        }

        func remove(from socket: RouteSocket) throws {
            try socket.deleteRoute(route)
            try socket.deleteFDBEntry(entry)
            try socket.deleteNeighbour(neighbour)
        }
    }

    /// A host with the underlay veth `ul0` (10.99.0.1/24; its peer `ul1` up beside it) and on
    /// it the vxlan `vx0` an overlay makes: VNI 42, port 4789, no learning, MTU 1450, a fixed
    /// MAC, and its subnet's first address as a /32.
    func overlayHost() throws -> TestNamespace {
        let host = try TestNamespace("ov")
        try host.socket.addLink(LinkSpec(name: InterfaceName("ul0"), kind: .veth(peer: VethPeer(name: InterfaceName("ul1"))), up: true))
        try host.socket.setLink("ul1", up: true)
        try host.socket.addAddress(try cidr("10.99.0.1/24"), to: "ul0")
        let options = VXLANOptions(vni: 42, local: try address("10.99.0.1"), port: 4789, underlay: "ul0", learning: false)
        try host.socket.addLink(LinkSpec(name: InterfaceName("vx0"), kind: .vxlan(options), mtu: 1450,
                                         mac: try MACAddress(parsing: Self.vtepMAC), up: true))
        try host.socket.addAddress(try cidr("10.200.1.0/32"), to: "vx0")
        return host
    }

    @Test func vxlanIsCreatedWithoutLearningWithItsMACAndMTUAndReadsBack() throws {
        let host = try overlayHost()
        let seen = try host.ipLink("vx0")
        #expect(seen?["mtu"] as? Int == 1450)
        #expect(seen?["address"] as? String == Self.vtepMAC)
        let data = infoData(seen)
        #expect(data["id"] as? Int == 42)
        #expect(data["port"] as? Int == 4789)
        #expect(data["learning"] as? Bool == false)
        #expect(data["local"] as? String == "10.99.0.1")
        #expect(data["link"] as? String == "ul0")

        let underlay = try #require(try host.socket.link(named: InterfaceName("ul0")))
        let link = try #require(try host.socket.link(named: InterfaceName("vx0")))
        #expect(link.mtu == 1450)
        #expect(link.mac == (try MACAddress(parsing: Self.vtepMAC)))
        #expect(link.vxlan == VXLANOptions(vni: 42, local: try address("10.99.0.1"), port: 4789, underlay: .index(underlay.index), learning: false))
        #expect(underlay.vxlan == nil)
    }

    @Test func programmingAPeerTwiceLeavesOneOfEachAsTheKernelAndIpSeeThem() throws {
        let host = try overlayHost()
        let vx = try #require(try host.socket.link(named: InterfaceName("vx0")))
        let peer = try Peer()
        try peer.program(on: host.socket)
        try peer.program(on: host.socket)

        // The library's dumps. IPv4 only: as links come up the kernel adds NOARP entries of its
        // own for the IPv6 multicast groups it joins (ff02::16, ff02::2...), at its own pace.
        let mac = try MACAddress(parsing: Self.peerMAC)
        #expect(try host.socket.neighbours(of: "vx0", family: .v4) == [Neighbour(device: .index(vx.index), address: try address("10.200.2.0"), mac: mac)])
        #expect(try host.socket.fdbEntries(of: "vx0") == [FDBEntry(device: .index(vx.index), mac: mac, destination: try address("10.99.0.2"))])
        let routes = try host.socket.routes(family: .v4).filter { $0.device == .index(vx.index) }
        #expect(routes.count == 1)
        #expect(routes.first?.destination == (try cidr("10.200.2.0/24")))
        #expect(routes.first?.gateway == (try address("10.200.2.0")))
        #expect(routes.first?.onlink == true)
        #expect(routes.first?.scope == .universe)
        // The underlay's own neighbours and entries are not the vxlan's.
        #expect(try host.socket.neighbours(of: "ul0", family: .v4).isEmpty)
        #expect(try host.socket.fdbEntries(of: "ul0").isEmpty)

        // iproute2's view.
        let neighbours = try host.ipJSON("neigh", "show", "dev", "vx0")
        #expect(neighbours.count == 1)
        #expect(neighbours.first?["dst"] as? String == "10.200.2.0")
        #expect(neighbours.first?["lladdr"] as? String == Self.peerMAC)
        #expect((neighbours.first?["state"] as? [String]) == ["PERMANENT"])
        let entries = try host.bridgeJSON("fdb", "show", "dev", "vx0")
        #expect(entries.count == 1, "\(entries)")
        #expect(entries.first?["mac"] as? String == Self.peerMAC)
        #expect(entries.first?["dst"] as? String == "10.99.0.2")
        #expect((entries.first?["flags"] as? [String])?.contains("self") == true)
        #expect(entries.first?["state"] as? String == "permanent")
        let ipRoutes = try host.ipJSON("route", "show", "dev", "vx0")
        #expect(ipRoutes.count == 1)
        #expect(ipRoutes.first?["dst"] as? String == "10.200.2.0/24")
        #expect(ipRoutes.first?["gateway"] as? String == "10.200.2.0")
        #expect((ipRoutes.first?["flags"] as? [String])?.contains("onlink") == true)
        let lookup = try run(["ip", "-n", host.name, "route", "get", "10.200.2.7"])
        #expect(lookup.status == 0)
        #expect(lookup.text.contains("via 10.200.2.0 dev vx0"), "\(lookup.text)")
    }

    @Test func replacingAPeerChangesItsEntriesInPlace() throws {
        let host = try overlayHost()
        let vx = try #require(try host.socket.link(named: InterfaceName("vx0")))
        try Peer().program(on: host.socket)
        // The peer came back with a new VTEP MAC and underlay address.
        let moved = try Peer(mac: "02:0e:0a:c8:02:99", underlay: "10.99.0.3")
        try moved.program(on: host.socket)

        #expect(try host.socket.neighbours(of: "vx0", family: .v4).map(\.mac) == [moved.neighbour.mac])
        #expect(try host.ipJSON("neigh", "show", "dev", "vx0").compactMap { $0["lladdr"] as? String } == ["02:0e:0a:c8:02:99"])
        // The old MAC's entry stays until deleted; the new MAC points at the new address.
        let entries = try host.socket.fdbEntries(of: "vx0")
        #expect(Set(entries) == [
            FDBEntry(device: .index(vx.index), mac: try MACAddress(parsing: Self.peerMAC), destination: try address("10.99.0.2")),
            FDBEntry(device: .index(vx.index), mac: moved.entry.mac, destination: try address("10.99.0.3")),
        ])
        // Replace, not append: one destination per MAC.
        try host.socket.replaceFDBEntry(FDBEntry(device: "vx0", mac: moved.entry.mac, destination: try address("10.99.0.4")))
        let forMAC = try host.bridgeJSON("fdb", "show", "dev", "vx0").filter { $0["mac"] as? String == "02:0e:0a:c8:02:99" }
        #expect(forMAC.compactMap { $0["dst"] as? String } == ["10.99.0.4"])
        // Deleting what it no longer points at leaves it.
        try host.socket.deleteFDBEntry(moved.entry)
        let current = try address("10.99.0.4")
        #expect(try host.socket.fdbEntries(of: "vx0").contains { $0.mac == moved.entry.mac && $0.destination == current })
        #expect(try host.ipJSON("route", "show", "dev", "vx0").count == 1)
    }

    @Test func removingInReverseLeavesNothingAndRemovingAgainSucceeds() throws {
        let host = try overlayHost()
        let peer = try Peer()
        try peer.program(on: host.socket)
        try peer.remove(from: host.socket)

        #expect(try host.socket.neighbours(of: "vx0", family: .v4).isEmpty)
        #expect(try host.socket.fdbEntries(of: "vx0").isEmpty)
        #expect(try host.socket.routes(family: .v4).allSatisfy { $0.destination != peer.route.destination })
        #expect(try host.ipJSON("neigh", "show", "dev", "vx0").isEmpty)
        #expect(try host.bridgeJSON("fdb", "show", "dev", "vx0").isEmpty)
        #expect(try host.ipJSON("route", "show", "dev", "vx0").isEmpty)
        #expect(try run(["ip", "-n", host.name, "route", "get", "10.200.2.7"]).text.contains("vx0") == false)

        // Idempotent teardown: everything already gone, then the device itself.
        try peer.remove(from: host.socket)
        try host.socket.deleteLink("vx0")
        try peer.remove(from: host.socket)
    }

    @Test func ipv6NeighboursAreListedByFamily() throws {
        let host = try overlayHost()
        let mac = try MACAddress(parsing: Self.peerMAC)
        let v4 = Neighbour(device: "vx0", address: try address("10.200.2.0"), mac: mac)
        let v6 = Neighbour(device: "vx0", address: try address("fd00:200:2::"), mac: mac)
        try host.socket.replaceNeighbour(v4)
        try host.socket.replaceNeighbour(v6)
        // The kernel may add IPv6 entries of its own to a device that is up (multicast): only
        // ours are looked for, and each family's listing holds that family only.
        let listedV4 = try host.socket.neighbours(of: "vx0", family: .v4), listedV6 = try host.socket.neighbours(of: "vx0", family: .v6)
        #expect(listedV4.map(\.address) == [v4.address])
        #expect(listedV6.contains { $0.address == v6.address } && listedV6.allSatisfy { $0.address.family == .v6 })
        #expect(Set(try host.socket.neighbours(of: "vx0").map(\.address)).isSuperset(of: [v4.address, v6.address]))
        #expect(try host.ipJSON("-6", "neigh", "show", "dev", "vx0").compactMap { $0["dst"] as? String }.contains("fd00:200:2::"))
        try host.socket.deleteNeighbour(v6)
        try host.socket.deleteNeighbour(v4)
        // The kernel may add entries of its own meanwhile (IPv6 multicast on a device that is up).
        #expect(try host.socket.neighbours(of: "vx0").filter { [v4.address, v6.address].contains($0.address) }.isEmpty)
    }
}

private func address(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "address") }

extension TestNamespace {
    /// `bridge -j -n NAME ARGS...`, decoded.
    func bridgeJSON(_ arguments: String...) throws -> [[String: Any]] {
        let output = try run(["bridge", "-j", "-n", name] + arguments)
        guard output.status == 0 else { throw CommandFailed(command: "bridge \(arguments)", output: output.text) }
        let text = output.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [] }
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
    }
}
