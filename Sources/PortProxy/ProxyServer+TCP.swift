#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

extension ProxyServer {
    /// Connections accepted per wake-up of one listener, so a connection storm on one port
    /// does not starve the others.
    static let acceptBatch = 64
    /// Bytes one direction may move per turn before other connections get theirs.
    static let relayBudget = 4 << 20

    /// Accepts pending clients and starts a non-blocking connect to the target for each.
    func acceptConnections(on listener: TCPListener) {
        for _ in 0..<Self.acceptBatch {
            let client = cportproxy_accept(listener.descriptor, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE:
                    dropOneClient(of: listener)
                    return
                default:
                    return
                }
            }
            startConnection(client, for: listener)
        }
    }

    /// At the descriptor limit: frees the spare descriptor to accept one client and close it
    /// at once, so the client learns promptly and the listener stops reporting it.
    private func dropOneClient(of listener: TCPListener) {
        guard spare >= 0 else { return }
        close(spare)
        let client = cportproxy_accept(listener.descriptor, nil, nil)
        if client >= 0 { close(client) }
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Opens the socket to the target for a new client and starts connecting it.
    private func startConnection(_ client: Int32, for listener: TCPListener) {
        let target = socket(Int32(listener.target.family),
                            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard target >= 0 else {
            close(client)
            return
        }
        // A proxy must not hold back small writes: the endpoints already chose their pacing.
        // (The client socket inherits TCP_NODELAY from the listener.)
        var on: Int32 = 1
        setsockopt(target, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        let result = listener.target.withSockaddr { connect(target, $0, $1) }
        guard result == 0 || errno == EINPROGRESS else {
            close(target)
            close(client)
            return
        }
        let connection = TCPConnection(client: client, target: target)
        do {
            try register(target, .tcpConnection(connection, .target), interest: Self.relayInterest)
        } catch {
            discard(target)
            close(client)
            connection.state = .closed
            return
        }
        if result == 0 {
            establish(connection, targetReadable: false)
        }
    }

    /// Edge-triggered readiness both ways, plus the peer's half-close.
    static let relayInterest: Interest = [.readable, .writable, .peerClosed, .edgeTriggered]

    func handle(_ events: Interest, on side: TCPConnection.Side, of connection: TCPConnection) {
        switch connection.state {
        case .closed:
            return
        case .connecting:
            // The first writable (or error) report on the target ends the connect.
            guard side == .target, !events.isDisjoint(with: [.writable, .error, .hangup]) else { return }
            // A failed connect always reports EPOLLERR; without it the connect succeeded.
            if !events.isDisjoint(with: [.error, .hangup]) {
                closeConnection(connection)
            } else {
                establish(connection, targetReadable: !events.isDisjoint(with: [.readable, .peerClosed]))
            }
        case .relaying:
            // Readable (or closed, or failed): pump what this socket sends. Writable: pump what
            // it receives, but only if bytes are waiting for it; otherwise the edge means nothing.
            let failed = !events.isDisjoint(with: [.error, .hangup])
            let incoming = failed || !events.isDisjoint(with: [.readable, .peerClosed])
            let outgoing = failed || events.contains(.writable)
            var upstream = Relay.Outcome.waiting
            var downstream = Relay.Outcome.waiting
            switch side {
            case .client:
                if incoming { upstream = pumpUpstream(connection) }
                if outgoing && (failed || connection.downstream.pending > 0) { downstream = pumpDownstream(connection) }
            case .target:
                if incoming { downstream = pumpDownstream(connection) }
                if outgoing && (failed || connection.upstream.pending > 0) { upstream = pumpUpstream(connection) }
            }
            settle(connection, upstream, downstream)
        }
    }

    /// The connect finished: watch the client too. Adding it to epoll reports at once whatever
    /// the client already sent, so only a target that spoke first needs pumping here.
    private func establish(_ connection: TCPConnection, targetReadable: Bool) {
        connection.state = .relaying
        do {
            try register(connection.client, .tcpConnection(connection, .client), interest: Self.relayInterest)
        } catch {
            close(connection.client)
            discard(connection.target)
            connection.state = .closed
            return
        }
        if targetReadable {
            settle(connection, .waiting, pumpDownstream(connection))
        }
    }

    private func pumpUpstream(_ connection: TCPConnection) -> Relay.Outcome {
        connection.upstream.pump(from: connection.client, to: connection.target, pipes: pipes, budget: Self.relayBudget)
    }

    private func pumpDownstream(_ connection: TCPConnection) -> Relay.Outcome {
        connection.downstream.pump(from: connection.target, to: connection.client, pipes: pipes, budget: Self.relayBudget)
    }

    /// Closes a failed or finished connection, or queues one that has more to move.
    private func settle(_ connection: TCPConnection, _ upstream: Relay.Outcome, _ downstream: Relay.Outcome) {
        if upstream == .failed || downstream == .failed || connection.isFinished {
            closeConnection(connection)
        } else if (upstream == .yielded || downstream == .yielded) && !connection.isDeferred {
            connection.isDeferred = true
            deferred.append(connection)
        }
    }

    /// Gives each connection that yielded another turn in both directions.
    func resumeDeferred() {
        guard !deferred.isEmpty else { return }
        let queue = deferred
        deferred.removeAll(keepingCapacity: true)
        for connection in queue where connection.state == .relaying {
            connection.isDeferred = false
            settle(connection, pumpUpstream(connection), pumpDownstream(connection))
        }
    }

    /// Closes both sockets and returns pipes that are empty to the pool.
    func closeConnection(_ connection: TCPConnection) {
        guard connection.state != .closed else { return }
        if connection.state == .relaying {
            discard(connection.client)
        } else {
            close(connection.client)
        }
        discard(connection.target)
        connection.state = .closed
        for relay in [connection.upstream, connection.downstream] {
            if let pipe = relay.pipe { pipes.recycle(pipe, empty: relay.pending == 0) }
        }
        connection.upstream.pipe = nil
        connection.downstream.pipe = nil
    }
}
