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
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket opened through libmnl, in the network namespace of the
/// thread that opens it; it stays bound to that namespace wherever it is used from.
final class MnlTransport: NetlinkTransport {
    private let socket: OpaquePointer
    let portID: UInt32

    init() throws {
        guard let socket = mnl_socket_open2(NETLINK_ROUTE, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw SystemCallError(.current, call: "mnl_socket_open", subject: "NETLINK_ROUTE")
        }
        self.socket = socket
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = Errno.current
            mnl_socket_close(socket)
            throw SystemCallError(error, call: "mnl_socket_bind", subject: "NETLINK_ROUTE")
        }
        portID = mnl_socket_get_portid(socket)
        // Errors then carry the kernel's message, and echo only the request's header.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(socket, NETLINK_EXT_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { mnl_socket_close(socket) }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        try systemCall("mnl_socket_sendto", "NETLINK_ROUTE") {
            mnl_socket_sendto(socket, bytes.baseAddress, bytes.count)
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try systemCall("mnl_socket_recvfrom", "NETLINK_ROUTE") {
            mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count)
        }
    }
}
