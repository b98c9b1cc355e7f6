import NetCore

extension FirewallPlanner {
    /// Says which published port `entries` collide with, after the kernel refused them
    /// with `EEXIST`; `nil` when `listing` shows no collision (it was resolved meanwhile).
    func conflict(for entries: [PortEntry], in listing: TableListing) -> String? {
        for entry in entries {
            let sameScope = entry.scope == .anyAddress ? Ruleset.PortMaps.anyAddress(entry.family) : .hostAddress(entry.family)
            let key = Ruleset.key(entry, in: sameScope).json
            if let taken = listing.elements(of: sameScope.address).first(where: { $0.key == key }) {
                return message(entry, taken, sameScope, listing)
            }
            // The other scope: one (protocol, port) suffix.
            let other = entry.scope == .anyAddress ? Ruleset.PortMaps.hostAddress(entry.family) : .anyAddress(entry.family)
            let suffix = [JSON.string(entry.transport.rawValue), .int(Int64(entry.hostPort))]
            if let taken = listing.elements(of: other.address).first(where: { ($0.key["concat"]?.arrayValue?.suffix(2)).map(Array.init) == suffix }) {
                return message(entry, taken, other, listing)
            }
        }
        return nil
    }

    private func message(_ entry: PortEntry, _ taken: TableListing.Element, _ maps: Ruleset.PortMaps, _ listing: TableListing) -> String {
        let port = listing.elements(of: maps.port).first { $0.key == taken.key }?.data?.intValue
        let parts = taken.key["concat"]?.arrayValue ?? []
        let hostIP = maps.isKeyedByHostAddress ? parts.first?.stringValue ?? "?" : (entry.family == .v4 ? "0.0.0.0" : "::")
        let target = (taken.data?.stringValue ?? "?") + (port.map { ":\($0)" } ?? "")
        let owner = taken.comment.map { " by \"\($0)\"" } ?? ""
        return "port \(entry.hostDescription) is already published: \(hostIP):\(entry.hostPort)/\(entry.transport.rawValue) goes to \(target)\(owner)"
    }
}
