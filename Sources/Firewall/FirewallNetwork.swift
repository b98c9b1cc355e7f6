import NetCore

/// What the firewall needs to know about one bridge network: plain data, so any driver
/// (and a reload from the store) can hand it over without the firewall reading state itself.
public struct FirewallNetwork: Sendable, Hashable {
    /// The network's name, for messages.
    public var name: String
    /// The Linux bridge the network's containers are attached to; it keys every per-network
    /// object in the ruleset, since a bridge name is unique on a host and at most 15 bytes.
    public var bridge: InterfaceName
    public var subnets: [CIDR]
    /// Masquerade traffic from the subnets to anywhere outside them (the bridge plugin's `ipMasq`).
    public var masquerade: Bool
    /// No masquerade and no forwarding to or from anything but the bridge itself.
    public var isInternal: Bool
    /// Serve `127.0.0.1:PORT` by DNAT instead of the userland proxy. Sets `route_localnet`
    /// on this network's bridge only, guarded by a rule that drops packets to 127.0.0.0/8
    /// arriving on it (the CVE-2020-8558 hole).
    public var localhostDNAT: Bool
    /// The network's tunnel to the other hosts' shares of its subnets (an overlay network's
    /// VXLAN device), or `nil`. It belongs to the network as its bridge does: forwarding
    /// between the two is the network's own traffic, and forwarding between the tunnel and
    /// any other network is dropped. An overlay network passes its whole subnet in
    /// ``subnets``, so traffic to the other hosts' shares is not masqueraded.
    public var tunnel: InterfaceName?

    public init(name: String, bridge: InterfaceName, subnets: [CIDR], masquerade: Bool = true,
                isInternal: Bool = false, localhostDNAT: Bool = false, tunnel: InterfaceName? = nil) {
        self.name = name
        self.bridge = bridge
        self.subnets = subnets
        self.masquerade = masquerade
        self.isInternal = isInternal
        self.localhostDNAT = localhostDNAT
        self.tunnel = tunnel
    }

    /// The interfaces whose traffic is the network's own: its bridge, and its tunnel if any.
    var interfaces: [InterfaceName] { [bridge] + (tunnel.map { [$0] } ?? []) }

    /// Subnets with their host bits cleared, in a stable order.
    var normalizedSubnets: [CIDR] {
        var seen = Set<CIDR>()
        return subnets.map(\.network).filter { seen.insert($0).inserted }
    }

    /// Whether this network masquerades at all: internal networks never do.
    var masqueradesTraffic: Bool { masquerade && !isInternal }

    /// Whether `address` belongs to one of the network's subnets.
    func contains(_ address: IPAddress) -> Bool {
        subnets.contains { $0.contains(address) }
    }
}
