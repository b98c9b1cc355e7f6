#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// How far a route's destination is (`RT_SCOPE_*`).
public enum RouteScope: UInt8, Sendable {
    /// `RT_SCOPE_UNIVERSE`: through a gateway.
    case universe = 0
    /// `RT_SCOPE_SITE`.
    case site = 200
    /// `RT_SCOPE_LINK`: directly on the link.
    case link = 253
    /// `RT_SCOPE_HOST`: this host.
    case host = 254
    /// `RT_SCOPE_NOWHERE`.
    case nowhere = 255
}

/// A route: `destination [via gateway] [dev device] [metric m] [table t]`.
public struct Route: Sendable, Hashable, CustomStringConvertible {
    /// `0.0.0.0/0` or `::/0` for a default route.
    public var destination: CIDR
    public var gateway: IPAddress?
    public var device: LinkReference?
    public var metric: UInt32?
    /// `RT_TABLE_MAIN` (254) unless set.
    public var table: UInt32
    /// `nil` lets it follow from the route: link scope without a gateway, universe with one.
    public var scope: RouteScope?
    public var preferredSource: IPAddress?
    /// `RTNH_F_ONLINK`: the gateway is on the device's link even though no address of the
    /// device covers it. An overlay routes each remote subnet via that subnet's own first
    /// address on the vxlan device, which only a permanent neighbour entry resolves.
    public var onlink: Bool

    /// The main routing table, `RT_TABLE_MAIN`.
    public static let mainTable = UInt32(RT_TABLE_MAIN.rawValue)

    public init(destination: CIDR, gateway: IPAddress? = nil, device: LinkReference? = nil, metric: UInt32? = nil,
                table: UInt32 = Route.mainTable, scope: RouteScope? = nil, preferredSource: IPAddress? = nil,
                onlink: Bool = false) {
        self.destination = destination
        self.gateway = gateway
        self.device = device
        self.metric = metric
        self.table = table
        self.scope = scope
        self.preferredSource = preferredSource
        self.onlink = onlink
    }

    /// The default route of `gateway`'s family.
    public static func defaultRoute(via gateway: IPAddress, device: LinkReference? = nil, metric: UInt32? = nil) -> Route {
        Route(destination: .all(gateway.family), gateway: gateway, device: device, metric: metric)
    }

    public var isDefault: Bool { destination.prefixLength == 0 }

    var effectiveScope: RouteScope {
        scope ?? (gateway == nil && device != nil && destination.family == .v4 ? .link : .universe)
    }

    public var description: String {
        var text = isDefault ? "default" : destination.description
        if let gateway { text += " via \(gateway)" }
        if let device { text += " dev \(device)" }
        if onlink { text += " onlink" }
        if let metric { text += " metric \(metric)" }
        if table != Self.mainTable { text += " table \(table)" }
        return text
    }
}

extension RouteSocket {
    /// Adds `route`.
    ///
    /// - Throws: ``NetworkError`` `.alreadyExists` for a duplicate, `.invalidArgument` when the
    ///   gateway is not reachable, `.notFound` when the device does not exist.
    public func addRoute(_ route: Route) throws {
        try installRoute(route, [.request, .acknowledge, .create, .exclusive], verb: "add")
    }

    /// Adds `route`, or replaces the route with its destination, metric and table
    /// (`NLM_F_CREATE | NLM_F_REPLACE`, as `ip route replace`): calling it again leaves one route.
    ///
    /// - Throws: ``NetworkError`` `.invalidArgument` when the gateway is not reachable,
    ///   `.notFound` when the device does not exist.
    public func replaceRoute(_ route: Route) throws {
        try installRoute(route, [.request, .acknowledge, .create, .replace], verb: "replace")
    }

    private func installRoute(_ route: Route, _ flags: MessageFlags, verb: String) throws {
        let message = try routeMessage(.newRoute, flags, route, deleting: false)
        do {
            _ = try request(message, operation: "RTM_NEWROUTE \(route)")
        } catch let error as NetlinkError {
            switch error.errno {
            case .fileExists:
                throw NetworkError(code: .alreadyExists, message: "route \(route) already exists", cause: error)
            case .networkUnreachable:
                throw NetworkError(code: .invalidArgument, message: "route \(route): gateway is not reachable", cause: error)
            default:
                throw NetworkError(code: .system, message: "cannot \(verb) route \(route)", cause: error)
            }
        }
    }

    /// Deletes `route`. A route or device that is already gone is success.
    public func deleteRoute(_ route: Route) throws {
        let message: MessageBuilder
        do {
            message = try routeMessage(.deleteRoute, [.request, .acknowledge], route, deleting: true)
        } catch let error as NetworkError where error.code == .notFound {
            return
        }
        do {
            _ = try request(message, operation: "RTM_DELROUTE \(route)")
        } catch Errno.noSuchProcess {
            return
        } catch Errno.noSuchDevice {
            return
        }
    }

    /// The unicast routes of `family` in `table`.
    public func routes(family: IPAddress.Family, table: UInt32 = Route.mainTable) throws -> [Route] {
        try dump(operation: "RTM_GETROUTE dump") {
            let message = MessageBuilder(type: .getRoute, flags: [.request, .dump])
            var header = rtmsg()
            header.rtm_family = Self.addressFamily(family)
            try message.append(header)
            return message
        }
        .compactMap(Route.init)
        .filter { $0.table == table }
    }

    private func routeMessage(_ type: MessageType, _ flags: MessageFlags, _ route: Route, deleting: Bool) throws -> MessageBuilder {
        if let gateway = route.gateway, gateway.family != route.destination.family {
            throw NetworkError.invalid("gateway", gateway.description, "is not of the destination's family (\(route.destination))")
        }
        let deviceIndex = try route.device.map { try index(of: $0) }
        let message = MessageBuilder(type: type, flags: flags)
        var header = rtmsg()
        header.rtm_family = Self.addressFamily(route.destination.family)
        header.rtm_dst_len = UInt8(route.destination.prefixLength)
        header.rtm_table = route.table < 256 ? UInt8(route.table) : UInt8(RT_TABLE_UNSPEC.rawValue)
        if deleting {
            // Match whatever scope the route was added with.
            header.rtm_scope = UInt8(RT_SCOPE_NOWHERE.rawValue)
        } else {
            header.rtm_protocol = UInt8(RTPROT_BOOT)
            header.rtm_scope = route.effectiveScope.rawValue
            header.rtm_type = UInt8(RTN_UNICAST)
        }
        if route.onlink { header.rtm_flags = UInt32(RTNH_F_ONLINK) }
        try message.append(header)
        if route.destination.prefixLength > 0 {
            try message.put(RouteAttribute.destination, address: route.destination.networkAddress)
        }
        if let gateway = route.gateway { try message.put(RouteAttribute.gateway, address: gateway) }
        if let deviceIndex { try message.put(RouteAttribute.outputInterface, UInt32(bitPattern: deviceIndex)) }
        if let metric = route.metric { try message.put(RouteAttribute.priority, metric) }
        if let source = route.preferredSource { try message.put(RouteAttribute.preferredSource, address: source) }
        try message.put(RouteAttribute.table, route.table)
        return message
    }
}

extension Route {
    /// Reads an `RTM_NEWROUTE` message; `nil` for non-unicast and cloned routes.
    init?(_ message: ReplyMessage) {
        let payload = message.payload
        guard message.type == .newRoute, let header = payload.header(as: rtmsg.self) else { return nil }
        let family: IPAddress.Family = Int32(header.rtm_family) == AF_INET6 ? .v6 : .v4
        guard header.rtm_type == UInt8(RTN_UNICAST), header.rtm_flags & UInt32(RTM_F_CLONED) == 0 else { return nil }
        let attributes = Attributes(payload[(payload.startIndex + MemoryLayout<rtmsg>.size)...])
        let destinationAddress = attributes.address(RouteAttribute.destination) ?? CIDR.all(family).address
        guard let destination = try? CIDR(address: destinationAddress, prefixLength: Int(header.rtm_dst_len)) else { return nil }
        self.init(
            destination: destination,
            gateway: attributes.address(RouteAttribute.gateway),
            device: attributes.int32(RouteAttribute.outputInterface).map(LinkReference.index),
            metric: attributes.uint32(RouteAttribute.priority),
            table: attributes.uint32(RouteAttribute.table) ?? UInt32(header.rtm_table),
            scope: RouteScope(rawValue: header.rtm_scope),
            preferredSource: attributes.address(RouteAttribute.preferredSource),
            onlink: header.rtm_flags & UInt32(RTNH_F_ONLINK) != 0)
    }
}
