import Namespaces
import NetCore
import Netlink

/// The addresses and routes a container interface gets, whoever allocated them.
public struct IPConfiguration: Sendable, Hashable {
    public struct Assignment: Sendable, Hashable {
        /// The container's address with the subnet's prefix length.
        public var address: CIDR
        public var gateway: IPAddress?

        public init(address: CIDR, gateway: IPAddress? = nil) {
            self.address = address
            self.gateway = gateway
        }

        /// The gateway with the subnet's prefix length, as the bridge carries it.
        public var gatewayOnLink: CIDR? {
            gateway.flatMap { try? CIDR(address: $0, prefixLength: address.prefixLength) }
        }
    }

    public var assignments: [Assignment]
    /// Extra routes inside the container (destination via an optional gateway).
    public var routes: [Route]

    public init(assignments: [Assignment] = [], routes: [Route] = []) {
        self.assignments = assignments
        self.routes = routes
    }
}

extension IPConfiguration {
    /// The gateway of the first assignment of `family` that has one.
    /// Adds a default route via each assignment's gateway whose family is not in `present`
    /// (the families the sandbox already has one of), at most one per family.
    public mutating func addDefaultRoutes(besides present: Set<IPAddress.Family>) {
        var families = present
        for gateway in assignments.compactMap(\.gateway) where families.insert(gateway.family).inserted {
            routes.append(.defaultRoute(via: gateway))
        }
    }

    /// A route the interface gets: to `destination`, via `gateway` when given.
    public static func route(to destination: CIDR, via gateway: IPAddress?, metric: UInt32?) -> Route {
        Route(destination: destination, gateway: gateway, metric: metric)
    }

    /// Leaves the default routes out (a driver that adds them itself gets none twice).
    public mutating func removeDefaultRoutes() {
        routes.removeAll(where: \.isDefault)
    }

    public func gateway(for family: IPAddress.Family) -> IPAddress? {
        assignments.first { $0.address.family == family && $0.gateway?.family == family }?.gateway
    }

    /// A default route via the first gateway of each family (no routes when no assignment has
    /// a gateway), for callers that want the container to route everything through it.
    public var defaultRoutesViaGateways: [Route] {
        [IPAddress.Family.v4, .v6].compactMap { family in gateway(for: family).map { Route.defaultRoute(via: $0) } }
    }

    /// ``routes`` as they go into the container on `device`: a route without a gateway goes
    /// via the gateway of its family, as the reference plugins' `ConfigureIface` does (it is
    /// on-link only when there is none), and an exact duplicate is left out.
    public func containerRoutes(device: Int32) -> [Route] {
        var seen = Set<Route>()
        return routes.compactMap { route in
            var route = route
            route.device = route.device ?? .index(device)
            if route.gateway == nil { route.gateway = gateway(for: route.destination.family) }
            return seen.insert(route).inserted ? route : nil
        }
    }
}

extension Route {
    /// Whether `installed`, as the kernel lists it, is this route on the link `deviceIndex`.
    /// An unset metric matches any (the kernel gives IPv6 routes 1024).
    func isSatisfied(by installed: Route, deviceIndex: Int32) -> Bool {
        guard installed.destination == destination, installed.gateway == gateway, installed.table == table else { return false }
        if let metric, installed.metric != metric { return false }
        let wanted: Int32? = switch device {
        case .index(let index)?: index
        case .name?, nil: deviceIndex
        }
        if case .index(let index)? = installed.device { return index == wanted }
        return false
    }
}

extension RouteSocket {
    /// Adds `routes` on the link `deviceIndex`; a route that is already there exactly as given
    /// is no error (two sources asked for the same one), a different one in its place is.
    func addRoutes(_ routes: [Route], deviceIndex: Int32) throws {
        for route in routes {
            do {
                try addRoute(route)
            } catch let error as NetworkError where error.code == .alreadyExists {
                let present = try self.routes(family: route.destination.family, table: route.table)
                guard present.contains(where: { route.isSatisfied(by: $0, deviceIndex: deviceIndex) }) else { throw error }
            }
        }
    }

    /// CHECK of a container interface, `link` in this socket's namespace: its MAC (when
    /// `mac` is given), `addresses` and `routes` on it.
    ///
    /// - Throws: ``NetworkError`` naming the first thing missing or different.
    func checkInterface(_ link: Link, of id: AttachmentID, in namespace: NetNamespace, mac: MACAddress?,
                        addresses: [CIDR], routes: [Route]) throws {
        if let mac, link.mac != mac {
            throw NetworkError.mismatch("interface \"\(id.interface)\" has MAC \(link.mac?.description ?? "none"), expected \(mac)")
        }
        let present = try self.addresses(of: .index(link.index)).map(\.address)
        for address in addresses where !present.contains(address) {
            throw NetworkError.mismatch("interface \"\(id.interface)\" lacks address \(address)")
        }
        if let route = try missingRoute(routes, deviceIndex: link.index) {
            throw NetworkError.mismatch("route \(route.summary) is missing from interface \"\(id.interface)\" in \(namespace.path)")
        }
    }

    /// The first of `routes` that is not installed on the link `deviceIndex`, if any.
    func missingRoute(_ routes: [Route], deviceIndex: Int32) throws -> Route? {
        var listed: [String: [Route]] = [:]
        for route in routes {
            let key = "\(route.destination.family)/\(route.table)"
            if listed[key] == nil { listed[key] = try self.routes(family: route.destination.family, table: route.table) }
            if !(listed[key] ?? []).contains(where: { route.isSatisfied(by: $0, deviceIndex: deviceIndex) }) { return route }
        }
        return nil
    }
}

extension Route {
    /// `default via 10.0.0.1`, `10.1.0.0/16`: the route without its device, for messages.
    public var summary: String {
        (isDefault ? "default" : destination.description) + (gateway.map { " via \($0)" } ?? "")
    }
}
