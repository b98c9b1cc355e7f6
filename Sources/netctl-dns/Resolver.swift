#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import DNS
import Dispatch
import NameService
import NetCore
import Store
import Synchronization

/// The names every TCP connection's thread answers from, swapped whole by the loop; and how
/// many such threads there are.
final class SharedZones: Sendable {
    private let zones = Mutex(NameZones.empty)
    let connections = Atomic<Int>(0)

    var current: NameZones { zones.withLock { $0 } }

    func replace(with new: NameZones) { zones.withLock { $0 = new } }
}

/// The resolver's loop: UDP and TCP port 53 on each served network's gateways, answered from
/// the store's names, everything else forwarded to the host's resolvers. One thread polls the
/// UDP sockets, the listeners, the forwards under way, the store's directory and the signals;
/// each TCP connection gets a thread of its own (DNS over TCP is rare and may block on the
/// upstream).
final class Resolver {
    static let port: UInt16 = 53
    /// TCP clients served at once; more are closed at once (each holds a thread).
    static let tcpConnectionLimit = 64
    /// How long an upstream has to answer before the next is asked.
    static let forwardTimeout: UInt64 = 2_000_000_000
    /// With nothing to serve for this long, the resolver exits (the next name starts it again).
    static let idleExit: UInt64 = 10_000_000_000

    private let store: StateStore
    private let tables: NameTables
    private let log: (String) -> Void
    private let shared = SharedZones()
    private var zones = NameZones.empty
    private var dataVersion: Int64 = -1
    private var listeners: [IPAddress: (udp: Int32, tcp: Int32)] = [:]
    private var pending: [Int32: PendingForward] = [:]
    private var upstreams: Upstreams
    private let resolvConf: String
    private let watch: Int32
    private let signals: Int32
    private var idleSince: UInt64?
    /// The store's file as opened: a store removed (a test's, a state directory wiped) leaves
    /// nothing to serve, whatever its last rows said.
    private let storeFile: (device: UInt64, inode: UInt64)?
    private var storeCheckedAt: UInt64 = 0
    private var refreshedAt: UInt64 = 0
    /// When to look at the store again after a wake-up that found no change: a writer's WAL
    /// write wakes the watch before its commit is visible (the commit marks shared memory,
    /// which no inotify event reports).
    private var rechecks: [UInt64] = []
    static let recheckDelays: [UInt64] = [2_000_000, 10_000_000, 50_000_000]
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// A UDP query sent on to an upstream, waiting for its answer.
    struct PendingForward {
        let listener: Int32
        let client: SocketAddress
        let query: [UInt8]
        let servers: [IPAddress]
        var server: Int
        var deadline: UInt64
    }

    init(store: StateStore, resolvConf: String, signals: Int32, log: @escaping (String) -> Void) throws {
        self.store = store
        tables = NameTables(database: store.database)
        self.resolvConf = resolvConf
        upstreams = Upstreams(path: resolvConf)
        self.signals = signals
        self.log = log
        storeFile = Self.identity(of: store.path)
        // Commits to the store touch its files: each is a cue to look at the names again.
        watch = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if watch >= 0 {
            _ = inotify_add_watch(watch, store.directory, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE))
        }
    }

    // MARK: The store

    /// Reads the names again when the store changed since the last read.
    ///
    /// - Returns: whether it had changed.
    @discardableResult
    func refresh() -> Bool {
        refreshedAt = monotonicNow()
        do {
            let version = try store.database.statement("PRAGMA data_version").firstRow([]) { $0.int64(0) } ?? 0
            guard version != dataVersion else { return false }
            dataVersion = version
            let fresh = NameZones(networks: try tables.networks(), records: try tables.records())
            zones = fresh
            shared.replace(with: fresh)
            reconcileListeners()
            return true
        } catch {
            log("cannot read the names from the store: \(error)")
            return false
        }
    }

    /// Opens UDP and TCP port 53 on each listen address not yet served; closes those no
    /// network has any more. `IP_FREEBIND`: a gateway is on its bridge only from the first
    /// endpoint on, and queries arrive from then on.
    private func reconcileListeners() {
        let wanted = Set(zones.listeners.keys)
        for (address, sockets) in listeners where !wanted.contains(address) {
            close(sockets.udp)
            close(sockets.tcp)
            listeners[address] = nil
        }
        for address in wanted where listeners[address] == nil {
            do {
                let udp = try Self.bound(address, type: Int32(SOCK_DGRAM.rawValue))
                let tcp: Int32
                do {
                    tcp = try Self.bound(address, type: Int32(SOCK_STREAM.rawValue))
                } catch {
                    close(udp)
                    throw error
                }
                guard listen(tcp, 64) == 0 else {
                    let error = Errno.current
                    close(udp)
                    close(tcp)
                    throw SystemCallError(error, call: "listen", subject: "\(address)")
                }
                listeners[address] = (udp, tcp)
            } catch {
                log("cannot listen on \(address) port 53: \(error)")
            }
        }
    }

    private static func bound(_ address: IPAddress, type: Int32) throws -> Int32 {
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let descriptor = try systemCall("socket") { socket(family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var on: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(descriptor, Int32(IPPROTO_IP), IP_FREEBIND, &on, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 { setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
        let result = SocketAddress(address, port: port).withSockaddr { bind(descriptor, $0, $1) }
        guard result == 0 else {
            let error = Errno.current
            close(descriptor)
            throw SystemCallError(error, call: "bind", subject: "\(address) port \(port)")
        }
        return descriptor
    }

    // MARK: The loop

    /// Why ``run()`` returned.
    enum Ending {
        case signalled, idle, storeGone
    }

    /// Whether there is a network to serve.
    var hasNetworks: Bool { !zones.listeners.isEmpty }

    /// Serves until SIGTERM or SIGINT, until it has had nothing to serve for a while, or
    /// until its store is gone.
    func run() -> Ending {
        while true {
            var descriptors = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            if watch >= 0 { descriptors.append(pollfd(fd: watch, events: Int16(POLLIN), revents: 0)) }
            for sockets in listeners.values {
                descriptors.append(pollfd(fd: sockets.udp, events: Int16(POLLIN), revents: 0))
                descriptors.append(pollfd(fd: sockets.tcp, events: Int16(POLLIN), revents: 0))
            }
            for fd in pending.keys { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let now = monotonicNow()
            let nextDeadline = (pending.values.map(\.deadline) + rechecks).min().map { $0 > now ? Int32(clamping: ($0 - now) / 1_000_000 + 1) : 0 } ?? 1000
            let ready = poll(&descriptors, nfds_t(descriptors.count), min(nextDeadline, 1000))
            if ready < 0, errno != EINTR { log("poll failed: \(Errno.current)") }
            for descriptor in descriptors where descriptor.revents != 0 {
                if descriptor.fd == signals { return .signalled }
                if descriptor.fd == watch {
                    drain(watch)
                    if !refresh() {
                        let woken = monotonicNow()
                        rechecks = Self.recheckDelays.map { woken + $0 }
                    }
                } else if let forward = pending[descriptor.fd] {
                    relay(descriptor.fd, forward)
                } else if let (address, sockets) = listeners.first(where: { $0.value.udp == descriptor.fd || $0.value.tcp == descriptor.fd }) {
                    if sockets.udp == descriptor.fd { receive(on: sockets.udp, local: address) } else { accept(on: sockets.tcp, local: address) }
                }
            }
            expireForwards()
            let checked = monotonicNow()
            if rechecks.contains(where: { $0 <= checked }) {
                rechecks.removeAll { $0 <= checked }
                if refresh() { rechecks = [] }
            }
            // A change the directory watch missed: looked for four times a second, not after
            // every query (a statement each).
            if monotonicNow() - refreshedAt >= 250_000_000 { refresh() }
            if shouldExitIdle() { return .idle }
            if storeIsGone() { return .storeGone }
        }
    }

    private static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        return stat(path, &info) == 0 ? (UInt64(info.st_dev), UInt64(info.st_ino)) : nil
    }

    /// Whether the store's file is gone or replaced (checked once a second).
    private func storeIsGone() -> Bool {
        let now = monotonicNow()
        guard now - storeCheckedAt >= 1_000_000_000 else { return false }
        storeCheckedAt = now
        guard let storeFile, let current = Self.identity(of: store.path) else { return true }
        if current != storeFile {
            log("the store at \(store.path) was replaced: exiting")
            return true
        }
        return false
    }

    private func drain(_ fd: Int32) {
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// With no network to serve for ``idleExit``.
    private func shouldExitIdle() -> Bool {
        guard zones.listeners.isEmpty, pending.isEmpty else {
            idleSince = nil
            return false
        }
        let now = monotonicNow()
        guard let since = idleSince else {
            idleSince = now
            return false
        }
        return now - since >= Self.idleExit
    }

    // MARK: UDP

    private func receive(on socket: Int32, local: IPAddress) {
        for _ in 0..<64 { // a burst, then the others get their turn
            var client = SocketAddress()
            let count = buffer.withUnsafeMutableBytes { raw in
                client.withMutableSockaddr { recvfrom(socket, raw.baseAddress, raw.count, 0, $0, $1) }
            }
            guard count > 0 else { return }
            guard let source = client.endpoint?.address else { continue }
            let packet = Array(buffer[..<count])
            switch zones.outcome(of: packet, to: local, from: source, udp: true) {
            case .answer(let answer): send(answer, on: socket, to: client)
            case .forward: forward(packet, listener: socket, client: client, from: 0, servers: upstreams.current(excluding: Set(listeners.keys)))
            case .drop: continue
            }
        }
    }

    private func send(_ packet: [UInt8], on socket: Int32, to client: SocketAddress) {
        _ = packet.withUnsafeBytes { raw in client.withSockaddr { sendto(socket, raw.baseAddress, raw.count, 0, $0, $1) } }
    }

    /// Sends the query to the first upstream from `server` on that takes it; SERVFAIL when none does.
    private func forward(_ query: [UInt8], listener: Int32, client: SocketAddress, from server: Int, servers: [IPAddress]) {
        var index = server
        while index < servers.count {
            let upstream = servers[index]
            let descriptor = socket(upstream.family == .v4 ? AF_INET : AF_INET6,
                                    Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if descriptor >= 0 {
                let connected = SocketAddress(upstream, port: Self.port).withSockaddr { connect(descriptor, $0, $1) } == 0
                if connected, query.withUnsafeBytes({ Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }) == query.count {
                    pending[descriptor] = PendingForward(listener: listener, client: client, query: query, servers: servers, server: index,
                                                         deadline: monotonicNow() + Self.forwardTimeout)
                    return
                }
                close(descriptor)
            }
            index += 1
        }
        if let failure = Self.serverFailure(for: query) { send(failure, on: listener, to: client) }
    }

    /// The upstream's answer, relayed unchanged (the socket is connected to it: nothing else's
    /// datagrams arrive there; one with another ID is not the answer and is skipped).
    private func relay(_ descriptor: Int32, _ forward: PendingForward) {
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count >= 12 || (count < 0 && errno != EAGAIN) else { return }
        pending[descriptor] = nil
        close(descriptor)
        if count >= 12, buffer[0] == forward.query[0], buffer[1] == forward.query[1] {
            send(Array(buffer[..<count]), on: forward.listener, to: forward.client)
        } else {
            self.forward(forward.query, listener: forward.listener, client: forward.client, from: forward.server + 1, servers: forward.servers)
        }
    }

    private func expireForwards() {
        let now = monotonicNow()
        for (descriptor, forward) in pending where forward.deadline <= now {
            pending[descriptor] = nil
            close(descriptor)
            self.forward(forward.query, listener: forward.listener, client: forward.client, from: forward.server + 1, servers: forward.servers)
        }
    }

    static func serverFailure(for packet: [UInt8]) -> [UInt8]? {
        guard let query = try? DNSQuery(parsing: packet) else { return DNSAnswer.error(DNSResponseCode.serverFailure, toPacket: packet) }
        return DNSAnswer.respond(to: query, code: DNSResponseCode.serverFailure, authoritative: false)
    }

    // MARK: TCP

    private func accept(on listener: Int32, local: IPAddress) {
        var client = SocketAddress()
        let connection = client.withMutableSockaddr { cportproxy_accept(listener, $0, $1) }
        guard connection >= 0, let source = client.endpoint?.address else {
            if connection >= 0 { close(connection) }
            return
        }
        guard shared.connections.add(1, ordering: .relaxed).newValue <= Self.tcpConnectionLimit else {
            shared.connections.subtract(1, ordering: .relaxed)
            close(connection)
            return
        }
        let zones = shared
        let resolvConf = self.resolvConf
        let own = Set(listeners.keys)
        DispatchQueue.global().async {
            TCPConnection(descriptor: connection, local: local, client: source, zones: zones, resolvConf: resolvConf, own: own).serve()
            zones.connections.subtract(1, ordering: .relaxed)
        }
    }
}
