import DNS
import NetCore

/// What the resolver does with one packet.
public enum NameOutcome: Equatable, Sendable {
    /// Answer this.
    case answer([UInt8])
    /// Not a name of the network: the host's upstream resolvers answer it, relayed unchanged.
    case forward
    /// Not a query (an answer, or shorter than a header): no reply at all.
    case drop
}

/// The names of every served network, read at once from the store: what the resolver answers
/// from. Immutable, so every connection's thread can read it while the loop swaps in a new one.
public struct NameZones: Sendable {
    /// netctl's own domain: `web.netctl` is `web`, and an unknown name in it is NXDOMAIN.
    public static let domain = "netctl"
    /// How long a client may keep an answer: short, as names go with their endpoints.
    public static let ttl: UInt32 = 5

    struct Zone: Sendable {
        var subnets: [CIDR]
        var addresses: [String: [IPAddress]] = [:]
        var names: [IPAddress: [String]] = [:]
    }

    /// By network key.
    let zones: [String: Zone]
    /// The network a listen address serves.
    public let listeners: [IPAddress: String]

    public init(networks: [NameNetwork], records: [NameRecord]) {
        var zones: [String: Zone] = [:]
        var listeners: [IPAddress: String] = [:]
        for network in networks {
            zones[network.key] = Zone(subnets: network.subnets)
            for address in network.listen { listeners[address] = network.key }
        }
        for record in records {
            guard zones[record.network] != nil else { continue }
            if zones[record.network]?.addresses[record.name]?.contains(record.address) != true {
                zones[record.network]?.addresses[record.name, default: []].append(record.address)
            }
            if zones[record.network]?.names[record.address]?.contains(record.name) != true {
                zones[record.network]?.names[record.address, default: []].append(record.name)
            }
        }
        self.zones = zones
        self.listeners = listeners
    }

    public static let empty = NameZones(networks: [], records: [])

    private static let ownDomain = DNSName(domain) ?? DNSName(labels: [])
    private static let reverseV4 = DNSName("in-addr.arpa") ?? DNSName(labels: [])
    private static let reverseV6 = DNSName("ip6.arpa") ?? DNSName(labels: [])

    /// What to do with `packet`, which `client` sent to `local` (a listen address).
    ///
    /// - Parameter udp: whether it came over UDP (an answer too large is truncated).
    public func outcome(of packet: [UInt8], to local: IPAddress, from client: IPAddress, udp: Bool) -> NameOutcome {
        let query: DNSQuery
        do {
            query = try DNSQuery(parsing: packet)
        } catch DNSParseError.tooShort, DNSParseError.notAQuery {
            return .drop
        } catch DNSParseError.notImplemented {
            return DNSAnswer.error(DNSResponseCode.notImplemented, toPacket: packet).map(NameOutcome.answer) ?? .drop
        } catch {
            return DNSAnswer.error(DNSResponseCode.formatError, toPacket: packet).map(NameOutcome.answer) ?? .drop
        }
        guard let key = listeners[local], let zone = zones[key] else {
            return .answer(DNSAnswer.respond(to: query, code: DNSResponseCode.refused, authoritative: false, udp: udp))
        }
        // A resolver on a gateway is for the network's sandboxes, not an open one for
        // whatever can route to the bridge.
        guard zone.subnets.contains(where: { $0.contains(client) }) else {
            return .answer(DNSAnswer.respond(to: query, code: DNSResponseCode.refused, authoritative: false, udp: udp))
        }
        if query.name.isInside(Self.reverseV4) || query.name.isInside(Self.reverseV6) {
            guard let address = Self.reverseAddress(query.name), let names = zone.names[address] else { return .forward }
            let records = query.type == DNSType.ptr || query.type == DNSType.any
                ? names.compactMap { DNSName("\($0).\(Self.domain)") }.map { DNSRecord.pointer(to: $0, ttl: Self.ttl) } : []
            return .answer(DNSAnswer.respond(to: query, code: DNSResponseCode.noError, records: records, authoritative: true, udp: udp))
        }
        let inDomain = query.name.isInside(Self.ownDomain)
        let name = inDomain ? query.name.dropping(last: Self.ownDomain.labels.count) : query.name
        guard let addresses = zone.addresses[name.key], !name.labels.isEmpty else {
            // netctl's domain is the resolver's to answer; other unknown names are the upstream's.
            return inDomain
                ? .answer(DNSAnswer.respond(to: query, code: DNSResponseCode.nameError, authoritative: true, udp: udp))
                : .forward
        }
        let wanted = addresses.filter { address in
            switch query.type {
            case DNSType.a: address.family == .v4
            case DNSType.aaaa: address.family == .v6
            case DNSType.any: true
            default: false
            }
        }
        return .answer(DNSAnswer.respond(to: query, code: DNSResponseCode.noError,
                                         records: wanted.map { DNSRecord.address($0.bytes, ttl: Self.ttl) }, authoritative: true, udp: udp))
    }

    /// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` or the 32 nibbles of ip6.arpa.
    static func reverseAddress(_ name: DNSName) -> IPAddress? {
        let labels = name.key.split(separator: ".").reversed().dropFirst(2).map(String.init)
        if name.isInside(reverseV4) {
            guard labels.count == 4 else { return nil }
            return IPAddress(labels.joined(separator: "."))
        }
        guard labels.count == 32, labels.allSatisfy({ $0.count == 1 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        let groups = stride(from: 0, to: 32, by: 4).map { labels[$0..<($0 + 4)].joined() }
        return IPAddress(groups.joined(separator: ":"))
    }
}
