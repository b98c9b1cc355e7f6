import NetCore

/// Turns firewall operations into nftables batches. It does no I/O, so every batch the
/// driver sends can be compared as exact JSON in unit tests.
struct FirewallPlanner: Sendable {
    typealias Command = Nftables.Command
    typealias Element = Nftables.Element

    let table = Ruleset.table

    // MARK: Networks

    /// Adds or refreshes the shared objects and `network`'s chain and elements. Safe to
    /// repeat: `add` keeps what exists, and each chain is flushed before its rules are
    /// added again, inside the same transaction, so no packet ever sees it empty.
    func addNetwork(_ network: FirewallNetwork) -> Nftables.Batch {
        var batch = Nftables.Batch(table: table, commands: sharedObjects(fresh: false))
        batch.append(contentsOf: networkObjects(network, fresh: false))
        return batch
    }

    /// Removes what `listing` shows of `network`: its elements, its chain, and the port
    /// mappings that point into its subnets, but for those to `kept`. When no network, no
    /// port and no tunnel port is left it deletes the whole table instead. An empty batch
    /// means nothing to do.
    func removeNetwork(_ network: FirewallNetwork, listing: TableListing?, keepingPortsTo kept: Set<IPAddress> = []) -> Nftables.Batch {
        var batch = Nftables.Batch(table: table)
        guard let listing else { return batch }
        var deletions = Deletions()
        // Every element the network may have, whatever options it was added with last.
        var everything = network
        everything.localhostDNAT = true
        everything.isInternal = false
        for (set, elements) in Ruleset.networkElements(everything) {
            for element in elements where listing.contains(element.key, in: set) {
                deletions.add(element.key, from: set)
            }
        }
        // And whatever else jumps to its chain (a tunnel the caller's copy does not name),
        // or the chain could not be deleted.
        let chain = Ruleset.networkChain(network.bridge)
        let jump = Nftables.Expression.verdict(.jump(chain)).json
        for element in listing.elements(of: Ruleset.networks) where element.data == jump {
            deletions.add(element.key, from: Ruleset.networks)
            if listing.elements(of: Ruleset.bridges).contains(where: { $0.key == element.key }) {
                deletions.add(element.key, from: Ruleset.bridges)
            }
        }
        // Interval sets may print a subnet as an address or a prefix: match them as subnets.
        for family in [IPAddress.Family.v4, .v6] {
            for set in [Ruleset.subnets(family), Ruleset.masquerade(family)] {
                deletions.removeAll(from: set)
                let present = Set(listing.subnets(in: set))
                for subnet in network.normalizedSubnets where present.contains(subnet) {
                    deletions.add(.prefix(subnet), from: set)
                }
            }
        }
        var remainingPorts = 0
        for maps in Ruleset.PortMaps.all {
            let ports = Set(listing.elements(of: maps.port).map(\.key))
            for element in listing.elements(of: maps.address) {
                guard let text = element.data?.stringValue, let address = IPAddress(text), network.contains(address),
                      !kept.contains(address) else {
                    remainingPorts += 1
                    continue
                }
                deletions.add(element.key, from: maps.address)
                if ports.contains(element.key) { deletions.add(element.key, from: maps.port) }
            }
        }
        let bridge = Nftables.Expression.symbol(network.bridge.rawValue).json
        let otherNetworks = listing.elements(of: Ruleset.networks).filter { $0.key != bridge && $0.data != jump }
        if otherNetworks.isEmpty, remainingPorts == 0, listing.elements(of: Ruleset.tunnelPorts).isEmpty {
            batch.append(.delete(.table))
            return batch
        }
        batch.append(contentsOf: deletions.commands)
        if listing.chains.contains(chain) {
            batch.append(.flush(.chain(.init(name: chain))))
            batch.append(.delete(.chain(.init(name: chain))))
        }
        return batch
    }

    /// The table with every shared chain and rule, and no network: what published ports
    /// need to take effect when no network has added its rules (portmap behind macvlan).
    func addSharedRules() -> Nftables.Batch {
        Nftables.Batch(table: table, commands: sharedObjects(fresh: false))
    }

    // MARK: Tunnel ports

    /// Makes `peers` the only sources UDP to `port` is accepted from: the shared objects,
    /// `port` in the tunnel ports, the peers added, and the port's other peers that `listing`
    /// shows deleted, in one transaction. Safe to repeat.
    func setTunnelPeers(port: UInt16, peers: Set<IPAddress>, listing: TableListing?) -> Nftables.Batch {
        var batch = Nftables.Batch(table: table, commands: sharedObjects(fresh: false))
        batch.append(.add(.elements(Ruleset.tunnelPorts, [Element(key: .port(port))])))
        var additions = Additions()
        for peer in peers.sorted() {
            let (set, element) = Ruleset.tunnelPeer(peer, port: port)
            additions.add(element, to: set)
        }
        batch.append(contentsOf: additions.commands(Command.add))
        var deletions = Deletions()
        for (set, key, address) in listedPeers(of: port, in: listing) where !peers.contains(address) {
            deletions.add(key, from: set)
        }
        batch.append(contentsOf: deletions.commands)
        return batch
    }

    /// Takes `port` and its peers out of what `listing` shows, so UDP to it passes untouched
    /// again; when no network, no published port and no other tunnel port is left it deletes
    /// the whole table instead. An empty batch means nothing to do.
    func removeTunnelPort(_ port: UInt16, listing: TableListing?) -> Nftables.Batch {
        var batch = Nftables.Batch(table: table)
        guard let listing else { return batch }
        var deletions = Deletions()
        let key = Nftables.Expression.port(port).json
        let ports = listing.elements(of: Ruleset.tunnelPorts)
        if ports.contains(where: { $0.key == key }) { deletions.add(key, from: Ruleset.tunnelPorts) }
        for (set, key, _) in listedPeers(of: port, in: listing) { deletions.add(key, from: set) }
        let commands = deletions.commands
        guard !commands.isEmpty else { return batch }
        let unused = listing.elements(of: Ruleset.networks).isEmpty && ports.allSatisfy { $0.key == key }
            && Ruleset.PortMaps.all.allSatisfy { listing.elements(of: $0.address).isEmpty && listing.elements(of: $0.port).isEmpty }
        batch.append(contentsOf: unused ? [.delete(.table)] : commands)
        return batch
    }

    /// The elements of both peer sets that `listing` shows for `port`, with their addresses.
    private func listedPeers(of port: UInt16, in listing: TableListing?) -> [(set: String, key: JSON, address: IPAddress)] {
        guard let listing else { return [] }
        var result: [(set: String, key: JSON, address: IPAddress)] = []
        for family in [IPAddress.Family.v4, .v6] {
            let set = Ruleset.tunnelPeers(family)
            for element in listing.elements(of: set) {
                guard let parts = element.key["concat"]?.arrayValue, parts.count == 2, parts[1].intValue == Int64(port),
                      let text = parts[0].stringValue, let address = IPAddress(text) else { continue }
                result.append((set, element.key, address))
            }
        }
        return result
    }

    // MARK: Ports

    /// Creates the entries' map elements, failing with `EEXIST` if any (scope, protocol,
    /// port) is taken. Any-address and host-address entries are kept in different maps, so
    /// the overlap between them is checked by probes: an element created and deleted again
    /// in the same transaction for each of `localAddresses` (any-address entries) or in the
    /// any-address map (host-address entries). Cost: O(ports × addresses), never O(mappings).
    func publish(_ entries: [PortEntry], probing localAddresses: [IPAddress]) -> Nftables.Batch {
        var creations = Additions(), probes = Additions()
        for entry in entries {
            for maps in Ruleset.maps(for: entry) {
                creations.add(addressElement(entry, in: maps, comment: true), to: maps.address)
                creations.add(portElement(entry, in: maps, comment: true), to: maps.port)
            }
            switch entry.scope {
            case .anyAddress:
                let maps = Ruleset.PortMaps.hostAddress(entry.family)
                for address in localAddresses where address.family == entry.family {
                    var probe = entry
                    probe.scope = .hostAddress(address)
                    probes.add(Element(key: Ruleset.key(probe, in: maps), data: .address(.unspecified(entry.family))), to: maps.address)
                }
            case .hostAddress:
                let maps = Ruleset.PortMaps.anyAddress(entry.family)
                probes.add(Element(key: Ruleset.key(entry, in: maps), data: .address(.unspecified(entry.family))), to: maps.address)
            }
        }
        var batch = Nftables.Batch(table: table, commands: declarations(creations.sets + probes.sets))
        batch.append(contentsOf: creations.commands(Command.create))
        batch.append(contentsOf: probes.commands(Command.create))
        batch.append(contentsOf: probes.keysOnly.commands(Command.delete))
        return batch
    }

    /// Removes the entries without reading the maps first: each element is added (a no-op
    /// when it is there with the same value) and deleted in one transaction, so a missing
    /// one is not an error. If the key holds someone else's value the add fails with
    /// `EEXIST`, and the caller falls back to ``unpublish(_:listing:)``.
    func unpublish(_ entries: [PortEntry]) -> Nftables.Batch {
        var additions = Additions()
        for entry in entries {
            for maps in mapsToClear(entry) {
                additions.add(addressElement(entry, in: maps, comment: false), to: maps.address)
                additions.add(portElement(entry, in: maps, comment: false), to: maps.port)
            }
        }
        // No declarations: when the table or a map is missing the batch fails with ENOENT,
        // which means nothing is published, rather than creating an empty table.
        var batch = Nftables.Batch(table: table, commands: additions.commands(Command.add))
        batch.append(contentsOf: additions.keysOnly.commands(Command.delete))
        return batch
    }

    /// Removes only those of the entries' elements that `listing` shows with the same value.
    func unpublish(_ entries: [PortEntry], listing: TableListing) -> Nftables.Batch {
        var deletions = Deletions()
        for entry in entries {
            for maps in mapsToClear(entry) {
                let address = addressElement(entry, in: maps, comment: false)
                let port = portElement(entry, in: maps, comment: false)
                let key = address.key.json
                let listed = listing.elements(of: maps.address).first { $0.key == key }
                guard let listed, listed.data == address.data.map({ TableListing.canonical($0.json) }) else { continue }
                deletions.add(address.key, from: maps.address)
                if listing.elements(of: maps.port).contains(where: { $0.key == key && $0.data == port.data?.json }) {
                    deletions.add(port.key, from: maps.port)
                }
            }
        }
        return Nftables.Batch(table: table, commands: deletions.commands)
    }

    /// Every map an entry may be in; loopback is cleared whether or not the network still
    /// has localhost DNAT, so turning it off cannot strand an entry.
    private func mapsToClear(_ entry: PortEntry) -> [Ruleset.PortMaps] {
        var entry = entry
        entry.servesLoopback = entry.scope == .anyAddress && entry.family == .v4
        return Ruleset.maps(for: entry)
    }

    // MARK: Reload

    /// Deletes the table and builds it again from `networks` and `tunnelPeers`, in one
    /// transaction: packets see either the old ruleset or the whole new one.
    func reload(_ networks: [(network: FirewallNetwork, entries: [PortEntry], hasRules: Bool)],
                tunnelPeers: [UInt16: Set<IPAddress>] = [:]) -> Nftables.Batch {
        var batch = Nftables.Batch(table: table, commands: [.add(.table), .delete(.table)])
        batch.append(contentsOf: sharedObjects(fresh: true))
        var additions = Additions()
        for (network, entries, hasRules) in networks {
            if hasRules {
                batch.append(contentsOf: networkObjects(network, fresh: true, elements: false))
                for (set, elements) in Ruleset.networkElements(network) {
                    for element in elements { additions.add(element, to: set) }
                }
            }
            for entry in entries {
                for maps in Ruleset.maps(for: entry) {
                    additions.add(addressElement(entry, in: maps, comment: true), to: maps.address)
                    additions.add(portElement(entry, in: maps, comment: true), to: maps.port)
                }
            }
        }
        for (port, peers) in tunnelPeers.sorted(by: { $0.key < $1.key }) {
            additions.add(Element(key: .port(port)), to: Ruleset.tunnelPorts)
            for peer in peers.sorted() {
                let (set, element) = Ruleset.tunnelPeer(peer, port: port)
                additions.add(element, to: set)
            }
        }
        batch.append(contentsOf: additions.commands(Command.add))
        return batch
    }

    // MARK: Pieces

    /// The table, every set and map, every shared chain, and the shared rules. `fresh`
    /// skips the flushes when the table was just created.
    private func sharedObjects(fresh: Bool) -> [Command] {
        var commands: [Command] = [.add(.table)]
        commands += Ruleset.sets.map { .add(.set($0)) }
        commands += Ruleset.sharedChains.map { .add(.chain($0)) }
        if !fresh { commands += Ruleset.sharedChains.map { .flush(.chain(.init(name: $0.name))) } }
        commands += Ruleset.sharedRules.map { .add(.rule($0)) }
        return commands
    }

    private func networkObjects(_ network: FirewallNetwork, fresh: Bool, elements: Bool = true) -> [Command] {
        let chain = Nftables.Chain(name: Ruleset.networkChain(network.bridge))
        var commands: [Command] = [.add(.chain(chain))]
        if !fresh { commands.append(.flush(.chain(chain))) }
        commands += Ruleset.networkRules(network).map { .add(.rule($0)) }
        if elements {
            commands += Ruleset.networkElements(network).map { .add(.elements($0.set, $0.elements)) }
        }
        return commands
    }

    /// `add table` and `add map` for the maps a port batch touches, so it works (inertly)
    /// even before the first network added the chains.
    private func declarations(_ names: [String]) -> [Command] {
        let wanted = Set(names)
        return [.add(.table)] + Ruleset.sets.filter { wanted.contains($0.name) }.map { .add(.set($0)) }
    }

    private func addressElement(_ entry: PortEntry, in maps: Ruleset.PortMaps, comment: Bool) -> Element {
        Element(key: Ruleset.key(entry, in: maps), data: .address(entry.containerAddress), comment: comment ? Element.fittingComment(entry.owner) : nil)
    }

    private func portElement(_ entry: PortEntry, in maps: Ruleset.PortMaps, comment: Bool) -> Element {
        Element(key: Ruleset.key(entry, in: maps), data: .port(entry.containerPort), comment: comment ? Element.fittingComment(entry.owner) : nil)
    }
}

/// Elements to add, grouped by set in first-use order so each set gets one command.
private struct Additions {
    private(set) var sets: [String] = []
    private var elements: [String: [Nftables.Element]] = [:]

    mutating func add(_ element: Nftables.Element, to set: String) {
        if elements[set] == nil { sets.append(set) }
        elements[set, default: []].append(element)
    }

    func commands(_ verb: (Nftables.Command.Object) -> Nftables.Command) -> [Nftables.Command] {
        sets.map { verb(.elements($0, elements[$0] ?? [])) }
    }

    /// The same elements without values or comments, as `delete element` takes them.
    var keysOnly: Additions {
        var copy = self
        copy.elements = elements.mapValues { $0.map { Nftables.Element(key: $0.key) } }
        return copy
    }
}

/// Keys to delete, grouped by set, without duplicates.
private struct Deletions {
    private var sets: [String] = []
    private var keys: [String: [JSON]] = [:]

    mutating func add(_ key: Nftables.Expression, from set: String) { add(key.json, from: set) }

    mutating func add(_ key: JSON, from set: String) {
        if keys[set] == nil { sets.append(set) }
        if keys[set]?.contains(key) != true { keys[set, default: []].append(key) }
    }

    mutating func removeAll(from set: String) {
        keys[set] = nil
        sets.removeAll { $0 == set }
    }

    var commands: [Nftables.Command] {
        sets.compactMap { set in
            guard let keys = keys[set], !keys.isEmpty else { return nil }
            return .delete(.elements(set, keys.map { Nftables.Element(key: .verbatim($0)) }))
        }
    }
}
