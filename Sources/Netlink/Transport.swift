#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// What a ``RouteSocket`` sends through and reads from: the kernel, or a fake in tests.
public protocol NetlinkTransport: AnyObject {
    /// The port the kernel addresses replies to.
    var portID: UInt32 { get }
    func send(_ bytes: UnsafeRawBufferPointer) throws
    /// Reads one datagram into `buffer` and returns its length.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// The kernel socket, for what needs one (its namespace); `nil` for fakes.
    var descriptor: Int32? { get }
}

extension NetlinkTransport {
    public var descriptor: Int32? { nil }
}

/// A netlink protocol family.
enum NetlinkProtocol {
    /// `NETLINK_ROUTE`: links, addresses, routes.
    case route
    /// `NETLINK_NETFILTER`: conntrack.
    case netfilter

    var value: Int32 { self == .route ? NETLINK_ROUTE : NETLINK_NETFILTER }
    var name: String { self == .route ? "NETLINK_ROUTE" : "NETLINK_NETFILTER" }
}

/// An `AF_NETLINK` socket opened through libmnl, in the network namespace of the thread that
/// opens it; it stays bound to that namespace wherever it is used from.
final class MnlTransport: NetlinkTransport {
    private let socket: OpaquePointer
    private let name: String
    let portID: UInt32

    init(protocol family: NetlinkProtocol) throws {
        name = family.name
        guard let socket = mnl_socket_open2(family.value, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw SystemCallError(.current, call: "mnl_socket_open", subject: family.name)
        }
        self.socket = socket
        if family == .netfilter { BackgroundRelease.noteNetfilterSocket() }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = Errno.current
            mnl_socket_close(socket)
            throw SystemCallError(error, call: "mnl_socket_bind", subject: family.name)
        }
        portID = mnl_socket_get_portid(socket)
        // Errors then carry the kernel's message, and echo only the request's header.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(socket, NETLINK_EXT_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        // rtnetlink's strict checking (4.20+): the kernel then honours the filters of a dump request (an
        // address dump of one link walks that link, not every device of the namespace) and
        // refuses a malformed one instead of ignoring its fields. Older kernels ignore the
        // filters, which the callers apply again.
        if family == .route { _ = mnl_socket_setsockopt(socket, NETLINK_GET_STRICT_CHK, &on, socklen_t(MemoryLayout<Int32>.size)) }
    }

    deinit { mnl_socket_close(socket) }

    var descriptor: Int32? { mnl_socket_get_fd(socket) }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        try systemCall("mnl_socket_sendto", name) {
            mnl_socket_sendto(socket, bytes.baseAddress, bytes.count)
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try systemCall("mnl_socket_recvfrom", name) {
            mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count)
        }
    }
}
