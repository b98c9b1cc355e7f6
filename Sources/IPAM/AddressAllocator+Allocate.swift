import NetCore
import Store

extension AddressAllocator {
    /// Gives `key` one address from each range set, all or nothing.
    ///
    /// If `key` already holds an address inside a set, that lease is returned again, so a
    /// retried ADD gets the same answer. Otherwise a requested address inside the set is leased
    /// if it is free, and else the next free address after the set's last allocation, wrapping
    /// round, so an address just released is not handed out again at once.
    ///
    /// - Parameters:
    ///   - key: the network, container and interface the addresses are for.
    ///   - rangeSets: one or more sets; a dual-stack network passes an IPv4 and an IPv6 set.
    ///   - requested: addresses the caller asks for (`runtimeConfig.ips`, `--ip`); each must
    ///     lie inside one set's ranges, at most one per set.
    /// - Returns: one lease per range set, in the order of `rangeSets`.
    /// - Throws: ``NetworkError`` — `invalidArgument` naming the field for bad sets or requests,
    ///   `alreadyExists` when a requested address is taken, `exhausted` naming the network, the
    ///   range set and its capacity when a set is full. ``SQLiteError`` from the store.
    public func allocate(key: LeaseKey, rangeSets: [RangeSet], requested: [IPAddress] = []) throws -> [Lease] {
        let wanted = try Self.assign(requested, to: rangeSets)
        return try database.immediateTransaction {
            let held = try table.leases(for: key)
            var result: [Lease] = []
            var movedACursor = false
            for (index, set) in rangeSets.enumerated() {
                if let existing = held.first(where: { set.contains($0.address.address) }) {
                    if let address = wanted[index], address != existing.address.address {
                        throw NetworkError.invalid(
                            "requested address", address.description,
                            "\(key) already holds \(existing.address.address) in range set \(set)")
                    }
                    result.append(existing)
                } else if let address = wanted[index] {
                    result.append(try lease(address, in: set, for: key))
                } else {
                    result.append(try leaseNext(in: set, for: key))
                    movedACursor = true
                }
            }
            // Cursors of ranges the network no longer has go when a new one is written.
            if movedACursor { try table.deleteCursors(network: key.network, keeping: rangeSets.map(\.description)) }
            return result
        }
    }

    /// Checks that the sets do not overlap and maps each requested address to its set's index.
    private static func assign(_ requested: [IPAddress], to rangeSets: [RangeSet]) throws -> [Int: IPAddress] {
        guard !rangeSets.isEmpty else {
            throw NetworkError.invalid("ranges", "[]", "at least one range set is needed")
        }
        for (index, set) in rangeSets.enumerated() {
            for other in rangeSets[(index + 1)...] where set.overlaps(other) {
                throw NetworkError.invalid("ranges", set.description, "overlaps range set \(other)")
            }
        }
        var wanted: [Int: IPAddress] = [:]
        for address in requested {
            guard let index = rangeSets.firstIndex(where: { $0.contains(address) }) else {
                let sets = rangeSets.map(\.description).joined(separator: "; ")
                throw NetworkError.invalid("requested address", address.description, "is not inside any range: \(sets)")
            }
            if let other = wanted[index] {
                throw NetworkError.invalid(
                    "requested address", address.description,
                    "\(other) is also requested from range set \(rangeSets[index]); one address per set")
            }
            wanted[index] = address
        }
        return wanted
    }

    /// Leases the requested `address`, or says why it cannot be had.
    private func lease(_ address: IPAddress, in set: RangeSet, for key: LeaseKey) throws -> Lease {
        guard let range = set.range(containing: address) else {
            throw NetworkError.invalid("requested address", address.description, "is not inside range set \(set)")
        }
        if set.ranges.contains(where: { $0.gateway == address }) {
            throw NetworkError.invalid("requested address", address.description, "is the gateway of \(range.subnet)")
        }
        if set.ranges.contains(where: { $0.excluded.contains(address.integerValue) }) {
            throw NetworkError.invalid(
                "requested address", address.description,
                "is reserved in \(range.subnet) (network, broadcast or auxiliary address)")
        }
        if let holder = try table.lease(network: key.network, address: address) {
            throw NetworkError(
                code: .alreadyExists,
                message: "requested address \(address) on network \"\(key.network)\" is already leased to "
                    + "container \(holder.key.containerID) interface \(holder.key.interface)")
        }
        let lease = try Self.lease(address, in: range, for: key)
        try table.insert(lease, bootID: bootID)
        return lease
    }

    /// Leases the first free address after the set's cursor, wrapping round through its ranges.
    private func leaseNext(in set: RangeSet, for key: LeaseKey) throws -> Lease {
        let name = set.description
        let excluded = Array(Set(set.ranges.flatMap(\.excluded))).sorted()
        for segment in Self.searchOrder(set, after: try table.cursor(network: key.network, rangeSet: name)) {
            let range = set.ranges[segment.range]
            guard let free = try table.firstFree(
                network: key.network, family: set.family, from: segment.lo, through: segment.hi, excluded: excluded),
                let address = IPAddress(family: set.family, integerValue: free)
            else { continue }
            let lease = try Self.lease(address, in: range, for: key)
            try table.insert(lease, bootID: bootID)
            try table.setCursor(network: key.network, rangeSet: name, to: free)
            return lease
        }
        throw NetworkError(
            code: .exhausted,
            message: "network \"\(key.network)\" has no free address in range set \(name): "
                + "all \(set.capacity) usable addresses are leased")
    }

    /// The stretches of address space to search, in round-robin order: from just after
    /// `cursor` to the end of its range, the following ranges (wrapping), then the cursor's
    /// range from its start up to and including the cursor.
    static func searchOrder(_ set: RangeSet, after cursor: UInt128?) -> [(range: Int, lo: UInt128, hi: UInt128)] {
        let ranges = set.ranges
        let bounds = ranges.map { (lo: $0.start.integerValue, hi: $0.end.integerValue) }
        guard let cursor, let current = bounds.firstIndex(where: { ($0.lo...$0.hi).contains(cursor) }) else {
            return bounds.enumerated().map { (range: $0.offset, lo: $0.element.lo, hi: $0.element.hi) }
        }
        var order: [(range: Int, lo: UInt128, hi: UInt128)] = []
        if cursor < bounds[current].hi { order.append((current, cursor + 1, bounds[current].hi)) }
        for step in 1..<max(ranges.count, 1) {
            let index = (current + step) % ranges.count
            order.append((index, bounds[index].lo, bounds[index].hi))
        }
        order.append((current, bounds[current].lo, cursor))
        return order
    }

    private static func lease(_ address: IPAddress, in range: AddressRange, for key: LeaseKey) throws -> Lease {
        Lease(key: key, address: try CIDR(address: address, prefixLength: range.subnet.prefixLength), gateway: range.gateway)
    }
}
