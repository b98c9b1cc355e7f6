import NetCore

/// A block that subnets for new networks are carved from: `base` split into subnets of
/// prefix length `size` (Docker's `default-address-pools` entry).
public struct AddressPool: Hashable, Sendable, CustomStringConvertible {
    public let base: CIDR
    public let size: Int

    /// - Throws: ``NetworkError`` naming `base` when it has host bits, or `size` when it is
    ///   shorter than the base's prefix or longer than the family allows.
    public init(base: CIDR, size: Int) throws {
        guard base.address == base.networkAddress else {
            throw NetworkError.invalid("base", base.description, "has host bits set")
        }
        guard (base.prefixLength...base.family.bitWidth).contains(size) else {
            throw NetworkError.invalid(
                "size", String(size), "must be \(base.prefixLength)...\(base.family.bitWidth) for base \(base)")
        }
        self.base = base
        self.size = size
    }

    /// Docker's defaults: `172.17.0.0/16` to `172.31.0.0/16`, then `192.168.0.0/16` in `/20`s.
    public static let dockerDefaults: [AddressPool] = {
        var pools: [AddressPool] = []
        for second in UInt8(17)...31 {
            if let pool = try? AddressPool(base: CIDR(address: .v4(IPv4Address(172, second, 0, 0)), prefixLength: 16), size: 16) {
                pools.append(pool)
            }
        }
        if let pool = try? AddressPool(base: CIDR(address: .v4(IPv4Address(192, 168, 0, 0)), prefixLength: 16), size: 20) {
            pools.append(pool)
        }
        return pools
    }()

    /// How many subnets the pool holds, saturating.
    public var subnetCount: UInt128 {
        let bits = size - base.prefixLength
        return bits >= 128 ? .max : UInt128(1) << bits
    }

    /// The `index`th subnet of the pool.
    public func subnet(at index: UInt128) -> CIDR? {
        let shift = base.family.bitWidth - size
        guard index < subnetCount else { return nil }
        let offset = shift >= 128 ? 0 : index << shift
        guard let address = IPAddress(family: base.family, integerValue: base.networkAddress.integerValue + offset)
        else { return nil }
        return try? CIDR(address: address, prefixLength: size)
    }

    public var description: String { "\(base) in /\(size)s" }
}
