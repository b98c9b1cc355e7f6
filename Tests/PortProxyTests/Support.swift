import Foundation
import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

/// The `netctl-proxy` built next to this test bundle (`swift build --build-tests` builds both).
let proxyExecutable: String? = {
    let start = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: start).deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent(ProxyProcess.executableName).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return nil
}()

let loopback4 = IPAddress.v4(.loopback)
let loopback6 = IPAddress.v6(.loopback)

/// Whether `::1` can be bound here (IPv6 may be disabled).
let hasIPv6Loopback: Bool = {
    guard let fd = try? TestSocket(.v6, type: SOCK_STREAM) else { return false }
    return (try? fd.bind(loopback6, port: 0)) != nil
}()

/// Starts a proxy for `rules` with the test's executable; stop it with `ProxyProcess.stop`.
func startProxy(_ rules: [ForwardRule], configuration: ProxyConfiguration = ProxyConfiguration()) throws -> Int32 {
    let executable = try #require(proxyExecutable, "netctl-proxy is not built next to the test bundle")
    return try ProxyProcess.start(executable: executable, rules: rules, configuration: configuration)
}

func rule(_ transport: TransportProtocol, listen: IPAddress = loopback4, _ listenPort: UInt16,
          to target: IPAddress = loopback4, _ targetPort: UInt16) throws -> ForwardRule {
    try ForwardRule(transport: transport, listenAddress: listen, listenPort: listenPort,
                    targetAddress: target, targetPort: targetPort)
}

/// A port that was free a moment ago, found by binding port 0.
func freePort(_ type: __socket_type = SOCK_STREAM, family: IPAddress.Family = .v4) throws -> UInt16 {
    let socket = try TestSocket(family, type: type)
    try socket.bind(family == .v4 ? loopback4 : loopback6, port: 0)
    return socket.localPort
}

/// `count` consecutive free TCP ports on 127.0.0.1.
func freeConsecutivePorts(_ count: Int) throws -> UInt16 {
    for _ in 0..<200 {
        let base = UInt16.random(in: 20000...(60000 - UInt16(count)))
        let sockets = (0..<count).compactMap { offset -> TestSocket? in
            guard let socket = try? TestSocket(.v4, type: SOCK_STREAM),
                  (try? socket.bind(loopback4, port: base + UInt16(offset))) != nil else { return nil }
            return socket
        }
        if sockets.count == count { return base }
    }
    throw NetworkError(code: .exhausted, message: "no \(count) consecutive free ports")
}

/// A blocking test socket with 5 s timeouts, so a broken proxy fails a test instead of hanging it.
final class TestSocket: @unchecked Sendable {
    // Unchecked: the descriptor is an immutable number; tests share a socket between two
    // threads only as the two directions of one connection, which the kernel allows.
    let fd: Int32

    init(_ family: IPAddress.Family, type: __socket_type) throws {
        fd = try systemCall("socket") {
            socket(family == .v4 ? AF_INET : AF_INET6, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        setTimeout(seconds: 5)
    }

    init(descriptor: Int32) {
        fd = descriptor
        setTimeout(seconds: 5)
    }

    deinit { close(fd) }

    func setTimeout(seconds: Int) {
        var time = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    func bind(_ address: IPAddress, port: UInt16) throws {
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if case .v6 = address {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        let socketAddress = SocketAddress(address, port: port)
        try systemCall("bind", "\(address):\(port)") { socketAddress.withSockaddr { Glibc.bind(fd, $0, $1) } }
    }

    func listen() throws {
        try systemCall("listen") { Glibc.listen(fd, 512) }
    }

    func connect(_ address: IPAddress, port: UInt16) throws {
        let socketAddress = SocketAddress(address, port: port)
        try systemCall("connect", "\(address):\(port)") { socketAddress.withSockaddr { Glibc.connect(fd, $0, $1) } }
    }

    static func connected(to address: IPAddress, port: UInt16) throws -> TestSocket {
        let socket = try TestSocket(address.family, type: SOCK_STREAM)
        try socket.connect(address, port: port)
        return socket
    }

    var localPort: UInt16 {
        var address = SocketAddress()
        _ = address.withMutableSockaddr { getsockname(fd, $0, $1) }
        return address.endpoint?.port ?? 0
    }

    func accept() -> TestSocket? {
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? TestSocket(descriptor: client) : nil
    }

    func sendAll(_ bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SystemCallError(Errno.current, call: "send", subject: "test socket") }
            offset += count
        }
    }

    /// Everything until end of stream.
    func receiveAll() throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SystemCallError(Errno.current, call: "recv", subject: "test socket") }
            if count == 0 { return result }
            result += buffer[..<count]
        }
    }

    /// Exactly `count` bytes, or fewer if the stream ends.
    func receive(exactly count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while result.count < count {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - result.count, 0) }
            if received < 0 && errno == EINTR { continue }
            guard received >= 0 else { throw SystemCallError(Errno.current, call: "recv", subject: "test socket") }
            if received == 0 { break }
            result += buffer[..<received]
        }
        return result
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Wakes a thread blocked in `accept` or `recv` on this socket.
    func shutdownAll() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// One datagram to `address:port`.
    func sendDatagram(_ datagram: String, to address: IPAddress, port: UInt16) throws {
        let socketAddress = SocketAddress(address, port: port)
        let bytes = Array(datagram.utf8)
        try systemCall("sendto") {
            bytes.withUnsafeBytes { raw in socketAddress.withSockaddr { sendto(fd, raw.baseAddress, raw.count, 0, $0, $1) } }
        }
    }

    /// One datagram and the port it came from, or `nil` after the receive timeout.
    func receiveDatagram() -> (text: String, port: UInt16)? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var from = SocketAddress()
        let count = buffer.withUnsafeMutableBytes { raw in
            from.withMutableSockaddr { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, $1) }
        }
        guard count >= 0 else { return nil }
        return (String(decoding: buffer[..<count], as: UTF8.self), from.endpoint?.port ?? 0)
    }
}

/// What a test TCP server does with each connection.
enum ServerBehaviour: Sendable {
    /// Sends back every byte until the client ends its stream, then ends its own.
    case echo
    /// Reads until the client ends its stream, then replies with the byte count and closes.
    case countThenReply
}

/// A TCP server on loopback, a thread per connection.
final class TCPTestServer: Sendable {
    let listener: TestSocket
    let port: UInt16

    init(_ behaviour: ServerBehaviour, address: IPAddress = loopback4, port: UInt16 = 0) throws {
        listener = try TestSocket(address.family, type: SOCK_STREAM)
        try listener.bind(address, port: port)
        try listener.listen()
        self.port = listener.localPort
        listener.setTimeout(seconds: 0)
        let listener = listener
        Thread.detachNewThread {
            while let connection = listener.accept() {
                Thread.detachNewThread { Self.serve(connection, behaviour) }
            }
        }
    }

    deinit { listener.shutdownAll() }

    private static func serve(_ connection: TestSocket, _ behaviour: ServerBehaviour) {
        switch behaviour {
        case .echo:
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
                guard count > 0, (try? connection.sendAll(buffer[..<count])) != nil else { break }
            }
            connection.shutdownWrite()
        case .countThenReply:
            guard let received = try? connection.receiveAll() else { return }
            try? connection.sendAll(Array("received \(received.count) bytes".utf8))
        }
    }
}

/// A UDP server that answers each datagram with `PORT|TEXT`, where PORT is the sender's port.
final class UDPTestServer: Sendable {
    let socket: TestSocket
    let port: UInt16

    init(address: IPAddress = loopback4) throws {
        socket = try TestSocket(address.family, type: SOCK_DGRAM)
        try socket.bind(address, port: 0)
        port = socket.localPort
        socket.setTimeout(seconds: 0)
        let socket = socket
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                var from = SocketAddress()
                let count = buffer.withUnsafeMutableBytes { raw in
                    from.withMutableSockaddr { recvfrom(socket.fd, raw.baseAddress, raw.count, 0, $0, $1) }
                }
                // shutdown() makes recvfrom return 0 with no sender.
                guard count >= 0, let sender = from.endpoint, from.length > 0, sender.port != 0 else { return }
                let reply = Array("\(sender.port)|".utf8) + buffer[..<count]
                _ = reply.withUnsafeBytes { raw in
                    from.withSockaddr { sendto(socket.fd, raw.baseAddress, raw.count, 0, $0, $1) }
                }
            }
        }
    }

    deinit { socket.shutdownAll() }
}

/// Deterministic bytes that make a misplaced or repeated chunk visible.
func pattern(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for index in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            buffer[index] = UInt8(truncatingIfNeeded: state >> 56)
        }
        initialized = count
    }
}

/// Whether `pid` exists at all (a zombie counts).
func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

/// Runs `body` on a new thread; the returned semaphore is signalled when it finishes.
func inBackground(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body()
        done.signal()
    }
    return done
}

/// How many sockets `pid` holds open.
func socketCount(_ pid: Int32) -> Int {
    let directory = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return entries.filter {
        ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")) ?? "").hasPrefix("socket:")
    }.count
}

/// Polls `socketCount(pid)` until it is `expected` or `timeout` seconds pass; returns the last count.
func settledSocketCount(_ pid: Int32, expected: Int, timeout: Double = 1) -> Int {
    let deadline = Date().addingTimeInterval(timeout)
    var count = socketCount(pid)
    while count != expected && Date() < deadline {
        usleep(10_000)
        count = socketCount(pid)
    }
    return count
}

/// How a stream ended for a reader.
enum StreamEnd: Equatable {
    case endOfStream, reset, timedOut, other(Int32)
}

extension TestSocket {
    /// Reads and discards until the stream ends, and says how it ended.
    func drainToEnd() -> StreamEnd {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { continue }
            if count == 0 { return .endOfStream }
            switch errno {
            case EINTR: continue
            case ECONNRESET: return .reset
            case EAGAIN: return .timedOut
            case let other: return .other(other)
            }
        }
    }
}
