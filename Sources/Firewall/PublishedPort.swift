import NetCore

/// A port mapping of one container address: `-p 8080:80` for the container at 10.88.0.5.
///
/// The network it is published on is passed alongside (``FirewallDriver/publish(_:on:)``),
/// because what the firewall does with a port depends on the network's options.
public struct PublishedPort: Sendable, Hashable, CustomStringConvertible {
    public var mapping: PortMapping
    /// The container address traffic is sent to; its family decides which DNAT maps are used.
    public var containerAddress: IPAddress
    /// Who published it (container or endpoint ID): stored as the nftables element comment
    /// so `nft list` and conflict errors can say whose port is in the way.
    public var owner: String

    public init(mapping: PortMapping, containerAddress: IPAddress, owner: String) {
        self.mapping = mapping
        self.containerAddress = containerAddress
        self.owner = owner
    }

    /// Parses Docker's `-p` syntax (`[HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/PROTO]`).
    ///
    /// - Throws: ``NetworkError`` naming the spec and what is wrong with it.
    public init(parsing spec: String, containerAddress: IPAddress, owner: String) throws {
        self.init(mapping: try PortMapping(parsing: spec), containerAddress: containerAddress, owner: owner)
    }

    public var description: String { "\(mapping) -> \(containerAddress) (\(owner))" }
}
