import NetCore

/// One UDP client of a listener: a socket connected to the target that carries this client's
/// datagrams, and whose replies go back to the client from the listening socket.
final class UDPFlow {
    let descriptor: Int32
    let key: FlowKey
    let client: SocketAddress
    /// On a wildcard listener, the local address the client sent to, which the replies leave
    /// from; `nil` when the kernel picks (a listener bound to one address answers from it).
    let localAddress: SocketAddress?
    unowned let listener: UDPListener
    /// `CLOCK_MONOTONIC` nanoseconds of the last datagram either way; idle flows expire.
    var lastActivity: UInt64

    init(descriptor: Int32, key: FlowKey, client: SocketAddress, localAddress: SocketAddress?,
         listener: UDPListener, now: UInt64) {
        self.descriptor = descriptor
        self.key = key
        self.client = client
        self.localAddress = localAddress
        self.listener = listener
        lastActivity = now
    }
}
