import Namespaces
import NetCore
import Netlink

/// The VXLAN device of one overlay network on this host.
public struct OverlayTunnel: Sendable, Hashable {
    public var name: InterfaceName
    public var vni: UInt32
    public var port: UInt16
    /// The host's underlay address: the outer source of its packets.
    public var local: IPAddress
    /// The interface that carries `local`.
    public var underlay: InterfaceName
    /// Derived from the host and the network, so it stays the same across restarts: the
    /// other hosts' neighbour entries point at it.
    public var mac: MACAddress
    public var mtu: UInt32
    /// The first address of the host's share, as a /32: the next hop the other hosts route to.
    public var address: IPAddress

    public init(name: InterfaceName, vni: UInt32, port: UInt16, local: IPAddress, underlay: InterfaceName,
                mac: MACAddress, mtu: UInt32, address: IPAddress) {
        self.name = name
        self.vni = vni
        self.port = port
        self.local = local
        self.underlay = underlay
        self.mac = mac
        self.mtu = mtu
        self.address = address
    }
}

/// Another host of an overlay network, as this host's kernel needs it: one neighbour entry,
/// one FDB entry and one route, whatever the number of its containers.
public struct OverlayPeer: Sendable, Hashable, CustomStringConvertible {
    /// The peer's share.
    public var subnet: CIDR
    /// The peer's VXLAN device MAC and underlay address.
    public var mac: MACAddress
    public var underlay: IPAddress

    public init(subnet: CIDR, mac: MACAddress, underlay: IPAddress) {
        self.subnet = subnet
        self.mac = mac
        self.underlay = underlay
    }

    /// The share's first address, on the peer's VXLAN device.
    public var gateway: IPAddress { subnet.networkAddress }

    public var description: String { "\(subnet) at \(underlay)" }
}

/// What one ``OverlayFabric/program(_:peers:)`` changed.
public struct OverlayPeerChanges: Sendable {
    public var added: [OverlayPeer] = []
    public var removed: [OverlayPeer] = []
}

/// The kernel side of overlay networks on this host: their VXLAN devices and, per remote
/// host, the neighbour → FDB → route triple (flannel's order: the route comes last, so the
/// kernel never has to resolve its next hop; removal goes in reverse).
public struct OverlayFabric {
    let host: RouteSocket

    public init(host: RouteSocket) {
        self.host = host
    }

    /// The fabric in the calling thread's (the host's) namespace.
    public static func onHost() throws -> OverlayFabric {
        OverlayFabric(host: try RouteSocket.open())
    }

    /// The interface that has `address`, and its MTU.
    ///
    /// - Throws: ``NetworkError`` `.notFound` naming the address when no interface has it.
    public func underlay(of address: IPAddress, field: String = "--advertise") throws -> (name: InterfaceName, mtu: UInt32) {
        guard let owner = try host.addresses(family: address.family).first(where: { $0.address.address == address }),
              let link = try host.link(index: owner.interfaceIndex) else {
            throw NetworkError.invalid(field, address.description, "is an address of no interface of this host")
        }
        return (try InterfaceName(link.name, field: "underlay interface"), link.mtu)
    }

    /// Makes the tunnel, or brings an existing one to what it should be (MAC, MTU, address, up).
    public func ensure(_ tunnel: OverlayTunnel) throws {
        var link = try host.link(named: tunnel.name)
        if let existing = link, existing.kind != .vxlan {
            throw NetworkError(code: .alreadyExists, message: "interface \(tunnel.name) exists and is no VXLAN device")
        }
        if link == nil {
            var options = VXLANOptions(vni: tunnel.vni, local: tunnel.local, port: tunnel.port, underlay: .name(tunnel.underlay))
            options.learning = false
            try host.addLink(LinkSpec(name: tunnel.name, kind: .vxlan(options), mtu: tunnel.mtu, mac: tunnel.mac))
            link = try host.link(named: tunnel.name)
        }
        guard let link else { throw NetworkError(code: .notFound, message: "VXLAN device \(tunnel.name) vanished as it was made") }
        let reference = LinkReference.index(link.index)
        if link.mac != tunnel.mac { try host.setMAC(reference, tunnel.mac) }
        if link.mtu != tunnel.mtu { try host.setMTU(reference, tunnel.mtu) }
        let address = try CIDR(address: tunnel.address, prefixLength: tunnel.address.family == .v4 ? 32 : 128)
        let present = try host.addresses(of: reference, family: tunnel.address.family)
        for stale in present where stale.address != address {
            try host.deleteAddress(stale.address, from: reference)
        }
        if !present.contains(where: { $0.address == address }) {
            try host.addAddress(address, to: reference, skipDuplicateDetection: true)
        }
        if !link.isUp { try host.setLink(reference, up: true) }
    }

    /// Makes the kernel hold exactly `peers` on `tunnel`: what is missing is added, what is
    /// there for no peer (a host gone, a MAC changed, left by an earlier run) is removed.
    @discardableResult
    public func program(_ tunnel: InterfaceName, peers: Set<OverlayPeer>) throws -> OverlayPeerChanges {
        guard let link = try host.link(named: tunnel) else {
            throw NetworkError(code: .notFound, message: "no VXLAN device \(tunnel)")
        }
        let device = LinkReference.index(link.index)
        let present = try programmed(device)
        var changes = OverlayPeerChanges()
        for peer in present.subtracting(peers).sorted(by: { $0.subnet.description < $1.subnet.description }) {
            try remove(peer, from: device)
            changes.removed.append(peer)
        }
        // Leftovers that make no whole peer (a run cut short): the dumps below see them.
        try removeStrays(on: device, keeping: peers)
        for peer in peers.subtracting(present).sorted(by: { $0.subnet.description < $1.subnet.description }) {
            try add(peer, to: device)
            changes.added.append(peer)
        }
        return changes
    }

    /// Deletes the tunnel and, with it, every entry on it. Idempotent.
    public func remove(_ tunnel: InterfaceName) throws {
        if let link = try host.link(named: tunnel), link.kind == .vxlan {
            try host.deleteLink(.index(link.index), .awaitingReclaim)
        }
    }

    /// Kernel entries on `tunnel`: neighbours, FDB entries and routes (3 per remote host).
    public func entryCounts(_ tunnel: InterfaceName) throws -> (neighbours: Int, fdb: Int, routes: Int) {
        guard let link = try host.link(named: tunnel) else { return (0, 0, 0) }
        let device = LinkReference.index(link.index)
        return (try host.neighbours(of: device, family: .v4).filter { $0.state.contains(.permanent) }.count,
                try host.fdbEntries(of: device).count,
                try routes(on: link.index).count)
    }

    // MARK: Peers

    private func add(_ peer: OverlayPeer, to device: LinkReference) throws {
        var undo = UndoStack()
        do {
            try host.replaceNeighbour(Neighbour(device: device, address: peer.gateway, mac: peer.mac))
            undo.push("neighbour \(peer.gateway)") { try host.deleteNeighbour(Neighbour(device: device, address: peer.gateway, mac: peer.mac)) }
            try host.replaceFDBEntry(FDBEntry(device: device, mac: peer.mac, destination: peer.underlay))
            undo.push("FDB \(peer.mac)") { try host.deleteFDBEntry(FDBEntry(device: device, mac: peer.mac, destination: peer.underlay)) }
            try host.replaceRoute(route(to: peer, on: device))
        } catch {
            _ = undo.unwind()
            throw error
        }
    }

    private func remove(_ peer: OverlayPeer, from device: LinkReference) throws {
        var errors: [any Error] = []
        do { try host.deleteRoute(route(to: peer, on: device)) } catch { errors.append(error) }
        do { try host.deleteFDBEntry(FDBEntry(device: device, mac: peer.mac, destination: peer.underlay)) } catch { errors.append(error) }
        do { try host.deleteNeighbour(Neighbour(device: device, address: peer.gateway, mac: peer.mac)) } catch { errors.append(error) }
        if let first = errors.first { throw first }
    }

    private func route(to peer: OverlayPeer, on device: LinkReference) -> Route {
        var route = Route(destination: peer.subnet, gateway: peer.gateway, device: device)
        route.onlink = true
        return route
    }

    /// The peers whose three entries are all in the kernel.
    private func programmed(_ device: LinkReference) throws -> Set<OverlayPeer> {
        guard case .index(let index) = device else { return [] }
        let neighbours = try host.neighbours(of: device, family: .v4).filter { $0.state.contains(.permanent) }
        let fdb = try host.fdbEntries(of: device)
        var peers = Set<OverlayPeer>()
        for route in try routes(on: index) {
            guard let gateway = route.gateway,
                  let neighbour = neighbours.first(where: { $0.address == gateway }),
                  let entry = fdb.first(where: { $0.mac == neighbour.mac }) else { continue }
            peers.insert(OverlayPeer(subnet: route.destination, mac: neighbour.mac, underlay: entry.destination))
        }
        return peers
    }

    /// Removes neighbours, FDB entries and routes on the device that belong to no peer in `peers`.
    private func removeStrays(on device: LinkReference, keeping peers: Set<OverlayPeer>) throws {
        guard case .index(let index) = device else { return }
        for route in try routes(on: index) where !peers.contains(where: { $0.subnet == route.destination }) {
            try host.deleteRoute(route)
        }
        for entry in try host.fdbEntries(of: device) where !peers.contains(where: { $0.mac == entry.mac && $0.underlay == entry.destination }) {
            try host.deleteFDBEntry(entry)
        }
        for neighbour in try host.neighbours(of: device, family: .v4).filter({ $0.state.contains(.permanent) })
            where !peers.contains(where: { $0.gateway == neighbour.address && $0.mac == neighbour.mac }) {
            try host.deleteNeighbour(neighbour)
        }
    }

    /// The routes through the tunnel to other shares (not its own /32 or link routes).
    private func routes(on index: Int32) throws -> [Route] {
        try host.routes(family: .v4).filter { route in
            route.gateway != nil && route.device == .index(index)
        }
    }
}
