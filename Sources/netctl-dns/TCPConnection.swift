#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import DNS
import NameService
import NetCore

/// One DNS-over-TCP client (RFC 7766): length-prefixed queries, answered in order until the
/// client closes or is idle for ``idleSeconds``; forwarded ones over TCP to the upstream.
/// Blocking, on a thread of its own.
struct TCPConnection {
    static let idleSeconds = 10
    static let upstreamSeconds = 2

    let descriptor: Int32
    let local: IPAddress
    let client: IPAddress
    /// The names and upstreams, as the loop last published them.
    let shared: SharedState

    func serve() {
        defer { close(descriptor) }
        // Blocking from here, with a bound on every wait.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        Self.setTimeouts(descriptor, seconds: Self.idleSeconds)
        while let query = Self.readMessage(descriptor) {
            let answer: [UInt8]?
            let state = shared.current
            switch state.zones.outcome(of: query, to: local, from: client, udp: false) {
            case .answer(let bytes): answer = bytes
            case .forward: answer = Self.exchange(query, with: state.upstreams) ?? Resolver.serverFailure(for: query)
            case .drop: return
            }
            guard let answer, Self.writeMessage(answer, to: descriptor) else { return }
        }
    }

    /// Asks each upstream in turn over TCP; the first answer.
    static func exchange(_ query: [UInt8], with servers: [IPAddress]) -> [UInt8]? {
        for server in servers {
            let upstream = socket(server.family == .v4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard upstream >= 0 else { continue }
            defer { close(upstream) }
            setTimeouts(upstream, seconds: upstreamSeconds)
            guard SocketAddress(server, port: Resolver.port).withSockaddr({ connect(upstream, $0, $1) }) == 0,
                  writeMessage(query, to: upstream), let answer = readMessage(upstream) else { continue }
            return answer
        }
        return nil
    }

    static func setTimeouts(_ descriptor: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// One message: two bytes of length, then that many; `nil` at the end, on a timeout or error.
    static func readMessage(_ descriptor: Int32) -> [UInt8]? {
        guard let prefix = readExactly(descriptor, 2) else { return nil }
        let length = Int(prefix[0]) << 8 | Int(prefix[1])
        guard length > 0 else { return nil }
        return readExactly(descriptor, length)
    }

    static func writeMessage(_ message: [UInt8], to descriptor: Int32) -> Bool {
        guard message.count <= 65535 else { return false }
        let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
        var done = 0
        while done < framed.count {
            // MSG_NOSIGNAL: a client gone is an error here, not a SIGPIPE for the whole resolver.
            let sent = framed.withUnsafeBytes { send(descriptor, $0.baseAddress.map { $0 + done }, framed.count - done, Int32(MSG_NOSIGNAL)) }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            done += sent
        }
        return true
    }

    private static func readExactly(_ descriptor: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let received = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress.map { $0 + done }, count - done, 0) }
            if received < 0, errno == EINTR { continue }
            guard received > 0 else { return nil }
            done += received
        }
        return bytes
    }
}
