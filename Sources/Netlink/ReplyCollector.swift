import NetCore

/// One message of a reply: its type, flags and the bytes after `struct nlmsghdr`.
struct ReplyMessage: Sendable {
    let type: MessageType
    let flags: MessageFlags
    let payload: ArraySlice<UInt8>
}

/// Gathers the reply to one request from the datagrams the socket reads, and decides when it
/// is complete. Pure, so canned replies can be fed to it in tests.
///
/// - Messages whose sequence number or port is not the request's are stale (left over from an
///   earlier request that failed half-way) and are skipped.
/// - An `NLMSG_ERROR` with error 0 is the ACK that ends a plain request; a non-zero one throws
///   ``NetlinkError`` with the errno and the kernel's extended-ACK message.
/// - `NLMSG_DONE` ends a dump; a dump with `NLM_F_DUMP_INTR` on any part is marked interrupted.
struct ReplyCollector {
    static let headerSize = 16

    let sequence: UInt32
    let portID: UInt32
    let operation: String
    private(set) var messages: [ReplyMessage] = []
    private(set) var interrupted = false
    private(set) var isComplete = false

    init(sequence: UInt32, portID: UInt32, operation: String) {
        self.sequence = sequence
        self.portID = portID
        self.operation = operation
    }

    /// Takes one datagram.
    ///
    /// - Throws: ``NetlinkError`` for a kernel error; `EPROTO` for a malformed datagram.
    mutating func consume(_ datagram: ArraySlice<UInt8>) throws {
        var offset = datagram.startIndex
        while !isComplete, offset + Self.headerSize <= datagram.endIndex {
            let length = Int(datagram.readUInt32(at: offset))
            guard length >= Self.headerSize, offset + length <= datagram.endIndex else {
                throw NetlinkError(errno: .protocolError, kernelMessage: "truncated netlink message", operation: operation)
            }
            let type = MessageType(rawValue: datagram.readUInt16(at: offset + 4))
            let flags = MessageFlags(rawValue: datagram.readUInt16(at: offset + 6))
            let messageSequence = datagram.readUInt32(at: offset + 8)
            let messagePort = datagram.readUInt32(at: offset + 12)
            let payload = datagram[(offset + Self.headerSize)..<(offset + length)]
            offset += (length + 3) & ~3

            guard messageSequence == sequence, messagePort == portID else { continue }
            if flags.contains(.dumpInterrupted) { interrupted = true }
            switch type {
            case .noop:
                continue
            case .error:
                try finish(error: payload, flags: flags)
            case .done:
                let status = payload.count >= 4 ? Int32(bitPattern: payload.readUInt32(at: payload.startIndex)) : 0
                if status < 0 {
                    throw NetlinkError(errno: Self.errno(status), kernelMessage: nil, operation: operation)
                }
                isComplete = true
            case .overrun:
                throw NetlinkError(errno: .noBufferSpace, kernelMessage: "netlink overrun", operation: operation)
            default:
                messages.append(ReplyMessage(type: type, flags: flags, payload: payload))
            }
        }
    }

    /// Reads `struct nlmsgerr` and its extended-ACK attributes.
    private mutating func finish(error payload: ArraySlice<UInt8>, flags: MessageFlags) throws {
        guard payload.count >= 4 else {
            throw NetlinkError(errno: .protocolError, kernelMessage: "short NLMSG_ERROR", operation: operation)
        }
        let status = Int32(bitPattern: payload.readUInt32(at: payload.startIndex))
        if status == 0 {
            isComplete = true
            return
        }
        var kernelMessage: String?
        let echoed = payload.startIndex + 4
        if flags.contains(.acknowledgeTLVs), echoed + Self.headerSize <= payload.endIndex {
            // The attributes follow the echoed request: its header alone when capped.
            let echoedLength = flags.contains(.capped) ? Self.headerSize : Int(payload.readUInt32(at: echoed))
            let start = echoed + ((echoedLength + 3) & ~3)
            if start <= payload.endIndex {
                kernelMessage = Attributes(payload[start...]).string(ExtendedAckAttribute.message)
            }
        }
        throw NetlinkError(errno: Self.errno(status), kernelMessage: kernelMessage, operation: operation)
    }

    /// The errno a negative status carries; EPROTO for one no kernel sends (`Int32.min` has no
    /// positive counterpart).
    static func errno(_ status: Int32) -> Errno {
        status == .min ? .protocolError : Errno(rawValue: -status)
    }
}
