import NetCore

extension Nftables {
    /// A value or a packet lookup on either side of a match, a map key, or set element.
    public indirect enum Expression: Sendable, Hashable {
        /// A symbolic constant: `"tcp"`, `"br0"`, `"local"`, `"dnat"`.
        case symbol(String)
        case number(Int)
        case address(IPAddress)
        /// A network prefix, as interval sets store subnets.
        case prefix(CIDR)
        /// `a . b . c`: several values looked up as one key.
        case concatenation([Expression])
        /// `{ a, b }`: an anonymous set, matched against as a whole.
        case anonymousSet([Expression])
        /// `@name`: a named set or map of the same table.
        case setReference(String)
        /// A header field: `ip daddr`, `th dport`.
        case payload(protocol: String, field: String)
        /// `meta KEY`: `l4proto`, `iifname`, `oifname`.
        case meta(String)
        /// `fib daddr type`: the routing table's opinion of an address.
        case fib(result: String, flags: [String])
        /// `ct KEY`: conntrack state of the packet's connection.
        case conntrack(String)
        /// `KEY map @MAP`: the value `map` holds for `key`.
        case mapLookup(key: Expression, map: String)
        /// A verdict as map data (`jump CHAIN` in a verdict map).
        case verdict(Verdict)
        /// A value exactly as libnftables printed it in a listing, sent back to delete it.
        case verbatim(JSON)

        public var json: JSON {
            switch self {
            case .symbol(let text): .string(text)
            case .number(let value): .int(Int64(value))
            case .address(let address): .string(address.description)
            case .prefix(let cidr):
                ["prefix": ["addr": .string(cidr.networkAddress.description), "len": .int(Int64(cidr.prefixLength))]]
            case .concatenation(let parts): ["concat": .array(parts.map(\.json))]
            case .anonymousSet(let members): ["set": .array(members.map(\.json))]
            case .setReference(let name): .string("@" + name)
            case .payload(let proto, let field): ["payload": ["protocol": .string(proto), "field": .string(field)]]
            case .meta(let key): ["meta": ["key": .string(key)]]
            case .fib(let result, let flags): ["fib": ["result": .string(result), "flags": .array(flags.map(JSON.string))]]
            case .conntrack(let key): ["ct": ["key": .string(key)]]
            case .mapLookup(let key, let map): ["map": ["key": key.json, "data": .string("@" + map)]]
            case .verdict(let verdict): verdict.json
            case .verbatim(let json): json
            }
        }
    }
}

extension Nftables.Expression {
    /// `ip daddr` or `ip6 daddr` (or `saddr`) for `family`.
    static func ipField(_ field: String, _ family: IPAddress.Family) -> Self {
        .payload(protocol: family == .v4 ? "ip" : "ip6", field: field)
    }

    /// `meta l4proto`: the transport protocol of either IP family.
    static let transportProtocol = Self.meta("l4proto")
    /// `th dport`: the destination port at the same offset in TCP, UDP and SCTP.
    static let destinationPort = Self.payload(protocol: "th", field: "dport")
    /// `fib daddr type`: `local` for any address of this host.
    static let destinationAddressType = Self.fib(result: "type", flags: ["daddr"])

    static func transport(_ transport: TransportProtocol) -> Self { .symbol(transport.rawValue) }
    static func port(_ port: UInt16) -> Self { .number(Int(port)) }
}
