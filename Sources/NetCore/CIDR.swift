/// An address with a prefix length, of either family: `192.0.2.10/24`, `2001:db8::1/64`.
///
/// The address keeps its host bits, so one type serves both for interface addresses
/// (`10.0.0.2/24`) and for subnets (``network`` drops the host bits).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// - Throws: ``NetworkError`` when `prefixLength` is wider than the family allows.
    public init(address: IPAddress, prefixLength: Int) throws {
        guard (0...address.family.bitWidth).contains(prefixLength) else {
            throw NetworkError.invalid(
                "prefix length", String(prefixLength),
                "must be 0...\(address.family.bitWidth) for \(address.family)")
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// For prefixes known to be valid for the address's family.
    private init(validated address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `0.0.0.0/0` or `::/0`: every address of `family`, the destination of a default route.
    public static func all(_ family: IPAddress.Family) -> CIDR {
        CIDR(validated: family == .v4 ? .v4(.any) : .v6(.any), prefixLength: 0)
    }

    /// Parses `address/prefix`; `field` names the value in the error.
    ///
    /// - Throws: ``NetworkError`` naming `field` and `text`.
    public init(parsing text: String, field: String = "CIDR") throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]) else {
            throw NetworkError.invalid(field, text, "expected ADDRESS/PREFIX, e.g. 10.0.0.0/24")
        }
        guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber),
              parts[1].count <= 3, parts[1] == "0" || !parts[1].hasPrefix("0"), let prefix = Int(parts[1]),
              prefix <= address.family.bitWidth
        else {
            throw NetworkError.invalid(
                field, text, "prefix length must be 0...\(address.family.bitWidth)")
        }
        self.address = address
        self.prefixLength = prefix
    }

    /// Like ``init(parsing:field:)`` but returns `nil` on bad text.
    public init?(_ text: String) {
        guard let parsed = try? CIDR(parsing: text) else { return nil }
        self = parsed
    }

    public var family: IPAddress.Family { address.family }

    /// The mask as an integer of the family's width (right-aligned in 128 bits).
    private var maskValue: UInt128 {
        let width = family.bitWidth
        let all: UInt128 = width == 128 ? .max : (UInt128(1) << width) - 1
        guard prefixLength > 0 else { return 0 }
        return all & ~((UInt128(1) << (width - prefixLength)) &- 1) & all
    }

    private func address(_ value: UInt128) -> IPAddress {
        // Both values come from masking an address of this family, so they always fit.
        IPAddress(family: family, integerValue: value) ?? address
    }

    /// The first address of the subnet.
    public var networkAddress: IPAddress { address(address.integerValue & maskValue) }

    /// The last address of the subnet (the IPv4 broadcast address).
    public var lastAddress: IPAddress {
        let width = family.bitWidth
        let all: UInt128 = width == 128 ? .max : (UInt128(1) << width) - 1
        return address(address.integerValue & maskValue | (all & ~maskValue))
    }

    /// The subnet mask, e.g. `255.255.255.0`.
    public var netmask: IPAddress { address(maskValue) }

    /// This prefix with the host bits cleared.
    public var network: CIDR {
        CIDR(validated: networkAddress, prefixLength: prefixLength)
    }

    /// Whether `other` falls inside this subnet.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.integerValue & maskValue == address.integerValue & maskValue
    }

    /// Whether every address of `other` falls inside this subnet.
    public func contains(_ other: CIDR) -> Bool {
        other.family == family && other.prefixLength >= prefixLength && contains(other.address)
    }

    /// Whether the two subnets share any address.
    public func overlaps(_ other: CIDR) -> Bool {
        contains(other) || other.contains(self)
    }

    /// How many addresses the subnet spans, saturating at `UInt128.max` for `::/0`.
    public var addressCount: UInt128 {
        let hostBits = family.bitWidth - prefixLength
        return hostBits >= 128 ? .max : UInt128(1) << hostBits
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
