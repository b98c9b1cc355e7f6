#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IPv6 address, stored as a 128-bit integer in host byte order.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt128

    public init(_ value: UInt128) { self.value = value }

    /// Parses any RFC 4291 text form, including `::` and an embedded IPv4 tail.
    public init?(_ text: some StringProtocol) {
        var parsed = in6_addr()
        guard text.utf8.count <= 45, !text.utf8.contains(0),
              String(text).withCString({ inet_pton(AF_INET6, $0, &parsed) }) == 1
        else { return nil }
        let bytes = withUnsafeBytes(of: parsed) { Array($0) }
        value = bytes.reduce(0) { $0 << 8 | UInt128($1) }
    }

    /// Reads sixteen bytes in network order.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        value = bytes.reduce(0) { $0 << 8 | UInt128($1) }
    }

    /// The sixteen bytes in network order.
    public var bytes: [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: value >> (8 * (15 - UInt128($0)))) }
    }

    /// The RFC 5952 canonical text form (lower case, longest zero run as `::`).
    public var description: String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else {
            return "invalid"
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool { lhs.value < rhs.value }

    public static let any = IPv6Address(0)
    public static let loopback = IPv6Address(1)
}
