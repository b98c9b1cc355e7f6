/// A domain name as DNS carries it: labels of 1-63 bytes, 255 bytes in all on the wire.
/// Compared without regard to ASCII case (RFC 4343); kept as sent, for the answer.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public let labels: [[UInt8]]

    public init(labels: [[UInt8]]) {
        self.labels = labels
    }

    /// A name from dotted text (`web.netctl`, a trailing dot allowed); `nil` for an empty
    /// label or one longer than 63 bytes, or a name over 255 bytes on the wire.
    public init?(_ text: String) {
        var parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        if parts.last?.isEmpty == true { parts.removeLast() }
        if text == "." { parts = [] }
        guard parts.allSatisfy({ !$0.isEmpty && $0.count <= 63 }) else { return nil }
        labels = parts
        guard wireLength <= 255 else { return nil }
    }

    /// The bytes on the wire: each label after its length, then the root's zero.
    public var wire: [UInt8] {
        var bytes: [UInt8] = []
        for label in labels {
            bytes.append(UInt8(label.count))
            bytes += label
        }
        bytes.append(0)
        return bytes
    }

    var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// Lower-cased dotted text, without the trailing dot: the key names are looked up by.
    public var key: String {
        labels.map { label in String(decoding: label.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }, as: UTF8.self) }
            .joined(separator: ".")
    }

    public var description: String { labels.isEmpty ? "." : labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }

    /// Whether the name ends with `suffix`'s labels (or is it).
    public func isInside(_ suffix: DNSName) -> Bool {
        guard labels.count >= suffix.labels.count else { return false }
        return DNSName(labels: Array(labels.suffix(suffix.labels.count))) == suffix
    }

    /// The name without its last `count` labels.
    public func dropping(last count: Int) -> DNSName {
        DNSName(labels: Array(labels.dropLast(count)))
    }
}
