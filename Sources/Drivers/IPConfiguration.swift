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
