import Namespaces
import NetCore
import Netlink

/// The few questions about links that front ends ask besides attaching: for the `cni:<type>`
/// networks, whose plugins make the links, and for sandboxes' loopback.
public enum HostLinks {
    /// Whether the host (the calling thread's namespace) has a link named `name`.
    public static func exists(_ name: InterfaceName) throws -> Bool {
        try RouteSocket.open().link(named: name) != nil
    }

    /// Deletes the host's bridge `name` when nothing is a port of it; anything else of that
    /// name, or a bridge in use, stays.
    ///
    /// - Returns: whether it was deleted.
    @discardableResult
    public static func deleteBridgeIfUnused(_ name: InterfaceName) throws -> Bool {
        let host = try RouteSocket.open()
        let links = try host.links()
        guard let bridge = links.first(where: { $0.name == name.rawValue }), bridge.kind == .bridge,
              !links.contains(where: { $0.masterIndex == bridge.index }) else { return false }
        try host.deleteLink(.index(bridge.index), .fromEnvironment())
        return true
    }

    /// The MAC of `interface` in `namespace`; `nil` without such a link.
    public static func macAddress(of interface: InterfaceName, in namespace: NetNamespace) -> MACAddress? {
        (try? RouteSocket.open(in: namespace).link(named: interface))??.mac
    }

    /// Brings `lo` up (or down) in `namespace`.
    public static func setLoopback(in namespace: NetNamespace, up: Bool) throws {
        try RouteSocket.open(in: namespace).setLink("lo", up: up)
    }

    /// The destinations of the host's routes, which a new network's subnet must not overlap.
    public static func routeTable() throws -> HostRouteTable {
        HostRouteTable(socket: try RouteSocket.open())
    }
}

extension HostLinks {
    /// Whether the host's link `name` is a bridge (`false` when there is no such link).
    ///
    /// - Throws: ``NetworkError`` when the kernel cannot be asked: a caller that took that for
    ///   "no bridge" would go on without the bridge's rules.
    public static func isBridge(_ name: InterfaceName) throws -> Bool {
        try RouteSocket.open().link(named: name)?.kind == .bridge
    }

    /// `lo` in `namespace`: whether it is up, and its addresses.
    public static func loopback(in namespace: NetNamespace) throws -> (isUp: Bool, addresses: [CIDR]) {
        let socket = try RouteSocket.open(in: namespace)
        guard let lo = try socket.link(named: InterfaceName("lo")) else { return (false, []) }
        return (lo.isUp, try socket.addresses(of: .index(lo.index)).map(\.address))
    }
}
