import NetCore

/// How addresses are stored: 16 bytes, big-endian, for both families (IPv4 zero-extended).
///
/// A fixed width makes SQLite's blob ordering (`memcmp`) the numeric ordering, so "the next
/// leased address after X" is an index range scan. The `family` column keeps IPv4 `10.0.0.1`
/// apart from IPv6 `::a00:1`.
enum AddressBlob {
    static func encode(_ value: UInt128) -> [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: value >> (8 * (15 - $0))) }
    }

    static func encode(_ address: IPAddress) -> [UInt8] { encode(address.integerValue) }

    /// `nil` unless `bytes` is exactly 16 long.
    static func decode(_ bytes: [UInt8]) -> UInt128? {
        guard bytes.count == 16 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt128($1) }
    }

    /// The `family` column's value: 4 or 6.
    static func column(_ family: IPAddress.Family) -> Int64 { family == .v4 ? 4 : 6 }

    static func family(column: Int64) -> IPAddress.Family? {
        switch column {
        case 4: .v4
        case 6: .v6
        default: nil
        }
    }
}
