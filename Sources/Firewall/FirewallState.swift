/// Every network and published port the firewall should hold, as the caller's store records
/// them; ``FirewallDriver/reload(_:)`` rebuilds the ruleset from it after a flush.
public struct FirewallState: Sendable, Hashable {
    /// One network with the ports published on it.
    public struct Network: Sendable, Hashable {
        public var network: FirewallNetwork
        public var publishedPorts: [PublishedPort]

        public init(_ network: FirewallNetwork, publishedPorts: [PublishedPort] = []) {
            self.network = network
            self.publishedPorts = publishedPorts
        }
    }

    public var networks: [Network]

    public init(networks: [Network] = []) {
        self.networks = networks
    }
}
