/// An address of either family.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public enum Family: Sendable, Hashable, CustomStringConvertible {
        case v4, v6
        /// Address width in bits.
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
        public var description: String { self == .v4 ? "IPv4" : "IPv6" }
    }

    /// Parses IPv4 dotted-quad or IPv6 text.
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let address = IPv6Address(text) else { return nil }
            self = .v6(address)
        } else {
            guard let address = IPv4Address(text) else { return nil }
            self = .v4(address)
        }
    }

    /// Parses `text`, or throws an error naming `field`.
    public init(parsing text: String, field: String) throws {
        guard let address = IPAddress(text) else {
            throw NetworkError.invalid(field, text, "not an IPv4 or IPv6 address")
        }
        self = address
    }

    /// Reads 4 or 16 network-order bytes.
    public init?(bytes: some Collection<UInt8>) {
        if let v4 = IPv4Address(bytes: bytes) {
            self = .v4(v4)
        } else if let v6 = IPv6Address(bytes: bytes) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    public var family: Family {
        switch self {
        case .v4: .v4
        case .v6: .v6
        }
    }

    /// Network-order bytes: 4 or 16 of them.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let address): address.bytes
        case .v6(let address): address.bytes
        }
    }

    /// The address as an integer, so ranges and offsets work alike for both families.
    public var integerValue: UInt128 {
        switch self {
        case .v4(let address): UInt128(address.value)
        case .v6(let address): address.value
        }
    }

    /// The address of `family` whose integer value is `value`, if it fits.
    public init?(family: Family, integerValue value: UInt128) {
        switch family {
        case .v4:
            guard let narrow = UInt32(exactly: value) else { return nil }
            self = .v4(IPv4Address(narrow))
        case .v6:
            self = .v6(IPv6Address(value))
        }
    }

    public var description: String {
        switch self {
        case .v4(let address): address.description
        case .v6(let address): address.description
        }
    }

    /// Orders IPv4 before IPv6, then numerically.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return lhs.integerValue < rhs.integerValue
    }
}

extension IPAddress {
    /// `0.0.0.0` or `::`: every address of the family, to a listener or a host IP.
    public static func unspecified(_ family: Family) -> IPAddress {
        family == .v4 ? .v4(.any) : .v6(.any)
    }

    /// `0.0.0.0` or `::`.
    public var isUnspecified: Bool { integerValue == 0 }

    /// `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        switch self {
        case .v4(let address): address.value >> 24 == 127
        case .v6(let address): address == .loopback
        }
    }

    /// `fe80::/10`.
    public var isIPv6LinkLocal: Bool {
        if case .v6(let address) = self { return address.value >> 118 == 0x3FA }
        return false
    }

    /// `224.0.0.0/4` or `ff00::/8`.
    public var isMulticast: Bool {
        switch self {
        case .v4(let address): address.value >> 28 == 0xE
        case .v6(let address): address.value >> 120 == 0xFF
        }
    }
}
