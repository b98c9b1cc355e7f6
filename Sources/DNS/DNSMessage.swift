/// The record types and codes the resolver speaks.
public enum DNSType {
    public static let a: UInt16 = 1
    public static let ptr: UInt16 = 12
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
    public static let any: UInt16 = 255
}

public enum DNSResponseCode {
    public static let noError: UInt8 = 0
    public static let formatError: UInt8 = 1
    public static let serverFailure: UInt8 = 2
    public static let nameError: UInt8 = 3
    public static let notImplemented: UInt8 = 4
    public static let refused: UInt8 = 5
}

/// Why a packet is no query the resolver answers. A packet too short for a header, or that
/// is itself an answer, gets no answer at all (dropped); the others get FORMERR or NOTIMP.
public enum DNSParseError: Error, Equatable, Sendable {
    case tooShort
    case notAQuery
    case malformed(String)
    case notImplemented(opcode: UInt8)
}

/// One query: the header fields an answer echoes, the one question, and the client's EDNS.
public struct DNSQuery: Sendable, Equatable {
    public var id: UInt16
    /// Recursion desired: echoed in the answer.
    public var recursionDesired: Bool
    /// Checking disabled (RFC 4035): echoed.
    public var checkingDisabled: Bool
    public var name: DNSName
    public var type: UInt16
    public var qclass: UInt16
    /// The client's EDNS0 UDP payload size, when it sent an OPT record.
    public var ednsPayloadSize: UInt16?
    /// The question's bytes as sent (name, type, class), echoed in the answer.
    public var questionBytes: [UInt8]

    /// The largest answer the client takes over UDP (RFC 6891: at least 512).
    public var udpLimit: Int { max(512, Int(ednsPayloadSize ?? 512)) }
}

/// An answer record the resolver makes: A, AAAA (the address's bytes) or PTR (a name).
public struct DNSRecord: Sendable, Equatable {
    public var type: UInt16
    public var ttl: UInt32
    public var data: [UInt8]

    public init(type: UInt16, ttl: UInt32, data: [UInt8]) {
        self.type = type
        self.ttl = ttl
        self.data = data
    }

    public static func address(_ bytes: [UInt8], ttl: UInt32) -> DNSRecord {
        DNSRecord(type: bytes.count == 4 ? DNSType.a : DNSType.aaaa, ttl: ttl, data: bytes)
    }

    public static func pointer(to name: DNSName, ttl: UInt32) -> DNSRecord {
        DNSRecord(type: DNSType.ptr, ttl: ttl, data: name.wire)
    }
}

extension DNSQuery {
    /// Reads a query: a header with one question, and an OPT record among the additional
    /// ones. Every length is checked against the packet; a name may not point forward or loop.
    public init(parsing packet: [UInt8]) throws {
        guard packet.count >= 12 else { throw DNSParseError.tooShort }
        var reader = DNSReader(packet)
        id = try reader.uint16()
        let flags = try reader.uint16()
        guard flags & 0x8000 == 0 else { throw DNSParseError.notAQuery }
        let opcode = UInt8((flags >> 11) & 0x0F)
        recursionDesired = flags & 0x0100 != 0
        checkingDisabled = flags & 0x0010 != 0
        let questions = try reader.uint16(), answers = try reader.uint16()
        let authorities = try reader.uint16(), additionals = try reader.uint16()
        guard opcode == 0 else { throw DNSParseError.notImplemented(opcode: opcode) }
        guard questions == 1 else { throw DNSParseError.malformed("\(questions) questions (one is answered)") }
        let start = reader.offset
        name = try reader.name()
        type = try reader.uint16()
        qclass = try reader.uint16()
        questionBytes = Array(packet[start..<reader.offset])
        ednsPayloadSize = nil
        for _ in 0..<(Int(answers) + Int(authorities)) { _ = try reader.record() }
        for _ in 0..<Int(additionals) {
            let record = try reader.record()
            if record.type == DNSType.opt {
                guard ednsPayloadSize == nil, record.name.labels.isEmpty else { throw DNSParseError.malformed("a second or named OPT record") }
                ednsPayloadSize = record.qclass
            }
        }
    }
}

/// Writes answers.
public enum DNSAnswer {
    /// The UDP payload size the resolver offers in its own OPT record (the DNS flag day's).
    public static let ednsPayloadSize: UInt16 = 1232

    /// An answer to `query`: the question echoed, then `records` (owned by the question's name,
    /// by a pointer to it). Over UDP, an answer larger than the client takes goes without its
    /// records and with TC set, so the client asks again over TCP.
    public static func respond(to query: DNSQuery, code: UInt8, records: [DNSRecord] = [], authoritative: Bool,
                               recursionAvailable: Bool = true, udp: Bool = true) -> [UInt8] {
        var body: [UInt8] = query.questionBytes
        for record in records {
            body += [0xC0, 0x0C] // the question's name, at offset 12
            append(record.type, to: &body)
            append(query.qclass, to: &body)
            append(record.ttl, to: &body)
            append(UInt16(record.data.count), to: &body)
            body += record.data
        }
        let opt: [UInt8] = query.ednsPayloadSize == nil ? [] : [0, 0, 41] + bytes(ednsPayloadSize) + [0, 0, 0, 0, 0, 0]
        var count = records.count
        var truncated = false
        if udp, 12 + body.count + opt.count > query.udpLimit {
            body = query.questionBytes
            count = 0
            truncated = true
        }
        var flags: UInt16 = 0x8000 | UInt16(code & 0x0F)
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if query.recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        if query.checkingDisabled { flags |= 0x0010 }
        var packet = bytes(query.id) + bytes(flags) + bytes(1) + bytes(UInt16(count)) + bytes(0) + bytes(query.ednsPayloadSize == nil ? 0 : 1)
        packet += body
        packet += opt
        return packet
    }

    /// FORMERR or NOTIMP for a packet whose header could be read but not the rest: the header's
    /// ID and opcode back, no question (RFC 1035 4.1.1).
    public static func error(_ code: UInt8, toPacket packet: [UInt8]) -> [UInt8]? {
        guard packet.count >= 12, packet[2] & 0x80 == 0 else { return nil }
        let flags: UInt16 = 0x8000 | UInt16(packet[2] & 0x79) << 8 | 0x0080 | UInt16(code & 0x0F)
        return [packet[0], packet[1]] + bytes(flags) + [0, 0, 0, 0, 0, 0, 0, 0]
    }

    static func bytes(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    static func append(_ value: UInt16, to bytes: inout [UInt8]) { bytes += Self.bytes(value) }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// Reads a packet front to back, every read checked against its end.
struct DNSReader {
    let packet: [UInt8]
    private(set) var offset = 0

    init(_ packet: [UInt8]) {
        self.packet = packet
    }

    mutating func uint8() throws -> UInt8 {
        guard offset < packet.count else { throw DNSParseError.malformed("ends at byte \(offset)") }
        defer { offset += 1 }
        return packet[offset]
    }

    mutating func uint16() throws -> UInt16 {
        UInt16(try uint8()) << 8 | UInt16(try uint8())
    }

    mutating func uint32() throws -> UInt32 {
        UInt32(try uint16()) << 16 | UInt32(try uint16())
    }

    mutating func skip(_ count: Int) throws {
        guard count <= packet.count - offset else { throw DNSParseError.malformed("a field runs past the end at byte \(offset)") }
        offset += count
    }

    /// A name at the current offset, following compression pointers backwards only (a pointer
    /// to where it stands or later would loop).
    mutating func name() throws -> DNSName {
        var labels: [[UInt8]] = []
        var length = 1
        var position = offset
        var resumeAt: Int?
        var lowestPointer = offset
        while true {
            guard position < packet.count else { throw DNSParseError.malformed("a name runs past the end") }
            let byte = packet[position]
            if byte & 0xC0 == 0xC0 {
                guard position + 1 < packet.count else { throw DNSParseError.malformed("a name's pointer runs past the end") }
                let target = Int(byte & 0x3F) << 8 | Int(packet[position + 1])
                guard target < lowestPointer else { throw DNSParseError.malformed("a name's pointer does not point back") }
                lowestPointer = target
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                continue
            }
            guard byte & 0xC0 == 0 else { throw DNSParseError.malformed("a label type 0x\(String(byte >> 6, radix: 16)) is not supported") }
            if byte == 0 {
                position += 1
                break
            }
            let end = position + 1 + Int(byte)
            guard end <= packet.count else { throw DNSParseError.malformed("a label runs past the end") }
            length += 1 + Int(byte)
            guard length <= 255 else { throw DNSParseError.malformed("a name longer than 255 bytes") }
            labels.append(Array(packet[(position + 1)..<end]))
            position = end
        }
        offset = resumeAt ?? position
        return DNSName(labels: labels)
    }

    /// A resource record's name, type, class and data (skipped).
    mutating func record() throws -> (name: DNSName, type: UInt16, qclass: UInt16) {
        let name = try name()
        let type = try uint16(), qclass = try uint16()
        _ = try uint32()
        try skip(Int(try uint16()))
        return (name, type, qclass)
    }
}
