/// A Linux network interface name: 1–15 bytes (`IFNAMSIZ` less the NUL), no `/`, `:` or
/// whitespace, and not `.` or `..` — the kernel's `dev_valid_name` rules.
///
/// Deliberately not `ExpressibleByStringLiteral`: `try InterfaceName("some/literal")` must reach
/// the throwing initializer, not a literal conversion that cannot report the error.
public struct InterfaceName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// The longest name the kernel takes.
    public static let maximumLength = 15

    /// - Throws: ``NetworkError`` naming `field` and the value when the name breaks a rule.
    public init(_ name: String, field: String = "interface name") throws {
        let length = name.utf8.count
        if length == 0 {
            throw NetworkError.invalid(field, name, "must not be empty")
        }
        if length > Self.maximumLength {
            throw NetworkError.invalid(
                field, name, "is \(length) bytes long; at most \(Self.maximumLength) are allowed")
        }
        if name == "." || name == ".." {
            throw NetworkError.invalid(field, name, "must not be \".\" or \"..\"")
        }
        if let bad = name.unicodeScalars.first(where: { $0 == "/" || $0 == ":" || $0 == "\0"
            || $0.properties.isWhitespace })
        {
            let what = switch bad {
            case "/", ":": "\"\(bad)\""
            case "\0": "a NUL byte"
            default: "whitespace"
            }
            throw NetworkError.invalid(field, name, "must not contain \(what)")
        }
        rawValue = name
    }

    public var description: String { rawValue }

    /// A name known to be valid, for the few written in code.
    private init(known: String) { rawValue = known }

    /// `eth0`: the first container interface.
    public static let eth0 = InterfaceName(known: "eth0")

    public static func < (lhs: InterfaceName, rhs: InterfaceName) -> Bool { lhs.rawValue < rhs.rawValue }
}
