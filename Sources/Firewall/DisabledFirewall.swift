import NetCore

/// A firewall that does nothing, for hosts where another tool owns the ruleset (netavark's
/// `none` driver). Published ports then need the userland proxy.
public struct DisabledFirewall: FirewallDriver {
    public init() {}

    public var name: String { "none" }
    public func addNetwork(_ network: FirewallNetwork) throws {}
    public func removeNetwork(_ network: FirewallNetwork, keepingPortsTo kept: Set<IPAddress>) throws {}
    public func addSharedRules() throws {}
    public func publish(_ ports: [PublishedPort], on network: FirewallNetwork) throws {}
    public func unpublish(_ ports: [PublishedPort], from network: FirewallNetwork) throws {}
    public func reload(_ state: FirewallState) throws {}
    public func isAvailable() -> Bool { true }
}
