/// One proxied TCP connection: the accepted client socket, the socket to the target, and a
/// relay per direction that moves bytes with `splice` through a pipe, never through user memory.
final class TCPConnection {
    /// Which socket of the connection an event is about.
    enum Side {
        case client, target
    }

    enum State {
        /// The non-blocking connect to the target has not finished; only the target is watched.
        case connecting
        case relaying
        case closed
    }

    let client: Int32
    let target: Int32
    var state = State.connecting
    /// Client to target.
    var upstream = Relay()
    /// Target to client.
    var downstream = Relay()
    /// Queued to continue after the current batch of events (see ``Relay/Outcome/yielded``).
    var isDeferred = false

    init(client: Int32, target: Int32) {
        self.client = client
        self.target = target
    }

    /// Both directions have delivered their end of stream.
    var isFinished: Bool { upstream.isShutDown && downstream.isShutDown }
}
