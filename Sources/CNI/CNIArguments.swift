/// `CNI_ARGS`: `K=V;K2=V2`, kept in order.
public struct CNIArguments: Sendable, Hashable {
    public let pairs: [(key: String, value: String)]

    /// Parses `text`; an item without `=` is an error naming it.
    ///
    /// - Throws: ``CNIError`` code 4 naming `CNI_ARGS`.
    public init(parsing text: String) throws {
        var pairs: [(String, String)] = []
        for item in text.split(separator: ";") where !item.isEmpty {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw CNIError(.invalidEnvironment, "invalid CNI_ARGS item \"\(item)\"", details: "expected KEY=VALUE pairs separated by ';'")
            }
            pairs.append((String(item[..<equals]), String(item[item.index(after: equals)...])))
        }
        self.pairs = pairs
    }

    public init() { pairs = [] }

    public subscript(key: String) -> String? { pairs.last { $0.key == key }?.value }

    /// `IgnoreUnknown=1` (or `true`) lets a plugin skip keys it does not know.
    public var ignoresUnknown: Bool {
        guard let value = self["IgnoreUnknown"]?.lowercased() else { return false }
        return value == "1" || value == "true"
    }

    /// Fails on a key outside `known` unless `IgnoreUnknown` is set, as the reference plugins do.
    ///
    /// - Throws: ``CNIError`` code 2 naming the key and value.
    public func validate(known: Set<String>) throws {
        guard !ignoresUnknown else { return }
        if let unknown = pairs.first(where: { !known.contains($0.key) && $0.key != "IgnoreUnknown" }) {
            throw CNIError(.unsupportedField, "unsupported CNI_ARGS key \"\(unknown.key)\" = \"\(unknown.value)\"",
                           details: "set IgnoreUnknown=1 to skip keys this plugin does not use")
        }
    }

    public static func == (lhs: CNIArguments, rhs: CNIArguments) -> Bool {
        lhs.pairs.map(\.key) == rhs.pairs.map(\.key) && lhs.pairs.map(\.value) == rhs.pairs.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        for pair in pairs {
            hasher.combine(pair.key)
            hasher.combine(pair.value)
        }
    }
}
