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

/// The resolver's loop: UDP and TCP port 53 on each served network's gateways, answered from
/// the store's names, everything else forwarded to the host's resolvers. This thread reads the
/// store (when its directory changes), keeps the listeners, watches resolv.conf, accepts TCP
/// and takes the signals; UDP is answered by ``UDPWorker`` threads, one per two cores, all on the
/// same sockets; each TCP connection gets a thread of its own (DNS over TCP is rare and may
/// block on the upstream).
final class Resolver {
    static let port: UInt16 = 53
    /// TCP clients served at once; more are closed at once (each holds a thread).
    static let tcpConnectionLimit = 64
    /// How long an upstream has to answer before the next is asked.
    static let forwardTimeout: UInt64 = 2_000_000_000
    /// With nothing to serve for this long, the resolver exits (the next name starts it again).
    static let idleExit: UInt64 = 10_000_000_000
    /// How often resolv.conf is looked at when nothing else wakes the loop.
    static let upstreamCheckInterval: UInt64 = 1_000_000_000

    private let store: StateStore
    private let tables: NameTables
    private let log: @Sendable (String) -> Void
    private let shared = SharedState(ServingState(zones: .empty, upstreams: [], sockets: []))
    private let workers: [WorkerHandle]
    private var zones = NameZones.empty
    private var dataVersion: Int64 = -1
    private var nameGeneration: Int64?
    /// Per listen address: the UDP socket and the TCP listener.
    private var listeners: [IPAddress: (udp: Int32, tcp: Int32)] = [:]
    /// UDP sockets taken away from the workers, closed once every worker has taken up the
    /// state of that version (or a later one).
    private var retired: [(version: Int, descriptors: [Int32])] = []
    private var upstreams: Upstreams
    /// resolv.conf's servers, as the file lists them.
    private var upstreamServers: [IPAddress] = []
    private var upstreamsCheckedAt: UInt64 = 0
    private let watch: Int32
    private let signals: Int32
    private var idleSince: UInt64?
    /// The store's file as opened: a store removed (a test's, a state directory wiped) leaves
    /// nothing to serve, whatever its last rows said.
    private let storeFile: (device: UInt64, inode: UInt64)?
    private var storeCheckedAt: UInt64 = 0
    private var refreshedAt: UInt64 = 0
    /// When to look at the store again after a wake-up: a writer's WAL write wakes the watch
    /// before its commit is visible (the commit marks shared memory, which no inotify event
    /// reports; a writer that syncs the WAL first takes a few milliseconds), and one wake-up
    /// may stand for several commits. Each look is one `PRAGMA data_version`.
    private var rechecks: [UInt64] = []
    static let recheckDelays: [UInt64] = [1_000_000, 2_000_000, 4_000_000, 7_000_000, 10_000_000, 20_000_000, 50_000_000]
    private var buffer = [UInt8](repeating: 0, count: 4096)

    /// - Parameter udpThreads: how many threads answer UDP (at least one).
    init(store: StateStore, resolvConf: String, signals: Int32, udpThreads: Int, log: @escaping @Sendable (String) -> Void) throws {
        self.store = store
        tables = NameTables(database: store.database)
        upstreams = Upstreams(path: resolvConf)
        self.signals = signals
        self.log = log
        storeFile = Self.identity(of: store.path)
        // Commits to the store touch its files: each is a cue to look at the names again.
        // resolv.conf is watched too (and looked at once a second besides).
        watch = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if watch >= 0 {
            _ = inotify_add_watch(watch, store.directory, UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE))
            _ = inotify_add_watch(watch, resolvConf, UInt32(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF))
        }
        workers = try (0..<max(1, udpThreads)).map { _ in try WorkerHandle() }
        for handle in workers {
            let worker = try UDPWorker(handle: handle, shared: shared, log: log)
            try startThread { worker.run() }
        }
    }

    // MARK: The store

    /// Reads the names again when the store changed since the last read, and a write to the
    /// names was among the changes (a commit of leases or firewall records costs one row).
    ///
    /// - Returns: whether the store had changed.
    @discardableResult
    func refresh() -> Bool {
        refreshedAt = monotonicNow()
        do {
            let version = try store.database.statement("PRAGMA data_version").firstRow([]) { $0.int64(0) } ?? 0
            guard version != dataVersion else { return false }
            if let generation = try tables.generation(), generation == nameGeneration {
                dataVersion = version
                return true
            }
            let snapshot = try tables.snapshot()
            dataVersion = version
            zones = NameZones(networks: snapshot.networks, records: snapshot.records)
            nameGeneration = snapshot.generation
            reconcileListeners()
            publish()
            return true
        } catch {
            log("cannot read the names from the store: \(error)")
            return false
        }
    }

    /// resolv.conf's servers again, when the file changed.
    func refreshUpstreams() {
        upstreamsCheckedAt = monotonicNow()
        let servers = upstreams.current()
        if servers != upstreamServers {
            upstreamServers = servers
            publish()
        }
    }

    /// Hands the names, the upstreams and the sockets to the workers and the TCP connections.
    private func publish() {
        let sockets = listeners.map { WorkerSocket(descriptor: $0.value.udp, local: $0.key) }
        // Never one of the resolver's own addresses: a loop.
        let upstreams = upstreamServers.filter { listeners[$0] == nil }
        shared.replace(with: ServingState(zones: zones, upstreams: upstreams, sockets: sockets))
        for handle in workers { handle.wake() }
    }

    /// Closes the UDP sockets no worker uses any more.
    private func closeRetired() {
        guard !retired.isEmpty else { return }
        let adopted = workers.map { $0.adopted.load(ordering: .acquiring) }.min() ?? Int.max
        retired.removeAll { entry in
            guard entry.version <= adopted else { return false }
            entry.descriptors.forEach { close($0) }
            return true
        }
    }

    /// Opens UDP and TCP port 53 on each listen address not yet served; closes those no
    /// network has any more (a UDP socket once every worker has let it go). `IP_FREEBIND`: a
    /// gateway is on its bridge only from the first endpoint on, and queries arrive from then on.
    private func reconcileListeners() {
        let wanted = Set(zones.listeners.keys)
        var gone: [Int32] = []
        for (address, sockets) in listeners where !wanted.contains(address) {
            gone.append(sockets.udp)
            close(sockets.tcp)
            listeners[address] = nil
        }
        if !gone.isEmpty { retired.append((shared.currentVersion + 1, gone)) } // the version publish() makes next
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
            for sockets in listeners.values { descriptors.append(pollfd(fd: sockets.tcp, events: Int16(POLLIN), revents: 0)) }
            let now = monotonicNow()
            var timeout = rechecks.min().map { $0 > now ? Int32(clamping: ($0 - now) / 1_000_000 + 1) : 0 } ?? 1000
            // A socket taken away is closed as soon as the workers have let it go (its address may be served again).
            if !retired.isEmpty { timeout = min(timeout, 1) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), min(timeout, 1000))
            if ready < 0, errno != EINTR { log("poll failed: \(Errno.current)") }
            for descriptor in descriptors where descriptor.revents != 0 {
                if descriptor.fd == signals { return .signalled }
                if descriptor.fd == watch {
                    drain(watch)
                    refresh()
                    refreshUpstreams()
                    // Whatever this read found, a commit still on its way is looked for again.
                    let woken = monotonicNow()
                    rechecks = Self.recheckDelays.map { woken + $0 }
                } else if let (address, sockets) = listeners.first(where: { $0.value.tcp == descriptor.fd }) {
                    accept(on: sockets.tcp, local: address)
                }
            }
            let checked = monotonicNow()
            if rechecks.contains(where: { $0 <= checked }) {
                rechecks.removeAll { $0 <= checked }
                refresh()
            }
            // A change the directory watch missed: looked for four times a second.
            if refreshedAt + 250_000_000 <= checked { refresh() }
            if upstreamsCheckedAt + Self.upstreamCheckInterval <= checked { refreshUpstreams() }
            closeRetired()
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
        guard zones.listeners.isEmpty else {
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
        let shared = self.shared
        DispatchQueue.global().async {
            TCPConnection(descriptor: connection, local: local, client: source, shared: shared).serve()
            shared.connections.subtract(1, ordering: .relaxed)
        }
    }
}
