import Synchronization
import Testing
@testable import Netlink

/// What a fake transport saw and what it will answer; shared with the test that made it.
final class Wire: Sendable {
    static let portID: UInt32 = 0x4242

    private let state = Mutex<(sent: [[UInt8]], replies: [[UInt8]])>(([], []))

    /// Every request sent, as bytes.
    var sent: [[UInt8]] { state.withLock { $0.sent } }

    /// Queues datagrams to answer with; when none are queued, each request gets an ACK.
    func queue(_ datagrams: [UInt8]...) {
        state.withLock { $0.replies.append(contentsOf: datagrams) }
    }

    fileprivate func record(_ bytes: [UInt8]) {
        state.withLock { $0.sent.append(bytes) }
    }

    fileprivate func nextReply() -> [UInt8] {
        state.withLock { state in
            if !state.replies.isEmpty { return state.replies.removeFirst() }
            let request = state.sent.last ?? []
            return ack(sequence: sequence(of: request))
        }
    }
}

/// A transport that records requests and replays canned replies.
final class FakeTransport: NetlinkTransport {
    let wire: Wire
    let portID = Wire.portID

    init(_ wire: Wire) { self.wire = wire }

    func send(_ bytes: UnsafeRawBufferPointer) throws { wire.record(Array(bytes)) }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let reply = wire.nextReply()
        buffer.copyBytes(from: reply)
        return reply.count
    }
}

/// A socket over a fake wire whose first sequence number is 1.
func fakeSocket() -> (RouteSocket, Wire) {
    let wire = Wire()
    return (RouteSocket(transport: FakeTransport(wire), firstSequence: 1), wire)
}

/// Runs `body` on a fake socket and returns the one request it sent.
func onlyRequest(_ body: (RouteSocket) throws -> Void) throws -> [UInt8] {
    let (socket, wire) = fakeSocket()
    try body(socket)
    #expect(wire.sent.count == 1)
    return wire.sent.first ?? []
}

// MARK: - Bytes

/// Bytes from hex text; whitespace is ignored and `//` starts a comment to the end of the line.
func hex(_ text: String) -> [UInt8] {
    let digits = text.split(separator: "\n").map { line in
        line.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }.joined().filter(\.isHexDigit)
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex, let next = digits.index(index, offsetBy: 2, limitedBy: digits.endIndex) {
        bytes.append(UInt8(digits[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

func sequence(of request: [UInt8]) -> UInt32 {
    guard request.count >= 12 else { return 0 }
    return request[8..<12].reversed().reduce(0) { $0 << 8 | UInt32($1) }
}

/// One netlink message: header then payload, padded to 4 bytes.
func message(type: UInt16, flags: UInt16 = 0, sequence: UInt32, port: UInt32 = Wire.portID, payload: [UInt8]) -> [UInt8] {
    var bytes = le32(UInt32(16 + payload.count)) + le16(type) + le16(flags) + le32(sequence) + le32(port) + payload
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
}

/// `NLMSG_ERROR` with error 0: the ACK, echoing a capped request header.
func ack(sequence: UInt32) -> [UInt8] {
    error(0, sequence: sequence)
}

/// `NLMSG_ERROR` with `-errno`, optionally with an extended-ACK message (`NLMSGERR_ATTR_MSG`).
func error(_ errno: Int32, sequence: UInt32, kernelMessage: String? = nil) -> [UInt8] {
    let echoedHeader = le32(16) + le16(0) + le16(0) + le32(sequence) + le32(0)
    var payload = le32(UInt32(bitPattern: -errno)) + echoedHeader
    var flags: UInt16 = 0x100 // NLM_F_CAPPED
    if let kernelMessage {
        flags |= 0x200 // NLM_F_ACK_TLVS
        payload += attribute(1, Array(kernelMessage.utf8) + [0])
    }
    return message(type: 2, flags: flags, sequence: sequence, payload: payload)
}

/// One attribute, padded.
func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
    var bytes = le16(UInt16(4 + value.count)) + le16(type) + value
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
}

/// An `RTM_NEWLINK` reply for link `index` named `name`.
func linkReply(index: Int32, name: String, sequence: UInt32, flags: UInt16 = 0, mtu: UInt32 = 1500, kind: String? = nil) -> [UInt8] {
    var payload = [0, 0] + le16(1) + le32(UInt32(bitPattern: index)) + le32(0x1043) + le32(0)
    payload += attribute(3, Array(name.utf8) + [0])     // IFLA_IFNAME
    payload += attribute(4, le32(mtu))                  // IFLA_MTU
    payload += attribute(1, [2, 0, 0, 0, 0, UInt8(truncatingIfNeeded: index)]) // IFLA_ADDRESS
    if let kind {
        payload += attribute(18, attribute(1, Array(kind.utf8) + [0])) // IFLA_LINKINFO { IFLA_INFO_KIND }
    }
    return message(type: 16, flags: flags, sequence: sequence, payload: payload)
}

/// `NLMSG_DONE` ending a dump.
func done(sequence: UInt32) -> [UInt8] {
    message(type: 3, flags: 2, sequence: sequence, payload: le32(0))
}
