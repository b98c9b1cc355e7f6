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
        /// `addresses` for the packet path (``outcome(of:to:from:udp:writingInto:)``).
        var index = NameIndex([:])
    }

    /// By network key.
    let zones: [String: Zone]
    /// The network a listen address serves.
    public let listeners: [IPAddress: String]
    /// The zone a listen address serves, for the packet path.
    let served: [IPAddress: Zone]

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
        for (key, zone) in zones { zones[key]?.index = NameIndex(zone.addresses) }
        self.zones = zones
        self.listeners = listeners
        served = listeners.compactMapValues { zones[$0] }
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

/// What the resolver does with one packet, the answer written into a buffer of the caller's.
public enum WrittenOutcome: Equatable, Sendable {
    /// Send the first this many bytes of the buffer.
    case answer(Int)
    case forward
    case drop
}

extension NameZones {
    /// ``outcome(of:to:from:udp:)`` for a packet in a buffer, its answer written into `buffer`
    /// (65 536 bytes take any; an answer that does not fit is dropped). The common queries, a
    /// name of the network or one to forward, take no allocation: the question is read where
    /// it lies and the name looked up by its bytes. Anything else (a reverse name, a client
    /// refused, a malformed or unusual packet) takes ``outcome(of:to:from:udp:)``, so both
    /// answer alike, byte for byte.
    public func outcome(of packet: UnsafeRawBufferPointer, to local: IPAddress, from client: IPAddress, udp: Bool,
                        writingInto buffer: UnsafeMutableRawBufferPointer) -> WrittenOutcome {
        if let outcome = quickOutcome(of: packet, to: local, from: client, udp: udp, writingInto: buffer) { return outcome }
        switch outcome(of: Array(packet), to: local, from: client, udp: udp) {
        case .answer(let bytes):
            guard bytes.count <= buffer.count else { return .drop }
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return .answer(bytes.count)
        case .forward: return .forward
        case .drop: return .drop
        }
    }

    /// The packet path's own reading: a query with one question whose name has no compression
    /// pointer, no answer or authority records and at most one additional (an OPT record of
    /// the root name, or any other skipped as the full reader skips it); `nil` for anything
    /// else, and for any query the full reader answers otherwise than with the network's names.
    private func quickOutcome(of packet: UnsafeRawBufferPointer, to local: IPAddress, from client: IPAddress, udp: Bool,
                              writingInto buffer: UnsafeMutableRawBufferPointer) -> WrittenOutcome? {
        let count = packet.count
        guard count >= 12, packet[2] & 0xF8 == 0, // QR 0, opcode 0
              packet[4] == 0, packet[5] == 1, packet[6] == 0, packet[7] == 0, packet[8] == 0, packet[9] == 0,
              packet[10] == 0, packet[11] <= 1 else { return nil }
        // The question's name: labels of 1-63 bytes up to the root, 255 bytes in all.
        var position = 12
        var labels = 0
        var last = -1, beforeLast = -1
        while true {
            guard position < count else { return nil }
            let length = Int(packet[position])
            if length == 0 { break }
            guard length & 0xC0 == 0, position + 1 + length <= count, position + 1 + length - 12 < 255 else { return nil }
            beforeLast = last
            last = position
            labels += 1
            position += 1 + length
        }
        let typeAt = position + 1
        let questionEnd = typeAt + 4
        guard questionEnd <= count else { return nil }
        let type = UInt16(packet[typeAt]) << 8 | UInt16(packet[typeAt + 1])
        var ednsPayloadSize: UInt16?
        if packet[11] == 1 {
            // The additional record: the root's name, type, class, TTL, data length, data.
            guard questionEnd + 11 <= count, packet[questionEnd] == 0 else { return nil }
            let dataLength = Int(packet[questionEnd + 9]) << 8 | Int(packet[questionEnd + 10])
            guard questionEnd + 11 + dataLength <= count else { return nil }
            if packet[questionEnd + 1] == 0, packet[questionEnd + 2] == UInt8(DNSType.opt) {
                ednsPayloadSize = UInt16(packet[questionEnd + 3]) << 8 | UInt16(packet[questionEnd + 4])
            }
        }
        guard let zone = served[local], zone.subnets.contains(where: { $0.contains(client) }) else { return nil }
        if labels >= 2, Self.isLabel(packet, at: last, "arpa"),
           Self.isLabel(packet, at: beforeLast, "in-addr") || Self.isLabel(packet, at: beforeLast, "ip6") {
            return nil
        }
        let inDomain = labels >= 1 && Self.isLabel(packet, at: last, "netctl") // Self.domain
        guard let entry = zone.index.entry(in: packet, nameAt: 12, labels: inDomain ? labels - 1 : labels) else {
            guard inDomain else { return .forward }
            return Self.write(code: DNSResponseCode.nameError, addresses: [], type: type, questionEnd: questionEnd,
                              ednsPayloadSize: ednsPayloadSize, udp: udp, packet: packet, into: buffer)
        }
        let start = Int(entry.addressStart)
        return Self.write(code: DNSResponseCode.noError, addresses: zone.index.addresses[start..<(start + Int(entry.addressCount))],
                          type: type, questionEnd: questionEnd, ednsPayloadSize: ednsPayloadSize, udp: udp, packet: packet, into: buffer)
    }

    /// Whether the label whose length byte is at `offset` is `text` (ASCII, lower case), without regard to case.
    private static func isLabel(_ packet: UnsafeRawBufferPointer, at offset: Int, _ text: StaticString) -> Bool {
        guard Int(packet[offset]) == text.utf8CodeUnitCount else { return false }
        let bytes = text.utf8Start
        for index in 0..<text.utf8CodeUnitCount where NameIndex.lower(packet[offset + 1 + index]) != bytes[index] { return false }
        return true
    }

    /// An authoritative answer as ``DNSAnswer/respond(to:code:records:authoritative:recursionAvailable:udp:)``
    /// writes it: the header, the question as sent, the addresses of the type asked (by a
    /// pointer to the question's name) and the resolver's OPT record when the query had one.
    private static func write(code: UInt8, addresses: ArraySlice<IPAddress>, type: UInt16, questionEnd: Int, ednsPayloadSize: UInt16?,
                              udp: Bool, packet: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) -> WrittenOutcome? {
        func wanted(_ address: IPAddress) -> Bool {
            switch type {
            case DNSType.a: address.family == .v4
            case DNSType.aaaa: address.family == .v6
            case DNSType.any: true
            default: false
            }
        }
        var records = 0
        var recordBytes = 0
        for address in addresses where wanted(address) {
            records += 1
            recordBytes += address.family == .v4 ? 16 : 28
        }
        let optBytes = ednsPayloadSize == nil ? 0 : 11
        var truncated = false
        if udp, questionEnd + recordBytes + optBytes > max(512, Int(ednsPayloadSize ?? 512)) {
            truncated = true
            records = 0
            recordBytes = 0
        }
        guard questionEnd + recordBytes + optBytes <= buffer.count else { return nil }
        var flags: UInt16 = 0x8000 | UInt16(code & 0x0F) | 0x0400 | 0x0080
        if truncated { flags |= 0x0200 }
        flags |= UInt16(packet[2] & 0x01) << 8 // recursion desired, echoed
        flags |= UInt16(packet[3] & 0x10) // checking disabled, echoed
        buffer[0] = packet[0]
        buffer[1] = packet[1]
        var at = 2
        func put16(_ value: UInt16) {
            buffer[at] = UInt8(value >> 8)
            buffer[at + 1] = UInt8(value & 0xFF)
            at += 2
        }
        put16(flags)
        put16(1)
        put16(UInt16(records))
        put16(0)
        put16(ednsPayloadSize == nil ? 0 : 1)
        buffer.baseAddress.map { UnsafeMutableRawBufferPointer(start: $0 + 12, count: questionEnd - 12) }?
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[12..<questionEnd]))
        at = questionEnd
        if records > 0 {
            let qclass = UInt16(packet[questionEnd - 2]) << 8 | UInt16(packet[questionEnd - 1])
            for address in addresses where wanted(address) {
                put16(0xC00C)
                put16(address.family == .v4 ? DNSType.a : DNSType.aaaa)
                put16(qclass)
                put16(UInt16(ttl >> 16))
                put16(UInt16(ttl & 0xFFFF))
                switch address {
                case .v4(let v4):
                    put16(4)
                    put16(UInt16(v4.value >> 16))
                    put16(UInt16(v4.value & 0xFFFF))
                case .v6(let v6):
                    put16(16)
                    for shift in stride(from: 112, through: 0, by: -16) { put16(UInt16(truncatingIfNeeded: v6.value >> shift)) }
                }
            }
        }
        if ednsPayloadSize != nil {
            buffer[at] = 0
            at += 1
            put16(DNSType.opt)
            put16(DNSAnswer.ednsPayloadSize)
            put16(0)
            put16(0)
            put16(0)
        }
        return .answer(at)
    }
}
