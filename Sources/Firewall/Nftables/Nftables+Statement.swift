import NetCore

extension Nftables {
    /// One step of a rule: a match that stops the rule when false, or an action.
    public enum Statement: Sendable, Hashable {
        case match(Expression, Operator, Expression)
        case verdict(Verdict)
        /// Rewrites the destination to `address` (and `port`, when given) for `family` only.
        case destinationNAT(family: IPAddress.Family, address: Expression, port: Expression?)
        /// Rewrites the source to the outgoing interface's address.
        case masquerade
        /// `KEY vmap @MAP`: continues with the verdict `map` holds for `key`, if any.
        case verdictMap(key: Expression, map: String)

        /// How a match compares its two sides.
        public enum Operator: String, Sendable, Hashable {
            case equal = "=="
            case notEqual = "!="
            /// For flag fields such as `ct status`: true when the flag is set.
            case contains = "in"
        }

        public var json: JSON {
            switch self {
            case .match(let left, let op, let right):
                return ["match": ["op": .string(op.rawValue), "left": left.json, "right": right.json]]
            case .verdict(let verdict):
                return verdict.json
            case .destinationNAT(let family, let address, let port):
                var body: JSONObject = ["family": .string(family == .v4 ? "ip" : "ip6"), "addr": address.json]
                if let port { body["port"] = port.json }
                return ["dnat": .object(body)]
            case .masquerade:
                return ["masquerade": nil]
            case .verdictMap(let key, let map):
                return ["vmap": ["key": key.json, "data": .string("@" + map)]]
            }
        }
    }
}

extension Nftables.Statement {
    static func equal(_ left: Nftables.Expression, _ right: Nftables.Expression) -> Self { .match(left, .equal, right) }
    static func notEqual(_ left: Nftables.Expression, _ right: Nftables.Expression) -> Self { .match(left, .notEqual, right) }
    static let drop = Self.verdict(.drop)
    static let `return` = Self.verdict(.return)
}
