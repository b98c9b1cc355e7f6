#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore
import ProxyClient

/// The socket calls the proxy makes, each returning or throwing the errno intact.
/// Every descriptor is non-blocking and close-on-exec from birth.
enum Socket {
    /// A new non-blocking socket of `family` (`AF_INET`, `AF_INET6`) and `type`.
    static func make(family: Int32, type: Int32, subject: String) throws -> Int32 {
        try systemCall("socket", subject) { socket(family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }

    /// `setsockopt` with an `int` value.
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, subject: String) throws {
        var value = value
        try systemCall("setsockopt", subject) {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// A bound socket for `rule`, listening when it is TCP.
    ///
    /// TCP listeners get `SO_REUSEADDR`, so a restarted proxy can bind while old connections
    /// linger in `TIME_WAIT`, and `TCP_NODELAY` for the connections they accept. IPv6 listeners get `IPV6_V6ONLY`, so `::` and `0.0.0.0` on the
    /// same port are separate listeners, as separate rules ask. UDP listeners on a wildcard
    /// address get `IP_PKTINFO` or `IPV6_RECVPKTINFO` (see ``answersFromLocalAddress(_:)``).
    ///
    /// - Throws: ``NetworkError`` naming `address:port/proto`, with the errno as the cause.
    static func listener(for rule: ForwardRule) throws -> Int32 {
        let subject = rule.listenDescription
        let address = SocketAddress(rule.listenAddress, port: rule.listenPort)
        let type = rule.transport == .tcp ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
        do {
            let fd = try make(family: address.family, type: type, subject: subject)
            do {
                if rule.transport == .tcp {
                    try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, subject: subject)
                    // Accepted sockets inherit it, which saves a call per connection.
                    try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, subject: subject)
                }
                if address.family == AF_INET6 {
                    try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, subject: subject)
                }
                if answersFromLocalAddress(rule) {
                    try systemCall("setsockopt", subject) { cportproxy_enable_local_addresses(fd, address.family) }
                }
                try systemCall("bind", subject) { address.withSockaddr { bind(fd, $0, $1) } }
                if rule.transport == .tcp {
                    try systemCall("listen", subject) { listen(fd, SOMAXCONN) }
                }
                return fd
            } catch {
                close(fd)
                throw error
            }
        } catch let error as SystemCallError {
            throw NetworkError(code: code(for: error.errno), message: "cannot listen on \(subject)", cause: error.errno)
        }
    }

    /// Whether the listener of `rule` learns the local address of each datagram and answers
    /// from it: a UDP one on a wildcard address. One bound to a single address answers from
    /// that address anyway, and TCP replies follow the connection.
    static func answersFromLocalAddress(_ rule: ForwardRule) -> Bool {
        rule.transport == .udp && rule.listenAddress.isUnspecified
    }

    /// How a failed bind is reported: a port someone else holds is `busy`, an address the
    /// host lacks is the caller's mistake, a privileged port needs permission.
    static func code(for errno: Errno) -> NetworkError.Code {
        switch errno {
        case .addressInUse: .busy
        case .addressNotAvailable: .invalidArgument
        case .permissionDenied, .notPermitted: .permissionDenied
        default: .system
        }
    }
}
