import NetCore

/// An address held by a ``LeaseKey``, with the subnet's prefix length and the gateway, which is
/// what the container's interface needs.
public struct Lease: Hashable, Sendable, CustomStringConvertible {
    public let key: LeaseKey
    /// The address with its subnet's prefix length, e.g. `10.88.0.5/16`.
    public let address: CIDR
    public let gateway: IPAddress?

    public init(key: LeaseKey, address: CIDR, gateway: IPAddress?) {
        self.key = key
        self.address = address
        self.gateway = gateway
    }

    public var description: String { "\(address) for \(key)" }
}
