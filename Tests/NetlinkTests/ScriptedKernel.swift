import Synchronization
@testable import Netlink

/// A fake kernel behind a socket: it keeps the links that requests make and delete, answers
/// `RTM_GETLINK` from them, ACKs everything else, and can refuse the N-th request (`EPERM`),
/// so tests see both the exact requests of an operation and what a failure at each step leaves.
final class ScriptedKernel: NetlinkTransport, Sendable {
    struct State {
        var links: [String: (index: Int32, kind: String?)] = [:]
        var nextIndex: Int32 = 10
        var requests: [(type: UInt16, name: String?)] = []
        var failAt: Int?
        var pending: [UInt8] = []
    }

    let state = Mutex(State())
    let portID = Wire.portID
    var descriptor: Int32? { nil }
    /// Where a link created with `IFLA_NET_NS_FD` appears: the kernel of the other namespace.
    let otherNamespace: ScriptedKernel?

    init(links: [String: String?] = [:], failAt: Int? = nil, otherNamespace: ScriptedKernel? = nil) {
        self.otherNamespace = otherNamespace
        state.withLock { state in
            for (name, kind) in links.sorted(by: { $0.key < $1.key }) {
                state.links[name] = (state.nextIndex, kind)
                state.nextIndex += 1
            }
            state.failAt = failAt
        }
    }

    /// The links there are now, by name.
    var linkNames: Set<String> { state.withLock { Set($0.links.keys) } }
    /// Each request's message type and the link name it carried (`IFLA_IFNAME`).
    var requests: [(type: UInt16, name: String?)] { state.withLock { $0.requests } }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        let request = Array(bytes)
        let type = UInt16(request[4]) | UInt16(request[5]) << 8
        let number = sequence(of: request)
        let index = request.count >= 24 ? Int32(bitPattern: UInt32(request[20]) | UInt32(request[21]) << 8 | UInt32(request[22]) << 16 | UInt32(request[23]) << 24) : 0
        let attributes = Self.attributes(Array(request.dropFirst(32)))
        let name = attributes[3].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let kind = attributes[18].flatMap { Self.attributes($0)[1] }.map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        state.withLock { state in
            state.requests.append((type, name))
            if state.requests.count == state.failAt {
                state.pending = error(1, sequence: number) // EPERM
                return
            }
            let known = name.flatMap { state.links[$0] }.map { (name ?? "", $0) }
                ?? state.links.first(where: { $0.value.index == index && index != 0 }).map { ($0.key, $0.value) }
            switch type {
            case 16: // RTM_NEWLINK
                if let name, let otherNamespace, attributes[28] != nil { // IFLA_NET_NS_FD
                    otherNamespace.state.withLock { $0.links[name] = ($0.nextIndex, kind); $0.nextIndex += 1 }
                } else if let name {
                    state.links[name] = (state.nextIndex, kind)
                    state.nextIndex += 1
                }
                state.pending = ack(sequence: number)
            case 17: // RTM_DELLINK
                if let known { state.links[known.0] = nil }
                state.pending = known == nil ? error(19, sequence: number) : ack(sequence: number) // ENODEV
            case 18: // RTM_GETLINK
                guard let known else { state.pending = error(19, sequence: number); return }
                state.pending = linkReply(index: known.1.index, name: known.0, sequence: number, kind: known.1.kind) + ack(sequence: number)
            case 22: // RTM_GETADDR: a dump with nothing in it
                state.pending = done(sequence: number)
            case 26: // RTM_GETROUTE: a dump with nothing in it
                state.pending = done(sequence: number)
            default:
                state.pending = ack(sequence: number)
            }
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let reply = state.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
        buffer.copyBytes(from: reply)
        return reply.count
    }

    /// The top-level attributes of `bytes`, by type (the nested flag masked off).
    static func attributes(_ bytes: [UInt8]) -> [UInt16: [UInt8]] {
        var result: [UInt16: [UInt8]] = [:]
        var offset = 0
        while offset + 4 <= bytes.count {
            let length = Int(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
            let type = (UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8) & 0x3FFF
            guard length >= 4, offset + length <= bytes.count else { break }
            result[type] = Array(bytes[(offset + 4)..<(offset + length)])
            offset += (length + 3) & ~3
        }
        return result
    }
}
