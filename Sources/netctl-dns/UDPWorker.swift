#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NameService
import NetCore
import ProxyClient
import Synchronization

/// A UDP socket the workers answer on: the descriptor and the listen address it is bound to.
struct WorkerSocket: Sendable, Equatable {
    let descriptor: Int32
    let local: IPAddress
}

/// What the workers and the TCP connections answer from, made by the loop and swapped whole.
final class ServingState: Sendable {
    let zones: NameZones
    /// resolv.conf's servers, less the resolver's own addresses (a loop).
    let upstreams: [IPAddress]
    /// The UDP socket on each listen address.
    let sockets: [WorkerSocket]

    init(zones: NameZones, upstreams: [IPAddress], sockets: [WorkerSocket]) {
        self.zones = zones
        self.upstreams = upstreams
        self.sockets = sockets
    }
}

/// The current ``ServingState``, and a version that changes with it: a worker looks at the
/// version (one atomic load) before each batch and takes the lock only when it moved.
final class SharedState: Sendable {
    private let state: Mutex<ServingState>
    private let version = Atomic<Int>(0)
    /// TCP connections served now (each holds a thread).
    let connections = Atomic<Int>(0)

    init(_ initial: ServingState) {
        state = Mutex(initial)
    }

    var current: ServingState { state.withLock { $0 } }

    var currentVersion: Int { version.load(ordering: .acquiring) }

    /// Publishes `new`; returns its version.
    @discardableResult
    func replace(with new: ServingState) -> Int {
        state.withLock { $0 = new }
        return version.add(1, ordering: .releasing).newValue
    }
}

/// The loop's side of a worker: how to wake it, and which version of the state it has taken
/// up (a socket the loop took away is closed once every worker has let it go).
final class WorkerHandle: Sendable {
    let wakeRead: Int32
    let wakeWrite: Int32
    let adopted = Atomic<Int>(-1)

    init() throws {
        var ends: [Int32] = [-1, -1]
        try systemCall("pipe") { cportproxy_pipe(&ends) }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}

/// Starts `body` on a detached pthread of its own (`sending`: what it captures is the thread's).
func startThread(_ body: sending @escaping () -> Void) throws {
    final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    let work = Unmanaged.passRetained(Work(body))
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        Unmanaged<Work>.fromOpaque(argument).takeRetainedValue().body()
        return nil
    }, work.toOpaque())
    guard status == 0 else {
        work.release()
        throw SystemCallError(Errno(rawValue: status), call: "pthread_create", subject: "resolver thread")
    }
    pthread_detach(thread)
}

/// One of the threads that answer UDP. The workers wait on the same socket of each listen
/// address, each in an epoll of its own (`EPOLLEXCLUSIVE`: a datagram wakes one idle worker,
/// and whichever runs takes what is queued, so no client waits behind a worker that is not
/// scheduled); a worker reads queries in batches (`recvmmsg`), answers them into buffers it
/// keeps (`sendmmsg`), and forwards the rest itself, each from a new random port towards the
/// upstream (``UpstreamSockets``), whose answer comes back to the same epoll.
final class UDPWorker {
    /// Datagrams per batch.
    static let batchSize = 16
    /// Batches read from one socket before the others get their turn.
    static let burst = 4

    private static let wakeToken: UInt64 = 1 << 40
    private static let forwardFlag: UInt64 = 1 << 32

    private let handle: WorkerHandle
    private let shared: SharedState
    private let log: @Sendable (String) -> Void
    private let epoll: Int32
    private let events: UnsafeMutableBufferPointer<epoll_event>
    private var state: ServingState
    private var sockets: [Int32: IPAddress] = [:]
    private var pending: [Int32: PendingForward] = [:]
    private let upstream = UpstreamSockets()

    private let queries = DatagramBatch(capacity: batchSize)
    private let answers = DatagramBatch(capacity: batchSize)
    private let relayBuffer: UnsafeMutableRawBufferPointer

    /// A UDP query sent on to an upstream, waiting for its answer.
    struct PendingForward {
        let listener: Int32
        let client: SocketAddress
        let query: [UInt8]
        let servers: [IPAddress]
        var server: Int
        var deadline: UInt64
    }

    init(handle: WorkerHandle, shared: SharedState, log: @escaping @Sendable (String) -> Void) throws {
        self.handle = handle
        self.shared = shared
        self.log = log
        state = shared.current
        epoll = try systemCall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        events = .allocate(capacity: 64)
        relayBuffer = .allocate(byteCount: queries.slotSize, alignment: 8)
        watch(handle.wakeRead, token: Self.wakeToken)
    }

    /// Serves until the process exits.
    func run() -> Never {
        while true {
            let ready = epoll_wait(epoll, events.baseAddress, Int32(events.count), nextTimeout())
            if ready < 0, errno != EINTR { log("epoll_wait failed: \(Errno.current)") }
            adoptIfChanged()
            for index in 0..<max(0, Int(ready)) {
                let token = events[index].data.u64
                if token == Self.wakeToken {
                    drainWake()
                } else if token & Self.forwardFlag != 0 {
                    let descriptor = Int32(truncatingIfNeeded: token & 0xFFFF_FFFF)
                    if let forward = pending[descriptor] { relay(descriptor, forward) }
                } else {
                    let descriptor = Int32(truncatingIfNeeded: token)
                    if let local = sockets[descriptor] { serve(descriptor, local: local) }
                }
            }
            expireForwards()
        }
    }

    private func watch(_ descriptor: Int32, token: UInt64, exclusive: Bool = false) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | (exclusive ? EPOLLEXCLUSIVE.rawValue : 0)
        event.data.u64 = token
        if epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) != 0 { log("epoll_ctl: \(Errno.current)") }
    }

    private func drainWake() {
        var bytes: (UInt64, UInt64) = (0, 0)
        while withUnsafeMutableBytes(of: &bytes, { read(handle.wakeRead, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Takes up a new state: its names and upstreams, its sockets (the ones gone leave the
    /// epoll, and the forwards that would answer on them are dropped), then says so.
    private func adoptIfChanged() {
        let version = shared.currentVersion
        guard version != handle.adopted.load(ordering: .relaxed) else { return }
        state = shared.current
        var wanted: [Int32: IPAddress] = [:]
        for socket in state.sockets { wanted[socket.descriptor] = socket.local }
        for (descriptor, local) in sockets where wanted[descriptor] != local {
            var event = epoll_event()
            epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, &event)
            sockets[descriptor] = nil
            for (forwardDescriptor, forward) in pending where forward.listener == descriptor {
                finish(forwardDescriptor)
            }
        }
        for (descriptor, local) in wanted where sockets[descriptor] == nil {
            sockets[descriptor] = local
            watch(descriptor, token: UInt64(UInt32(bitPattern: descriptor)), exclusive: true)
        }
        handle.adopted.store(version, ordering: .releasing)
    }

    private func nextTimeout() -> Int32 {
        guard !pending.isEmpty else { return -1 }
        var earliest = UInt64.max
        for forward in pending.values where forward.deadline < earliest { earliest = forward.deadline }
        let now = monotonicNow()
        return earliest > now ? Int32(clamping: (earliest - now) / 1_000_000 + 1) : 0
    }

    // MARK: Queries

    private func serve(_ socket: Int32, local: IPAddress) {
        for _ in 0..<Self.burst {
            let received = queries.receive(from: socket, withAddresses: true)
            guard received > 0 else { return }
            var answered = 0
            for index in 0..<received {
                let client = queries.sender(index)
                guard let source = client.endpoint?.address else { continue }
                let query = queries.datagram(index)
                switch state.zones.outcome(of: query, to: local, from: source, udp: true, writingInto: answers.slot(answered)) {
                case .answer(let length):
                    answers.setDatagram(answered, length: length, destination: client)
                    answered += 1
                case .forward:
                    forward(Array(query), listener: socket, client: client, from: 0, servers: state.upstreams)
                case .drop:
                    continue
                }
            }
            // What the socket cannot take now is dropped, as the network could have.
            answers.send(0..<answered, from: socket)
            if received < Self.batchSize { return }
        }
    }

    // MARK: Forwarding

    /// Sends the query to the first upstream from `server` on that takes it; SERVFAIL when none does.
    private func forward(_ query: [UInt8], listener: Int32, client: SocketAddress, from server: Int, servers: [IPAddress]) {
        for index in server..<max(server, servers.count) {
            guard let (descriptor, isNew) = upstream.connected(to: SocketAddress(servers[index], port: Resolver.port)) else { continue }
            guard query.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == query.count else {
                upstream.release(descriptor)
                continue
            }
            pending[descriptor] = PendingForward(listener: listener, client: client, query: query, servers: servers, server: index,
                                                 deadline: monotonicNow() + Resolver.forwardTimeout)
            if isNew { watch(descriptor, token: UInt64(UInt32(bitPattern: descriptor)) | Self.forwardFlag) }
            return
        }
        if let failure = Resolver.serverFailure(for: query) { reply(failure, on: listener, to: client) }
    }

    private func reply(_ packet: [UInt8], on socket: Int32, to client: SocketAddress) {
        _ = packet.withUnsafeBytes { raw in client.withSockaddr { sendto(socket, raw.baseAddress, raw.count, 0, $0, $1) } }
    }

    /// The upstream's answer, relayed unchanged. The socket is connected to the upstream, so
    /// nothing else's datagrams arrive there; one too short or with another ID is not the
    /// answer and is skipped. An error (the upstream's port unreachable) moves on to the next.
    private func relay(_ descriptor: Int32, _ forward: PendingForward) {
        for _ in 0..<Self.batchSize {
            let count = recv(descriptor, relayBuffer.baseAddress, relayBuffer.count, 0)
            if count < 0 {
                guard errno != EAGAIN, errno != EINTR else { return }
                finish(descriptor)
                forwardToNext(forward)
                return
            }
            guard count >= 12, relayBuffer[0] == forward.query[0], relayBuffer[1] == forward.query[1] else { continue }
            // The client first: the socket's release is not on its way.
            _ = forward.client.withSockaddr { sendto(forward.listener, relayBuffer.baseAddress, count, 0, $0, $1) }
            finish(descriptor)
            return
        }
    }

    /// Asks the upstream after the one that refused or did not answer `forward`.
    private func forwardToNext(_ forward: PendingForward) {
        self.forward(forward.query, listener: forward.listener, client: forward.client, from: forward.server + 1, servers: forward.servers)
    }

    /// The forward on `descriptor` is over: its socket goes back without its port.
    private func finish(_ descriptor: Int32) {
        pending[descriptor] = nil
        upstream.release(descriptor)
    }

    private func expireForwards() {
        guard !pending.isEmpty else { return }
        let now = monotonicNow()
        for (descriptor, forward) in pending where forward.deadline <= now {
            finish(descriptor)
            forwardToNext(forward)
        }
    }
}
