import Foundation
import DNS
import NameService
import NetCore
import Testing

/// What the resolver answers from the store's names, and what it leaves to the upstream.
struct NameZonesTests {
    static let gateway = IPAddress("10.55.0.1")!
    static let zones = NameZones(
        networks: [NameNetwork(key: "netctl:web", listen: [gateway, IPAddress("fd55::1")!],
                               subnets: [CIDR("10.55.0.0/24")!, CIDR("fd55::/64")!]),
                   NameNetwork(key: "netctl:other", listen: [IPAddress("10.56.0.1")!], subnets: [CIDR("10.56.0.0/24")!])],
        records: [NameRecord(network: "netctl:web", owner: "a/eth0", name: "A", address: IPAddress("10.55.0.2")!),
                  NameRecord(network: "netctl:web", owner: "a/eth0", name: "a", address: IPAddress("fd55::2")!),
                  NameRecord(network: "netctl:web", owner: "a/eth0", name: "www", address: IPAddress("10.55.0.2")!),
                  NameRecord(network: "netctl:other", owner: "c/eth0", name: "c", address: IPAddress("10.56.0.2")!)])

    static func query(_ name: String, type: UInt16, id: UInt16 = 7) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
        bytes += DNSName(name)?.wire ?? [0]
        return bytes + [UInt8(type >> 8), UInt8(type & 0xFF), 0x00, 0x01]
    }

    /// The answer's code and its records' data.
    func answer(_ name: String, type: UInt16 = DNSType.a, from client: String = "10.55.0.3", to local: IPAddress = gateway,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> (code: UInt8, data: [[UInt8]]) {
        let outcome = Self.zones.outcome(of: Self.query(name, type: type), to: local, from: IPAddress(client)!, udp: true)
        guard case .answer(let packet) = outcome else {
            Issue.record("\(name): \(outcome)", sourceLocation: sourceLocation)
            return (255, [])
        }
        let question = Self.query(name, type: type).count
        var records: [[UInt8]] = []
        var offset = question
        while offset + 12 <= packet.count {
            let length = Int(packet[offset + 10]) << 8 | Int(packet[offset + 11])
            records.append(Array(packet[(offset + 12)..<(offset + 12 + length)]))
            offset += 12 + length
        }
        return (packet[3] & 0x0F, records)
    }

    @Test func namesAndAliasesOfTheNetworkResolveWithoutRegardToCase() throws {
        #expect(try answer("a") == (0, [[10, 55, 0, 2]]))
        #expect(try answer("A.NETCTL") == (0, [[10, 55, 0, 2]]))
        #expect(try answer("www.netctl") == (0, [[10, 55, 0, 2]]))
        #expect(try answer("a", type: DNSType.aaaa) == (0, [[0xFD, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]]))
        // A name with no address of the type asked: no error, no records.
        #expect(try answer("www", type: DNSType.aaaa) == (0, []))
    }

    @Test func anUnknownNameInNetctlsDomainIsNXDOMAINAndAnyOtherIsForwarded() throws {
        #expect(try answer("nope.netctl") == (DNSResponseCode.nameError, []))
        for name in ["nope", "example.org", "c"] {
            #expect(Self.zones.outcome(of: Self.query(name, type: DNSType.a), to: Self.gateway, from: IPAddress("10.55.0.3")!, udp: true) == .forward,
                    "\(name)")
        }
    }

    @Test func anotherNetworksNamesAreNotAnsweredNorAreClientsOutsideTheNetwork() throws {
        #expect(try answer("c.netctl") == (DNSResponseCode.nameError, []))
        #expect(try answer("a", from: "10.56.0.2") == (DNSResponseCode.refused, []))
        #expect(try answer("a", from: "192.0.2.9") == (DNSResponseCode.refused, []))
        #expect(try answer("c", from: "10.56.0.3", to: IPAddress("10.56.0.1")!) == (0, [[10, 56, 0, 2]]))
    }

    @Test func reverseNamesOfTheNetworksAddressesArePointers() throws {
        let v4 = try answer("2.0.55.10.in-addr.arpa", type: DNSType.ptr)
        #expect(v4.code == 0)
        #expect(v4.data.map { DNSName(labels: Self.labels($0)).key }.sorted() == ["a.netctl", "www.netctl"])
        let nibbles = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.5.5.d.f.ip6.arpa"
        #expect(try answer(nibbles, type: DNSType.ptr, to: IPAddress("fd55::1")!).data.count == 1)
        #expect(Self.zones.outcome(of: Self.query("9.0.55.10.in-addr.arpa", type: DNSType.ptr), to: Self.gateway,
                                   from: IPAddress("10.55.0.3")!, udp: true) == .forward)
    }

    @Test func packetsThatAreNoQueriesAreDroppedOrRefusedNeverFatal() {
        let client = IPAddress("10.55.0.3")!
        #expect(Self.zones.outcome(of: [1, 2, 3], to: Self.gateway, from: client, udp: true) == .drop)
        var answer = Self.query("a", type: DNSType.a)
        answer[2] |= 0x80
        #expect(Self.zones.outcome(of: answer, to: Self.gateway, from: client, udp: true) == .drop)
        var truncated = Self.query("a", type: DNSType.a)
        truncated.removeLast(3)
        guard case .answer(let formerr) = Self.zones.outcome(of: truncated, to: Self.gateway, from: client, udp: true) else {
            Issue.record("a question cut short gets FORMERR")
            return
        }
        #expect(formerr[3] & 0x0F == DNSResponseCode.formatError)
    }

    /// Random changes to valid queries: every outcome is an answer with the query's ID, a
    /// forward or a drop, and nothing traps (a deterministic stand-in for the fuzz target);
    /// the packet path (answers written into a buffer) answers each exactly as the full reader.
    @Test func mutatedQueriesNeverTrap() {
        var generator = SplitMix(seed: 0x5EED)
        let seeds = [Self.query("a", type: DNSType.a), Self.query("2.0.55.10.in-addr.arpa", type: DNSType.ptr),
                     Self.query("www.netctl", type: DNSType.aaaa, id: 0xFFFF), Self.edns(Self.query("A.Netctl", type: DNSType.any), size: 600),
                     Self.edns(Self.query("nope.netctl", type: DNSType.a), size: 4096)]
        let client = IPAddress("10.55.0.3")!
        let outsider = IPAddress("10.56.0.3")!
        for round in 0..<100_000 {
            var packet = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(packet.count + 1))
                switch generator.next() % 3 {
                case 0 where position < packet.count: packet[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: packet.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                default: if position < packet.count { packet.remove(at: position) }
                }
            }
            if case .answer(let reply) = Self.zones.outcome(of: packet, to: Self.gateway, from: client, udp: true) {
                #expect(reply.count >= 12 && reply[0] == packet[0] && reply[1] == packet[1])
            }
            let udp = round % 2 == 0
            let from = round % 7 == 0 ? outsider : client
            #expect(Self.written(packet, from: from, udp: udp) == Self.zones.outcome(of: packet, to: Self.gateway, from: from, udp: udp),
                    "\(packet)")
        }
    }

    /// The packet path on the queries a client sends most, byte for byte as the full reader
    /// answers them: names and aliases in either case, in and out of netctl's domain, each
    /// type, EDNS0, unknown names, other networks' clients, and answers too large for UDP.
    @Test func thePacketPathAnswersAsTheFullReader() {
        let many = IPAddress("10.57.0.1")!
        let zones = NameZones(
            networks: Self.networks + [NameNetwork(key: "netctl:many", listen: [many], subnets: [CIDR("10.57.0.0/16")!])],
            records: Self.records + (0..<60).map { NameRecord(network: "netctl:many", owner: "m/eth0", name: "many", address: IPAddress("10.57.1.\($0)")!) }
                + [NameRecord(network: "netctl:many", owner: "m/eth0", name: "many", address: IPAddress("fd57::1")!)])
        var packets: [[UInt8]] = []
        for name in ["a", "A", "a.netctl", "A.NETCTL", "www", "WWW.netctl", "db.internal", "c", "c.netctl", "nope", "nope.netctl",
                     "netctl", "example.org", "a.example.org", "many", "Many.Netctl", "2.0.55.10.in-addr.arpa", "x.ip6.arpa"] {
            for type in [DNSType.a, DNSType.aaaa, DNSType.any, DNSType.ptr, 15] {
                let plain = Self.query(name, type: type, id: 0xBEEF)
                packets += [plain, Self.edns(plain, size: 512), Self.edns(plain, size: 1232), Self.edns(plain, size: 4096), Self.edns(plain, size: 100)]
                var flagged = plain
                flagged[2] = 0x00 // no recursion desired
                flagged[3] = 0x10 // checking disabled
                packets.append(flagged)
            }
        }
        let root: [UInt8] = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]
        packets.append(root)
        var answered = 0
        for packet in packets {
            for (local, client) in [(Self.gateway, "10.55.0.3"), (Self.gateway, "10.56.0.3"), (many, "10.57.9.9"), (IPAddress("10.99.0.1")!, "10.99.0.2")] {
                for udp in [true, false] {
                    let full = zones.outcome(of: packet, to: local, from: IPAddress(client)!, udp: udp)
                    #expect(Self.written(packet, zones: zones, to: local, from: IPAddress(client)!, udp: udp) == full, "\(packet) \(client) udp \(udp)")
                    if case .answer = full { answered += 1 }
                }
            }
        }
        #expect(answered > packets.count)
        // Too large for UDP: no records, TC set; over TCP, or with room offered, all 60.
        guard case .answer(let truncated) = Self.written(Self.query("many", type: DNSType.a), zones: zones, to: many, from: IPAddress("10.57.0.2")!, udp: true),
              case .answer(let whole) = Self.written(Self.query("many", type: DNSType.a), zones: zones, to: many, from: IPAddress("10.57.0.2")!, udp: false),
              case .answer(let offered) = Self.written(Self.edns(Self.query("many", type: DNSType.a), size: 1232), zones: zones, to: many,
                                                       from: IPAddress("10.57.0.2")!, udp: true) else {
            Issue.record("no answer for many")
            return
        }
        #expect(truncated[2] & 0x02 != 0 && truncated[7] == 0)
        #expect(whole[2] & 0x02 == 0 && whole[7] == 60)
        #expect(offered[2] & 0x02 == 0 && offered[7] == 60)
    }

    static let networks = [NameNetwork(key: "netctl:web", listen: [gateway, IPAddress("fd55::1")!], subnets: [CIDR("10.55.0.0/24")!, CIDR("fd55::/64")!]),
                           NameNetwork(key: "netctl:other", listen: [IPAddress("10.56.0.1")!], subnets: [CIDR("10.56.0.0/24")!])]
    static let records = [NameRecord(network: "netctl:web", owner: "a/eth0", name: "A", address: IPAddress("10.55.0.2")!),
                          NameRecord(network: "netctl:web", owner: "a/eth0", name: "a", address: IPAddress("fd55::2")!),
                          NameRecord(network: "netctl:web", owner: "a/eth0", name: "www", address: IPAddress("10.55.0.2")!),
                          NameRecord(network: "netctl:web", owner: "b/eth0", name: "db.internal", address: IPAddress("10.55.0.4")!),
                          NameRecord(network: "netctl:other", owner: "c/eth0", name: "c", address: IPAddress("10.56.0.2")!)]

    /// `packet` with an OPT record offering `size` bytes.
    static func edns(_ packet: [UInt8], size: UInt16) -> [UInt8] {
        var bytes = packet
        bytes[11] = 1
        return bytes + [0, 0, 41, UInt8(size >> 8), UInt8(size & 0xFF), 0, 0, 0, 0, 0, 0]
    }

    /// The packet path's outcome, its answer copied out of the buffer.
    static func written(_ packet: [UInt8], zones: NameZones = zones, to local: IPAddress = gateway, from client: IPAddress, udp: Bool) -> NameOutcome {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let outcome = packet.withUnsafeBytes { raw in
            buffer.withUnsafeMutableBytes { zones.outcome(of: raw, to: local, from: client, udp: udp, writingInto: $0) }
        }
        switch outcome {
        case .answer(let length): return .answer(Array(buffer[..<length]))
        case .forward: return .forward
        case .drop: return .drop
        }
    }

    static func labels(_ wire: [UInt8]) -> [[UInt8]] {
        var labels: [[UInt8]] = []
        var offset = 0
        while offset < wire.count, wire[offset] != 0 {
            let length = Int(wire[offset])
            labels.append(Array(wire[(offset + 1)...(offset + length)]))
            offset += length + 1
        }
        return labels
    }
}

/// A small deterministic generator: the same mutations on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// resolv.conf as the C library reads it.
struct UpstreamsTests {
    @Test func nameserverLinesAtMostThreeScopesDropped() {
        let text = "# comment\nsearch example.org\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\n nameserver 1.1.1.1\nnameserver bogus\nnameserver 9.9.9.9\nnameserver 8.8.8.8\n"
        #expect(Upstreams.parse(text).map(\.description) == ["10.0.0.53", "fe80::1", "1.1.1.1"])
    }
}

/// The fuzz target's corpus (its seeds, and every crash it found), replayed.
struct FuzzCorpusTests {
    @Test func everyCorpusPacketIsAnsweredDroppedOrForwarded() throws {
        let directory = #filePath.split(separator: "/").dropLast(2).joined(separator: "/") + "/Fuzz/dns/corpus"
        let files = try FileManager.default.contentsOfDirectory(atPath: "/" + directory)
        #expect(files.count >= 9)
        for file in files {
            let packet = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/\(directory)/\(file)")))
            if case .answer(let reply) = NameZonesTests.zones.outcome(of: packet, to: NameZonesTests.gateway, from: IPAddress("10.55.0.3")!, udp: true) {
                #expect(reply.count >= 12 && reply[0] == packet[0] && reply[1] == packet[1], "\(file)")
            }
        }
    }
}
