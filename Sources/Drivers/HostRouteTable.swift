import IPAM
import NetCore
import Netlink

/// The host's routes as IPAM's subnet selection sees them, read through netlink: a network
/// created without a subnet must not shadow a LAN or VPN route.
public struct HostRouteTable: HostRoutes {
    public let socket: RouteSocket

    public init(socket: RouteSocket) { self.socket = socket }

    /// The destinations of the main table's unicast routes, both families.
    public func routeDestinations() throws -> [CIDR] {
        try [IPAddress.Family.v4, .v6].flatMap { try socket.routes(family: $0).map(\.destination) }
    }
}
