import NetCore

/// The objects this project owns in nftables, all in one table, `inet netctl`.
///
/// - Published ports live in hash maps, so a packet's lookup and adding or removing a
///   mapping cost the same with 1 000 mappings as with 1. Each map pair (address, port)
///   has a key of `l4proto . dport` (any host address) or `daddr . l4proto . dport` (one
///   host address): libnftables 1.0.6 cannot declare concatenated map data in JSON, so the
///   address and the port come from two lookups with the same key.
/// - A network is a chain `net-BRIDGE` reached through the verdict map `networks` (from its
///   bridge, and from its tunnel when it has one), plus elements in shared sets: adding or
///   removing one touches nothing of another.
/// - Tunnel (VXLAN) ports take UDP only from their peers: one rule per family on the input
///   hook looks the source up in a set of `address . port` pairs, as Calico does with an ipset.
/// - The shared chains hold only fixed rules that refer to those sets and maps.
enum Ruleset {
    static let table = Nftables.Table(family: .inet, name: "netctl")

    // MARK: Chains

    /// The DNAT lookups, jumped to from prerouting (outside and containers) and output (the host).
    static let publishedPorts = "published-ports"
    static let prerouting = Nftables.Chain(name: "prerouting", hook: .init(.nat, .prerouting, priority: Nftables.Chain.Hook.Priority.destinationNAT))
    static let output = Nftables.Chain(name: "output", hook: .init(.nat, .output, priority: Nftables.Chain.Hook.Priority.destinationNAT))
    static let postrouting = Nftables.Chain(name: "postrouting", hook: .init(.nat, .postrouting, priority: Nftables.Chain.Hook.Priority.sourceNAT))
    static let forward = Nftables.Chain(name: "forward", hook: .init(.filter, .forward, priority: Nftables.Chain.Hook.Priority.filter))
    /// Runs before conntrack and NAT (raw, -300), so it sees the address on the wire.
    static let localnetGuard = Nftables.Chain(name: "localnet-guard", hook: .init(.filter, .prerouting, priority: Nftables.Chain.Hook.Priority.raw))
    /// Drops UDP to a tunnel port from anyone but the port's peers.
    static let input = Nftables.Chain(name: "input", hook: .init(.filter, .input, priority: Nftables.Chain.Hook.Priority.filter))

    static let sharedChains = [Nftables.Chain(name: publishedPorts), prerouting, output, postrouting, forward, localnetGuard, input]

    /// The chain of the network on `bridge`.
    static func networkChain(_ bridge: InterfaceName) -> String { "net-" + bridge.rawValue }

    // MARK: Sets and maps

    /// Every network's subnets: hairpin traffic stays inside them.
    static func subnets(_ family: IPAddress.Family) -> String { family == .v4 ? "subnets4" : "subnets6" }
    /// Subnets of networks that masquerade.
    static func masquerade(_ family: IPAddress.Family) -> String { family == .v4 ? "masquerade4" : "masquerade6" }
    /// Every network's bridge and tunnel, for isolation.
    static let bridges = "bridges"
    /// Bridges with `route_localnet` on: localhost DNAT goes out there, masqueraded.
    static let localnetBridges = "localnet_bridges"
    /// Bridge (and tunnel) → `jump net-BRIDGE`.
    static let networks = "networks"
    /// UDP ports of tunnels (VXLAN) that only their peers may send to.
    static let tunnelPorts = "vxlan_ports"
    /// `address . port`: a peer that may send to a tunnel port.
    static func tunnelPeers(_ family: IPAddress.Family) -> String { family == .v4 ? "vxlan_peers4" : "vxlan_peers6" }

    /// The two maps (container address, container port) of one kind of published port.
    struct PortMaps: Sendable, Hashable {
        var address: String
        var port: String
        var family: IPAddress.Family
        /// Whether the key starts with the host address.
        var isKeyedByHostAddress: Bool

        var keyType: [Nftables.DataType] {
            (isKeyedByHostAddress ? [.address(family)] : []) + [.inetProtocol, .inetService]
        }

        var definitions: [Nftables.NamedSet] {
            [Nftables.NamedSet(name: address, keyType: keyType, dataType: .address(family)),
             Nftables.NamedSet(name: port, keyType: keyType, dataType: .inetService)]
        }

        /// `[ip daddr .] meta l4proto . th dport`: the packet's key.
        var packetKey: Nftables.Expression {
            .concatenation((isKeyedByHostAddress ? [.ipField("daddr", family)] : []) + [.transportProtocol, .destinationPort])
        }

        /// `dnat ip to KEY map @ADDRESS : KEY map @PORT`.
        var destinationNAT: Nftables.Statement {
            .destinationNAT(family: family, address: .mapLookup(key: packetKey, map: address),
                            port: .mapLookup(key: packetKey, map: port))
        }

        private static func named(_ family: IPAddress.Family, _ scope: String, hostKeyed: Bool) -> PortMaps {
            let prefix = "dnat\(family == .v4 ? 4 : 6)_\(scope)"
            return PortMaps(address: prefix + "_addr", port: prefix + "_port", family: family, isKeyedByHostAddress: hostKeyed)
        }

        /// Ports published on every address of the host.
        static func anyAddress(_ family: IPAddress.Family) -> PortMaps { named(family, "any", hostKeyed: false) }
        /// Ports published on one host address.
        static func hostAddress(_ family: IPAddress.Family) -> PortMaps { named(family, "host", hostKeyed: true) }
        /// Any-address IPv4 ports of networks with localhost DNAT, for 127.0.0.0/8.
        static let loopback = named(.v4, "loopback", hostKeyed: false)

        static let all = [anyAddress(.v4), hostAddress(.v4), loopback, anyAddress(.v6), hostAddress(.v6)]
    }

    static let sets: [Nftables.NamedSet] = {
        var sets: [Nftables.NamedSet] = []
        for family in [IPAddress.Family.v4, .v6] {
            sets.append(Nftables.NamedSet(name: subnets(family), keyType: [.address(family)], isInterval: true))
            sets.append(Nftables.NamedSet(name: masquerade(family), keyType: [.address(family)], isInterval: true))
        }
        sets.append(Nftables.NamedSet(name: bridges, keyType: [.interfaceName]))
        sets.append(Nftables.NamedSet(name: localnetBridges, keyType: [.interfaceName]))
        sets.append(Nftables.NamedSet(name: networks, keyType: [.interfaceName], dataType: .verdict))
        sets += PortMaps.all.flatMap(\.definitions)
        sets.append(Nftables.NamedSet(name: tunnelPorts, keyType: [.inetService]))
        for family in [IPAddress.Family.v4, .v6] {
            sets.append(Nftables.NamedSet(name: tunnelPeers(family), keyType: [.address(family), .inetService]))
        }
        return sets
    }()

    // MARK: Shared rules

    static let loopback4 = Nftables.Expression.prefix(CIDR.loopback4)
    /// `udp dport`.
    static let udpDestinationPort = Nftables.Expression.payload(protocol: "udp", field: "dport")

    static let sharedRules: [Nftables.Rule] = {
        typealias E = Nftables.Expression
        let v4 = IPAddress.Family.v4, v6 = IPAddress.Family.v6
        return [
            // Loopback is the proxy's unless a network opted into localhost DNAT (output only);
            // prerouting never DNATs it, so no neighbour can reach a loopback-only port.
            .init(chain: publishedPorts, [.equal(.ipField("daddr", v4), loopback4), .return]),
            .init(chain: publishedPorts, [.equal(.ipField("daddr", v6), .address(.v6(.loopback))), .return]),
            .init(chain: publishedPorts, [PortMaps.hostAddress(v4).destinationNAT]),
            .init(chain: publishedPorts, [.equal(.destinationAddressType, .symbol("local")), PortMaps.anyAddress(v4).destinationNAT]),
            .init(chain: publishedPorts, [PortMaps.hostAddress(v6).destinationNAT]),
            .init(chain: publishedPorts, [.equal(.destinationAddressType, .symbol("local")), PortMaps.anyAddress(v6).destinationNAT]),

            .init(chain: prerouting.name, [.verdict(.jump(publishedPorts))]),

            // 127.x host-address entries exist only for networks with localhost DNAT.
            .init(chain: output.name, [.equal(.ipField("daddr", v4), loopback4), PortMaps.hostAddress(v4).destinationNAT]),
            .init(chain: output.name, [.equal(.ipField("daddr", v4), loopback4), PortMaps.loopback.destinationNAT]),
            .init(chain: output.name, [.verdict(.jump(publishedPorts))]),

            // Hairpin: a container reaching a published port of its own network through a
            // host address must see the reply come from the host, not from the container.
            .init(chain: postrouting.name, [.match(.conntrack("status"), .contains, .symbol("dnat")),
                                            .equal(.ipField("saddr", v4), .setReference(subnets(v4))),
                                            .equal(.ipField("daddr", v4), .setReference(subnets(v4))), .masquerade]),
            .init(chain: postrouting.name, [.match(.conntrack("status"), .contains, .symbol("dnat")),
                                            .equal(.ipField("saddr", v6), .setReference(subnets(v6))),
                                            .equal(.ipField("daddr", v6), .setReference(subnets(v6))), .masquerade]),
            // Localhost DNAT: the container cannot answer 127.0.0.1.
            .init(chain: postrouting.name, [.equal(.meta("oifname"), .setReference(localnetBridges)),
                                            .equal(.ipField("saddr", v4), loopback4), .masquerade]),
            .init(chain: postrouting.name, [.equal(.ipField("saddr", v4), .setReference(masquerade(v4))),
                                            .notEqual(.ipField("daddr", v4), .setReference(subnets(v4))), .masquerade]),
            .init(chain: postrouting.name, [.equal(.ipField("saddr", v6), .setReference(masquerade(v6))),
                                            .notEqual(.ipField("daddr", v6), .setReference(subnets(v6))), .masquerade]),

            .init(chain: forward.name, [.verdictMap(key: .meta("iifname"), map: networks)]),
            .init(chain: forward.name, [.verdictMap(key: .meta("oifname"), map: networks)]),

            // No packet for 127.0.0.0/8 may come in from anywhere but `lo` (CVE-2020-8558):
            // what a bridge with route_localnet would otherwise deliver to the host's loopback.
            .init(chain: localnetGuard.name, [.notEqual(.meta("iifname"), .symbol("lo")),
                                              .equal(.ipField("daddr", v4), loopback4), .drop]),

            // `udp dport @vxlan_ports ip saddr . udp dport != @vxlan_peers4 drop`: a port
            // not in the set passes untouched; one in it, only from its own peers.
            .init(chain: input.name, [.equal(udpDestinationPort, .setReference(tunnelPorts)),
                                      .notEqual(.concatenation([.ipField("saddr", v4), udpDestinationPort]), .setReference(tunnelPeers(v4))),
                                      .drop]),
            .init(chain: input.name, [.equal(udpDestinationPort, .setReference(tunnelPorts)),
                                      .notEqual(.concatenation([.ipField("saddr", v6), udpDestinationPort]), .setReference(tunnelPeers(v6))),
                                      .drop]),
        ]
    }()

    // MARK: Per network

    /// The rules of the network's chain, which forward jumps to for traffic entering or
    /// leaving its bridge or its tunnel.
    static func networkRules(_ network: FirewallNetwork) -> [Nftables.Rule] {
        let chain = networkChain(network.bridge)
        // `"br0"`, or `{ "br0", "vx0" }` with a tunnel: traffic between the two is the network's own.
        let names = network.interfaces.map { Nftables.Expression.symbol($0.rawValue) }
        let own = names.count == 1 ? names[0] : .anonymousSet(names)
        if network.isInternal {
            return [.init(chain: chain, [.notEqual(.meta("iifname"), own), .drop]),
                    .init(chain: chain, [.notEqual(.meta("oifname"), own), .drop])]
        }
        return [
            // Published ports are public, also to other networks' containers.
            .init(chain: chain, [.match(.conntrack("status"), .contains, .symbol("dnat")), .return]),
            .init(chain: chain, [.notEqual(.meta("oifname"), own), .equal(.meta("oifname"), .setReference(bridges)), .drop]),
        ]
    }

    /// The set elements that belong to the network, by set name.
    static func networkElements(_ network: FirewallNetwork) -> [(set: String, elements: [Nftables.Element])] {
        let bridge = Nftables.Expression.symbol(network.bridge.rawValue)
        let interfaces = network.interfaces.map { Nftables.Expression.symbol($0.rawValue) }
        var result: [(set: String, elements: [Nftables.Element])] = [
            (networks, interfaces.map { Nftables.Element(key: $0, data: .verdict(.jump(networkChain(network.bridge)))) }),
            (bridges, interfaces.map { Nftables.Element(key: $0) }),
        ]
        if network.localhostDNAT { result.append((localnetBridges, [Nftables.Element(key: bridge)])) }
        for family in [IPAddress.Family.v4, .v6] {
            let subnets = network.normalizedSubnets.filter { $0.family == family }.map { Nftables.Element(key: .prefix($0)) }
            guard !subnets.isEmpty else { continue }
            result.append((Self.subnets(family), subnets))
            if network.masqueradesTraffic { result.append((masquerade(family), subnets)) }
        }
        return result
    }

    // MARK: Per tunnel port

    /// `ADDRESS . PORT` in the peer set of the address's family.
    static func tunnelPeer(_ address: IPAddress, port: UInt16) -> (set: String, element: Nftables.Element) {
        (tunnelPeers(address.family), Nftables.Element(key: .concatenation([.address(address), .port(port)])))
    }

    // MARK: Per port

    /// The maps an entry lives in: its own scope's, and the loopback maps when it serves 127/8.
    static func maps(for entry: PortEntry) -> [PortMaps] {
        switch entry.scope {
        case .anyAddress: [PortMaps.anyAddress(entry.family)] + (entry.servesLoopback ? [PortMaps.loopback] : [])
        case .hostAddress: [PortMaps.hostAddress(entry.family)]
        }
    }

    /// The key of `entry` in a map of `maps`' kind.
    static func key(_ entry: PortEntry, in maps: PortMaps) -> Nftables.Expression {
        var parts: [Nftables.Expression] = [.transport(entry.transport), .port(entry.hostPort)]
        if maps.isKeyedByHostAddress, case .hostAddress(let address) = entry.scope { parts.insert(.address(address), at: 0) }
        return .concatenation(parts)
    }
}

extension CIDR {
    /// `127.0.0.0/8`.
    static let loopback4: CIDR = {
        guard let cidr = CIDR("127.0.0.0/8") else { preconditionFailure("127.0.0.0/8 parses") }
        return cidr
    }()
}
