import NetCore

/// The destinations of the host's routes, which a new network's subnet must not overlap.
///
/// A protocol so IPAM does not depend on Netlink: the CLI passes a netlink-backed reader,
/// tests pass an array.
public protocol HostRoutes {
    /// The destination of every route on the host (default routes included; callers of this
    /// protocol ignore prefix length 0, which overlaps everything).
    func routeDestinations() throws -> [CIDR]
}

extension Array: HostRoutes where Element == CIDR {
    public func routeDestinations() throws -> [CIDR] { self }
}
