/// A 48-bit Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// - Throws: ``NetworkError`` unless `bytes` holds exactly six bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 6 else {
            throw NetworkError.invalid("MAC address", bytes.description, "must be 6 bytes")
        }
        self.bytes = bytes
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`), either case.
    ///
    /// - Throws: ``NetworkError`` naming `field` and `text`.
    public init(parsing text: String, field: String = "MAC address") throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let groups = parts.count == 6 ? parts : text.split(separator: "-", omittingEmptySubsequences: false)
        let parsed = groups.compactMap { $0.count == 2 && $0.allSatisfy(\.isHexDigit) ? UInt8($0, radix: 16) : nil }
        guard groups.count == 6, parsed.count == 6 else {
            throw NetworkError.invalid(field, text, "expected six hex bytes like 02:42:ac:11:00:02")
        }
        bytes = parsed
    }

    public init?(_ text: String) {
        guard let parsed = try? MACAddress(parsing: text) else { return nil }
        self = parsed
    }

    /// A random unicast, locally administered address (as the kernel's `eth_random_addr`).
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> MACAddress {
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0xFE) | 0x02
        // Six bytes were generated above, so this cannot fail.
        return (try? MACAddress(bytes: bytes)) ?? MACAddress.zero
    }

    public static func random() -> MACAddress {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static let zero = MACAddress(uncheckedZero: ())
    private init(uncheckedZero: Void) { bytes = [0, 0, 0, 0, 0, 0] }
}
