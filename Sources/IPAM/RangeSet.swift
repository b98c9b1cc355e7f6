import NetCore

/// Ranges of one family that serve as one source of addresses: a container gets one address
/// from each range set, so a dual-stack attachment is one IPv4 set and one IPv6 set.
///
/// The ranges are tried in order, round-robin, after the last address handed out from the set.
public struct RangeSet: Hashable, Sendable, CustomStringConvertible {
    public let ranges: [AddressRange]

    /// - Throws: ``NetworkError`` naming `ranges` when the set is empty, mixes families, or
    ///   two of its ranges overlap.
    public init(_ ranges: [AddressRange]) throws {
        guard let first = ranges.first else {
            throw NetworkError.invalid("ranges", "[]", "a range set needs at least one range")
        }
        for range in ranges where range.family != first.family {
            throw NetworkError.invalid(
                "ranges", range.description, "mixes \(range.family) with \(first.family) in one range set")
        }
        for (index, range) in ranges.enumerated() {
            for other in ranges[(index + 1)...] where range.overlaps(other) {
                throw NetworkError.invalid("ranges", range.description, "overlaps \(other)")
            }
        }
        self.ranges = ranges
    }

    /// One range.
    public init(_ range: AddressRange) { ranges = [range] }

    public var family: IPAddress.Family { ranges[0].family }

    /// The range whose bounds hold `address`.
    public func range(containing address: IPAddress) -> AddressRange? {
        ranges.first { $0.contains(address) }
    }

    public func contains(_ address: IPAddress) -> Bool { range(containing: address) != nil }

    public func overlaps(_ other: RangeSet) -> Bool {
        ranges.contains { range in other.ranges.contains { range.overlaps($0) } }
    }

    /// Addresses the set can hand out, saturating at `UInt128.max`.
    public var capacity: UInt128 {
        ranges.reduce(0) { total, range in
            let (sum, overflow) = total.addingReportingOverflow(range.capacity)
            return overflow ? .max : sum
        }
    }

    /// Names the set in the database (its round-robin cursor) and in messages.
    public var description: String { ranges.map(\.description).joined(separator: ", ") }
}
