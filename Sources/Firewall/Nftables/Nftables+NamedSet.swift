import NetCore

extension Nftables {
    /// A named set, or a map when it has a ``dataType``.
    public struct NamedSet: Sendable, Hashable {
        public var name: String
        /// One type, or several for a concatenated key.
        public var keyType: [DataType]
        public var dataType: DataType?
        /// Interval sets hold prefixes and ranges (subnets); the others are hash tables.
        public var isInterval: Bool

        public init(name: String, keyType: [DataType], dataType: DataType? = nil, isInterval: Bool = false) {
            self.name = name
            self.keyType = keyType
            self.dataType = dataType
            self.isInterval = isInterval
        }

        /// `"set"` or `"map"`: the JSON member that declares it.
        var kind: String { dataType == nil ? "set" : "map" }

        func json(in table: Table) -> JSON {
            // libnftables 1.0.6 takes a concatenated key as an array of type names, but its
            // map value only as one type name: concatenated map data cannot be declared in
            // JSON there, which is why address and port live in separate maps.
            var body: JSONObject = [
                "name": .string(name),
                "type": keyType.count == 1 ? .string(keyType[0].rawValue) : .array(keyType.map { .string($0.rawValue) }),
            ]
            if let dataType { body["map"] = .string(dataType.rawValue) }
            if isInterval { body["flags"] = ["interval"] }
            return table.members(body)
        }
    }

    /// A set element, or a map entry when it has ``data``.
    public struct Element: Sendable, Hashable {
        public var key: Expression
        public var data: Expression?
        /// Stored with the element in the kernel (at most 128 bytes), shown by `nft list`.
        public var comment: String?

        public init(key: Expression, data: Expression? = nil, comment: String? = nil) {
            self.key = key
            self.data = data
            self.comment = comment
        }

        /// The longest comment libnftables accepts (`NFTNL_UDATA_COMMENT_MAXLEN`).
        public static let maximumCommentLength = 128

        /// `text` cut to what an element comment holds (``maximumCommentLength`` bytes).
        public static func fittingComment(_ text: String) -> String {
            var text = text
            while text.utf8.count > maximumCommentLength { text.removeLast() }
            return text
        }

        var json: JSON {
            var key = key.json
            if let comment { key = ["elem": ["val": key, "comment": .string(comment)]] }
            guard let data else { return key }
            return [key, data.json]
        }
    }
}
