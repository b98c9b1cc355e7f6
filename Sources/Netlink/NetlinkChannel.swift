import NetCore
import Synchronization

/// The request/reply cycle over one netlink socket, shared by ``RouteSocket`` and
/// ``ConntrackSocket``. Requests are serialized; each gets its own sequence number and its
/// reply is matched by it.
final class NetlinkChannel: Sendable {
    /// Attempts at a dump that the kernel keeps marking `NLM_F_DUMP_INTR`.
    static let dumpAttempts = 10
    /// Large enough for one datagram of any dump the kernel sends.
    static let receiveBufferSize = 65536

    private let connection: Mutex<Connection>

    /// The transport and the state of the request/reply cycle; only used under the mutex.
    private final class Connection {
        let transport: any NetlinkTransport
        var nextSequence: UInt32
        let buffer: UnsafeMutableRawBufferPointer

        init(transport: any NetlinkTransport, firstSequence: UInt32) {
            self.transport = transport
            nextSequence = firstSequence
            buffer = .allocate(byteCount: NetlinkChannel.receiveBufferSize, alignment: 8)
        }

        deinit { buffer.deallocate() }
    }

    init(transport: sending any NetlinkTransport, firstSequence: UInt32) {
        connection = Mutex(Connection(transport: transport, firstSequence: firstSequence))
    }

    /// The transport's kernel socket, if it has one.
    var descriptor: Int32? { connection.withLock { $0.transport.descriptor } }

    /// Sends a request that asks for an ACK and returns the messages that came before it.
    func request(_ message: MessageBuilder, operation: String) throws -> [ReplyMessage] {
        precondition(!message.flags.contains(.dump), "dumps go through dump(operation:_:)")
        return try exchange(message, operation: operation).messages
    }

    /// Runs a dump, starting over while the kernel marks it interrupted.
    ///
    /// - Parameter makeRequest: builds the request afresh for each attempt.
    func dump(operation: String, _ makeRequest: () throws -> MessageBuilder) throws -> [ReplyMessage] {
        for _ in 0..<Self.dumpAttempts {
            let reply = try exchange(try makeRequest(), operation: operation)
            if !reply.interrupted { return reply.messages }
        }
        throw NetlinkError(errno: .interrupted, kernelMessage: "dump kept changing while it was read", operation: operation)
    }

    private func exchange(_ message: MessageBuilder, operation: String) throws -> ReplyCollector {
        try FaultInjection.check(.netlink)
        // A plain copy crosses into the lock; the sequence number is patched in there.
        var request = Array(message.bytes)
        return try connection.withLock { connection in
            let sequence = connection.nextSequence
            connection.nextSequence &+= 1
            withUnsafeBytes(of: sequence) { request.replaceSubrange(8..<12, with: $0) }
            try request.withUnsafeBytes { try connection.transport.send($0) }
            var reply = ReplyCollector(sequence: sequence, portID: connection.transport.portID, operation: operation)
            while !reply.isComplete {
                let count = try connection.transport.receive(into: connection.buffer)
                let datagram = Array(UnsafeRawBufferPointer(rebasing: connection.buffer[0..<count]))
                try reply.consume(datagram[...])
            }
            return reply
        }
    }
}
