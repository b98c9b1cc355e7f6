import NetCore

/// Which share of an overlay subnet a host asks for.
public enum ShareSelection {
    /// The shares to try, in order: `preferred` first when it is a free share of `subnet`
    /// (the one the host had before), then free shares from a random start, so hosts that
    /// start together rarely race for the same one (the create-if-absent transaction settles
    /// the races that remain). At most `limit`.
    public static func candidates(subnet: CIDR, shareLength: Int, taken: Set<CIDR>, preferred: CIDR?,
                                  limit: Int = 64) -> [CIDR] {
        guard shareLength > subnet.prefixLength, shareLength <= subnet.family.bitWidth else { return [] }
        let count = UInt128(1) << UInt128(shareLength - subnet.prefixLength)
        let step = UInt128(1) << UInt128(subnet.family.bitWidth - shareLength)
        let base = subnet.networkAddress.integerValue
        func share(_ index: UInt128) -> CIDR? {
            IPAddress(family: subnet.family, integerValue: base + index * step).flatMap { try? CIDR(address: $0, prefixLength: shareLength) }
        }
        var result: [CIDR] = []
        if let preferred, preferred.prefixLength == shareLength, subnet.contains(preferred.networkAddress), !taken.contains(preferred.network) {
            result.append(preferred.network)
        }
        let start = UInt128(UInt64.random(in: 0..<UInt64(clamping: min(count, UInt128(UInt64.max)))))
        var offset: UInt128 = 0
        while offset < count, result.count < limit {
            if let candidate = share((start + offset) % count), !taken.contains(candidate), !result.contains(candidate) {
                result.append(candidate)
            }
            offset += 1
        }
        return result
    }
}
