import NetCore

/// The part of the nftables JSON schema (`libnftables-json(5)`) that this project writes and
/// reads, as typed values. Everything the firewall sends to the kernel is built from these
/// and rendered to ``NetCore/JSON`` in one place, so unit tests can compare exact text.
public enum Nftables {
    /// A table's address family. `inet` carries IPv4 and IPv6 (NAT in `inet` needs Linux 5.2).
    public enum Family: String, Sendable, Hashable {
        case inet, ip, ip6, bridge
    }

    /// A table, by family and name; every other object is addressed inside one.
    public struct Table: Sendable, Hashable {
        public var family: Family
        public var name: String

        public init(family: Family, name: String) {
            self.family = family
            self.name = name
        }

        /// The `"family"` and `"table"` members every object inside the table carries.
        func members(_ rest: JSONObject) -> JSON {
            var object: JSONObject = ["family": .string(family.rawValue), "table": .string(name)]
            for (key, value) in rest { object[key] = value }
            return .object(object)
        }
    }

    /// The type of a set key or map value (`ipv4_addr`, `inet_service`, ...).
    public enum DataType: String, Sendable, Hashable {
        case ipv4Address = "ipv4_addr"
        case ipv6Address = "ipv6_addr"
        case inetProtocol = "inet_proto"
        case inetService = "inet_service"
        case interfaceName = "ifname"
        case verdict

        /// The address type of `family`.
        static func address(_ family: IPAddress.Family) -> DataType {
            family == .v4 ? .ipv4Address : .ipv6Address
        }
    }

    /// What a rule or a verdict map decides.
    public enum Verdict: Sendable, Hashable {
        case accept
        case drop
        case `return`
        case jump(String)

        var json: JSON {
            switch self {
            case .accept: ["accept": nil]
            case .drop: ["drop": nil]
            case .return: ["return": nil]
            case .jump(let chain): ["jump": ["target": .string(chain)]]
            }
        }
    }
}
