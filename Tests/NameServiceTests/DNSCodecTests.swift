import DNS
import Testing

/// The codec on exact bytes: what a client sends, what the resolver answers.
struct DNSCodecTests {
    /// `web.netctl` type A, ID 0x1234, recursion desired: as `dig` or a C library sends it.
    static let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        + [3] + Array("web".utf8) + [6] + Array("netctl".utf8) + [0, 0x00, 0x01, 0x00, 0x01]

    /// The same with an OPT record offering 4096 bytes (EDNS0).
    static let ednsQuery: [UInt8] = {
        var bytes = query
        bytes[11] = 1
        return bytes + [0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
    }()

    @Test func aQueryIsReadFieldByField() throws {
        let parsed = try DNSQuery(parsing: Self.query)
        #expect(parsed.id == 0x1234)
        #expect(parsed.recursionDesired)
        #expect(!parsed.checkingDisabled)
        #expect(parsed.name.description == "web.netctl")
        #expect(parsed.name == DNSName("WEB.Netctl."))
        #expect(parsed.type == DNSType.a && parsed.qclass == 1)
        #expect(parsed.ednsPayloadSize == nil && parsed.udpLimit == 512)
        #expect(parsed.questionBytes == Array(Self.query[12...]))
        #expect(try DNSQuery(parsing: Self.ednsQuery).ednsPayloadSize == 4096)
    }

    @Test func anAnswerPointsAtTheQuestionsName() throws {
        let answer = DNSAnswer.respond(to: try DNSQuery(parsing: Self.query), code: DNSResponseCode.noError,
                                       records: [.address([10, 55, 0, 2], ttl: 5)], authoritative: true)
        let header: [UInt8] = [0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]
        let record: [UInt8] = [0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x04, 10, 55, 0, 2]
        #expect(answer == header + Array(Self.query[12...]) + record)
    }

    @Test func anEDNSQueryGetsTheResolversOPTBack() throws {
        let answer = DNSAnswer.respond(to: try DNSQuery(parsing: Self.ednsQuery), code: DNSResponseCode.nameError, authoritative: true)
        let header: [UInt8] = [0x12, 0x34, 0x85, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]
        let opt: [UInt8] = [0x00, 0x00, 0x29, 0x04, 0xD0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        #expect(answer == header + Array(Self.query[12...]) + opt)
    }

    @Test func aPointerRecordCarriesTheWholeName() throws {
        var reverse: [UInt8] = [0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        for label in ["2", "0", "55", "10", "in-addr", "arpa"] { reverse += [UInt8(label.utf8.count)] + Array(label.utf8) }
        reverse += [0, 0x00, 0x0C, 0x00, 0x01]
        let name = try #require(DNSName("a.netctl"))
        let answer = DNSAnswer.respond(to: try DNSQuery(parsing: reverse), code: DNSResponseCode.noError,
                                       records: [.pointer(to: name, ttl: 5)], authoritative: true)
        let data: [UInt8] = [1, 0x61, 6] + Array("netctl".utf8) + [0]
        #expect(Array(answer.suffix(12 + data.count)) == [0xC0, 0x0C, 0x00, 0x0C, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, UInt8(data.count)] + data)
    }

    @Test func anAnswerTooLargeForUDPIsTruncatedAndWholeOverTCP() throws {
        let query = try DNSQuery(parsing: Self.query)
        let records = (0..<40).map { DNSRecord.address([0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, UInt8($0)], ttl: 5) }
        let udp = DNSAnswer.respond(to: query, code: DNSResponseCode.noError, records: records, authoritative: true)
        #expect(udp.count <= 512)
        #expect(udp[2] & 0x02 != 0, "TC set")
        #expect(udp[6] == 0 && udp[7] == 0, "no answers")
        let tcp = DNSAnswer.respond(to: query, code: DNSResponseCode.noError, records: records, authoritative: true, udp: false)
        #expect(tcp[2] & 0x02 == 0 && tcp[7] == 40)
        #expect(tcp.count == Self.query.count + 40 * (12 + 16))
    }

    @Test func whatIsNoQueryIsRefusedAsTheRFCsSay() throws {
        #expect(throws: DNSParseError.tooShort) { try DNSQuery(parsing: [0x12, 0x34, 0x01]) }
        var answer = Self.query
        answer[2] |= 0x80
        #expect(throws: DNSParseError.notAQuery) { try DNSQuery(parsing: answer) }
        var status = Self.query
        status[2] = 0x10 // opcode 2, STATUS
        #expect(throws: DNSParseError.notImplemented(opcode: 2)) { try DNSQuery(parsing: status) }
        #expect(DNSAnswer.error(DNSResponseCode.notImplemented, toPacket: status) == [0x12, 0x34, 0x90, 0x84, 0, 0, 0, 0, 0, 0, 0, 0])
        var two = Self.query
        two[5] = 2
        #expect(throws: DNSParseError.self) { try DNSQuery(parsing: two) }
    }

    @Test func namesMayNotLoopRunPastTheEndOrGrowPast255Bytes() {
        let header: [UInt8] = [0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        // A pointer to itself, a pointer forward, a label past the end, a bad label type.
        for name: [UInt8] in [[0xC0, 0x0C], [0xC0, 0x20], [0x05, 0x61], [0x80, 0x61, 0x00], [0x01]] {
            #expect(throws: DNSParseError.self, "\(name)") { try DNSQuery(parsing: header + name + [0, 1, 0, 1]) }
        }
        let long: [UInt8] = (0..<5).flatMap { _ -> [UInt8] in [63] + [UInt8](repeating: 0x61, count: 63) } + [0]
        #expect(throws: DNSParseError.self) { try DNSQuery(parsing: header + long + [0, 1, 0, 1]) }
        #expect(DNSName(String(repeating: "a", count: 64)) == nil)
        #expect(DNSName("a..b") == nil)
    }
}
