import NetCore

/// Every network, published port and tunnel peer the firewall should hold, as the caller's
/// store records them; ``FirewallDriver/reload(_:)`` rebuilds the ruleset from it after a flush.
public struct FirewallState: Sendable, Hashable {
    /// One network with the ports published on it.
    public struct Network: Sendable, Hashable {
        public var network: FirewallNetwork
        public var publishedPorts: [PublishedPort]
        /// Whether the network's own rules (masquerade, isolation, hairpin) are installed, or
        /// only its ports are published, as for a macvlan network behind `portmap`.
        public var hasRules: Bool

        public init(_ network: FirewallNetwork, publishedPorts: [PublishedPort] = [], hasRules: Bool = true) {
            self.network = network
            self.publishedPorts = publishedPorts
            self.hasRules = hasRules
        }
    }

    public var networks: [Network]
    /// The peers each tunnel port takes UDP from (``FirewallDriver/setTunnelPeers(port:peers:)``).
    public var tunnelPeers: [UInt16: Set<IPAddress>]

    public init(networks: [Network] = [], tunnelPeers: [UInt16: Set<IPAddress>] = [:]) {
        self.networks = networks
        self.tunnelPeers = tunnelPeers
    }
}
