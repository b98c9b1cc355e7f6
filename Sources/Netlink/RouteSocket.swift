import Namespaces
import NetCore

/// An rtnetlink socket with typed operations on links, addresses and routes.
///
/// Open it in the namespace to work on (``open(in:)``) and then use it from any thread:
/// the socket stays bound to the namespace it was opened in, so no thread ever has to switch.
public final class RouteSocket: Sendable {
    static let dumpAttempts = NetlinkChannel.dumpAttempts

    private let channel: NetlinkChannel

    /// Uses `transport`; tests pass a fake and a fixed first sequence number.
    public init(transport: sending any NetlinkTransport, firstSequence: UInt32 = UInt32.random(in: 1...UInt32.max / 2)) {
        channel = NetlinkChannel(transport: transport, firstSequence: firstSequence)
    }

    /// Opens a socket in the calling thread's network namespace.
    public static func open() throws -> RouteSocket {
        RouteSocket(transport: try MnlTransport(protocol: .route))
    }

    /// Opens a socket inside `namespace` (on a throwaway thread) for use from anywhere.
    public static func open(in namespace: NetNamespace) throws -> RouteSocket {
        let transport = try namespace.run { try MnlTransport(protocol: .route) }
        return RouteSocket(transport: transport)
    }

    /// Opens a socket inside `namespace` from the calling thread, which is in `home` and goes
    /// back there (see ``NetNamespace/runOnCallingThread(returningTo:_:)``).
    public static func open(in namespace: NetNamespace, returningTo home: NetNamespace) throws -> RouteSocket {
        let transport = try namespace.runOnCallingThread(returningTo: home) { try MnlTransport(protocol: .route) }
        PhaseTrace.mark("container socket opened")
        return RouteSocket(transport: transport)
    }

    /// The kernel socket, `nil` for a fake transport.
    var descriptor: Int32? { channel.descriptor }

    func request(_ message: MessageBuilder, operation: String) throws -> [ReplyMessage] {
        try channel.request(message, operation: operation)
    }

    func dump(operation: String, _ makeRequest: () throws -> MessageBuilder) throws -> [ReplyMessage] {
        try channel.dump(operation: operation, makeRequest)
    }
}
