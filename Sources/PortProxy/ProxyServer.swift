#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore
import ProxyClient

/// The forwarding engine of one proxy process: every listener of every rule, served by one
/// thread with one epoll loop, so a published range costs descriptors, not processes.
///
/// TCP sockets are edge-triggered and relayed with `splice`; listeners and UDP sockets are
/// level-triggered and served a bounded batch per wake-up, so no port can starve another.
/// The server is confined to the thread that runs it.
public final class ProxyServer {
    /// What a registered descriptor is, looked up by descriptor number on every event.
    enum Source {
        case tcpListener(TCPListener)
        case tcpConnection(TCPConnection, TCPConnection.Side)
        case udpListener(UDPListener)
        case udpFlow(UDPFlow)
        case signals
    }

    let configuration: ProxyConfiguration
    let poller: Poller
    let pipes: PipePool
    /// Indexed by descriptor number.
    private var sources: [Source?] = []
    /// Bumped each time a descriptor number is registered, and carried in the event token, so
    /// an event queued for a closed descriptor is not delivered to its reuse.
    private var generations: [UInt32] = []
    var tcpListeners: [TCPListener] = []
    var udpListeners: [UDPListener] = []
    /// Connections that ran out of budget and continue after the current batch of events.
    var deferred: [TCPConnection] = []
    var flowCount = 0
    var nextSweep: UInt64 = 0
    /// Scratch space for UDP datagrams.
    let datagrams = DatagramBatch()
    /// A descriptor held in reserve: at the descriptor limit it is closed to accept and drop
    /// one pending connection, so a full backlog does not spin the level-triggered listener.
    var spare: Int32
    private var signalDescriptor: Int32 = -1
    private var isRunning = false

    /// Binds a listener for every rule, or none: on a failure the ones already bound are closed.
    ///
    /// - Throws: ``NetworkError`` naming the first listener that failed, as `address:port/proto`.
    public init(rules: [ForwardRule], configuration: ProxyConfiguration = ProxyConfiguration()) throws {
        guard !rules.isEmpty else {
            throw NetworkError(code: .invalidArgument, message: "no forward rules given")
        }
        var seen = Set<String>()
        for rule in rules where !seen.insert(rule.listenDescription).inserted {
            throw NetworkError.invalid("forward rule", rule.description, "\(rule.listenDescription) is listed twice")
        }
        self.configuration = configuration
        poller = try Poller()
        pipes = PipePool(maxSize: configuration.pipeSize)
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
        // deinit closes whatever was bound when a later rule fails.
        for rule in rules {
            let fd = try Socket.listener(for: rule)
            switch rule.transport {
            case .tcp:
                let listener = TCPListener(descriptor: fd, rule: rule)
                tcpListeners.append(listener)
                try register(fd, .tcpListener(listener), interest: .readable)
            case .udp:
                let listener = UDPListener(descriptor: fd, rule: rule)
                udpListeners.append(listener)
                try register(fd, .udpListener(listener), interest: .readable)
            case .sctp:
                throw ForwardRule.sctpUnsupported
            }
        }
    }

    deinit {
        for case let source? in sources {
            if case .tcpConnection(let connection, _) = source, connection.state != .closed {
                closeConnection(connection)
            }
        }
        for listener in tcpListeners { close(listener.descriptor) }
        for listener in udpListeners {
            for flow in listener.flows.values { close(flow.descriptor) }
            close(listener.descriptor)
        }
        if signalDescriptor >= 0 { close(signalDescriptor) }
        if spare >= 0 { close(spare) }
    }

    /// The addresses the server listens on, as `address:port/proto`.
    public var listenDescriptions: [String] {
        tcpListeners.map(\.rule.listenDescription) + udpListeners.map(\.rule.listenDescription)
    }

    /// Makes `SIGTERM` and `SIGINT` end ``run()`` cleanly instead of killing the process, and
    /// ignores `SIGPIPE`, which a splice into a reset socket would otherwise raise.
    ///
    /// Call it on the thread that will call ``run()``, before other threads start: it changes
    /// that thread's signal mask.
    public func handleTerminationSignals() throws {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        let status = pthread_sigmask(SIG_BLOCK, &set, nil)
        guard status == 0 else { throw SystemCallError(Errno(rawValue: status), call: "pthread_sigmask", subject: "") }
        signalDescriptor = try systemCall("signalfd") { signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }
        try register(signalDescriptor, .signals, interest: .readable)
    }

    /// Serves until a termination signal arrives (see ``handleTerminationSignals()``).
    ///
    /// - Throws: ``SystemCallError`` when epoll itself fails; connection errors only close
    ///   the connection.
    public func run() throws {
        isRunning = true
        while isRunning {
            try poller.wait(timeout: waitTimeout()) { token, events in
                dispatch(token: token, events: events)
            }
            resumeDeferred()
            if flowCount > 0, monotonicNow() >= nextSweep {
                expireFlows()
            }
        }
    }

    /// How long the loop may sleep: not at all with deferred work, until the next expiry sweep
    /// with UDP flows, otherwise until an event.
    private func waitTimeout() -> Int32 {
        if !deferred.isEmpty { return 0 }
        guard flowCount > 0 else { return -1 }
        let now = monotonicNow()
        guard nextSweep > now else { return 0 }
        return Int32(clamping: (nextSweep - now + 999_999) / 1_000_000)
    }

    private func dispatch(token: UInt64, events: Interest) {
        let fd = Int(UInt32(truncatingIfNeeded: token))
        guard fd < sources.count, generations[fd] == UInt32(truncatingIfNeeded: token >> 32),
              let source = sources[fd] else { return }
        switch source {
        case .tcpListener(let listener):
            acceptConnections(on: listener)
        case .tcpConnection(let connection, let side):
            handle(events, on: side, of: connection)
        case .udpListener(let listener):
            receiveFromClients(on: listener)
        case .udpFlow(let flow):
            receiveReplies(on: flow)
        case .signals:
            var info = signalfd_siginfo()
            _ = read(Int32(fd), &info, MemoryLayout<signalfd_siginfo>.size)
            isRunning = false
        }
    }

    /// Watches `fd` and records what it is.
    func register(_ fd: Int32, _ source: Source, interest: Interest) throws {
        let index = Int(fd)
        if index >= sources.count {
            let count = max(index + 1, sources.count * 2, 64)
            sources += Array(repeating: nil, count: count - sources.count)
            generations += Array(repeating: 0, count: count - generations.count)
        }
        generations[index] &+= 1
        try poller.add(fd, interest: interest, token: token(for: fd))
        sources[index] = source
    }

    /// The epoll token of a registered descriptor: its generation and number.
    func token(for fd: Int32) -> UInt64 {
        UInt64(generations[Int(fd)]) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Closes `fd` (which also removes it from epoll) and forgets what it was.
    func discard(_ fd: Int32) {
        if Int(fd) < sources.count { sources[Int(fd)] = nil }
        close(fd)
    }
}
