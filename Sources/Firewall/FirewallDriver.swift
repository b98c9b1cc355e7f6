import NetCore

/// The firewall as the network drivers see it: plain data in, one atomic change per call.
///
/// Every operation is all or nothing, and removing is idempotent: removing what is not
/// there is success. Objects shared between networks (the table, base chains, maps) are
/// never removed while another network or port still uses them.
public protocol FirewallDriver {
    /// A short name for messages and CNI `STATUS` ("nftables", "none").
    var name: String { get }

    /// Adds the network's masquerade, hairpin and isolation rules; adding it again is harmless.
    func addNetwork(_ network: FirewallNetwork) throws

    /// Removes the network's rules and any ports still published to its subnets, except
    /// those to `kept` (containers that publish ports on the bridge without its rules).
    func removeNetwork(_ network: FirewallNetwork, keepingPortsTo kept: Set<IPAddress>) throws

    /// Installs the shared chains that published ports need, without any network's rules;
    /// ``addNetwork(_:)`` does this too. Idempotent.
    func addSharedRules() throws

    /// DNATs each host port to its container.
    ///
    /// - Throws: ``NetCore/NetworkError`` naming the port when it is already published, its
    ///   host IP is not on this host, or it cannot be served by DNAT; nothing is applied then.
    func publish(_ ports: [PublishedPort], on network: FirewallNetwork) throws

    /// Removes the mappings; mappings that are absent (or now belong to someone else) are left alone.
    func unpublish(_ ports: [PublishedPort], from network: FirewallNetwork) throws

    /// Accepts UDP to `port` (a tunnel's VXLAN port) from exactly `peers` and drops it from
    /// anyone else, replacing what the port had; other UDP ports are untouched. Idempotent.
    ///
    /// - Throws: ``NetCore/NetworkError`` when `port` is 0; nothing is applied then.
    func setTunnelPeers(port: UInt16, peers: Set<IPAddress>) throws

    /// Stops filtering `port`: its peers go, and UDP to it passes untouched again. Removing
    /// a port that is not filtered is success.
    func removeTunnelPort(_ port: UInt16) throws

    /// Replaces the whole ruleset this project owns with `state`, in one transaction.
    func reload(_ state: FirewallState) throws

    /// Whether the firewall can be used right now (for CNI `STATUS`).
    func isAvailable() -> Bool
}

extension FirewallDriver {
    /// Removes the network's rules and every port still published to its subnets.
    public func removeNetwork(_ network: FirewallNetwork) throws {
        try removeNetwork(network, keepingPortsTo: [])
    }
}
