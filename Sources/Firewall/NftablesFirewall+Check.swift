import NetCore

/// CNI CHECK: what the live ruleset lacks of what a network or its published ports need, read
/// from one listing of the table (the store's records say what should be there; this says
/// whether it is).
extension NftablesFirewall {
    /// What of `network`'s rules is not in the table: a shared chain or its rules, the
    /// network's chain or its rules, or an element of a set (its bridge and tunnel, its subnets
    /// in the hairpin and, when it masquerades, the masquerade sets). Empty when all is in place.
    public func missingRules(of network: FirewallNetwork) throws -> [String] {
        guard let listing = try listTable() else { return ["table inet \(Ruleset.table.name) does not exist"] }
        var missing: [String] = []
        func expectRules(_ chain: String, count: Int) {
            guard listing.chains.contains(chain) else { return missing.append("chain \(chain) does not exist") }
            let present = listing.rules[chain]?.count ?? 0
            if present < count { missing.append("chain \(chain) has \(present) of its \(count) rules") }
        }
        for chain in Ruleset.sharedChains {
            expectRules(chain.name, count: Ruleset.sharedRules.filter { $0.chain == chain.name }.count)
        }
        expectRules(Ruleset.networkChain(network.bridge), count: Ruleset.networkRules(network).count)
        for (set, elements) in Ruleset.networkElements(network) {
            let subnets = Set(listing.subnets(in: set))
            for element in elements {
                if case .prefix(let subnet) = element.key {
                    if !subnets.contains(subnet) { missing.append("subnet \(subnet) is not in set \(set)") }
                } else if !listing.contains(element.key, in: set) {
                    missing.append("\(element.key.json.serialized()) is not in \(set)")
                }
            }
        }
        return missing
    }

    /// The DNAT map elements of `ports` (as published on `network`) that the table does not
    /// hold with the right container address and port, one line each. Empty when all are there.
    public func missingPorts(_ ports: [PublishedPort], on network: FirewallNetwork) throws -> [String] {
        let entries = PortEntry.entriesForRemoval(of: ports, on: network)
        guard !entries.isEmpty else { return [] }
        guard let listing = try listTable() else { return ["table inet \(Ruleset.table.name) does not exist"] }
        var missing: [String] = []
        for entry in entries {
            for maps in Ruleset.maps(for: entry) {
                let key = TableListing.canonical(Ruleset.key(entry, in: maps).json)
                for (map, data) in [(maps.address, Nftables.Expression.address(entry.containerAddress)),
                                    (maps.port, Nftables.Expression.port(entry.containerPort))] {
                    let wanted = TableListing.canonical(data.json)
                    guard !listing.elements(of: map).contains(where: { $0.key == key && $0.data == wanted }) else { continue }
                    missing.append("\(entry.hostDescription) -> \(entry.containerAddress):\(entry.containerPort) is not in map \(map)")
                }
            }
        }
        return missing
    }
}
