#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

/// How long ``RouteSocket/deleteLink(_:_:)`` waits.
///
/// The kernel answers RTM_DELLINK only after an RCU barrier that frees the device: 15–20 ms
/// for a veth pair on a 2-core VM, most of a CNI DEL. The link is gone from its namespace
/// well before that, when the request starts: its name and index are free and a veth's peer
/// has gone with it.
public enum LinkDeletion: Sendable {
    /// Wait for the kernel's answer, as any netlink client does.
    case awaitingReclaim
    /// Return once the link is gone from its namespace (or the kernel refused); a detached
    /// grandchild sends the request and waits for the answer instead. For short-lived
    /// processes such as the CNI plugins; it leaves no zombie and holds no descriptor but
    /// the socket it made.
    case leavingReclaimToAChild

    /// `.leavingReclaimToAChild`, unless `NETCTL_RELEASE_IN_BACKGROUND=0` (a runtime that is a
    /// subreaper and waits for every descendant turns both background hand-offs off with it).
    public static func fromEnvironment() -> LinkDeletion {
        getenv("NETCTL_RELEASE_IN_BACKGROUND").map { String(cString: $0) } == "0" ? .awaitingReclaim : .leavingReclaimToAChild
    }
}

extension RouteSocket {
    /// How often the link's presence is polled while the grandchild's request runs.
    static let deletionPollNanoseconds = 200_000
    /// After this long the answer is simply awaited.
    static let deletionPollLimit = 5_000

    /// Deletes `reference` through a detached grandchild and returns when the link is gone.
    ///
    /// - Returns: `false` when the deletion could not be handed off (a fake transport, no
    ///   process to spare, a grandchild that died before answering): the caller deletes here.
    func deleteLinkInChild(_ reference: LinkReference) throws -> Bool {
        guard let socket = descriptor else { return false }
        guard let link = try link(reference) else { return true }
        let namespace = cnetlink_socket_namespace(socket)
        guard namespace >= 0 else { return false }
        defer { close(namespace) }
        var report: [Int32] = [-1, -1]
        guard pipe(&report) == 0 else { return false }
        defer { close(report[0]) }
        // Only the fork keeps the write end: no exec'd program may hold it open.
        for fd in report { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let started = cnetlink_delete_link_detached(namespace, link.index, report[1])
        close(report[1])
        guard started == 0 else { return false }

        // A refusal comes back at once; a deletion shows as the link leaving the namespace.
        var polls = 0
        while true {
            let events = cnetlink_wait_readable(report[0], polls < Self.deletionPollLimit ? Self.deletionPollNanoseconds : -1)
            if events < 0 && errno == EINTR { continue }
            if events != 0 {
                var answer: Int32 = 0
                let count = read(report[0], &answer, MemoryLayout<Int32>.size)
                guard count == MemoryLayout<Int32>.size else { return false }
                if answer == 0 || answer == ENODEV { return true }
                throw NetlinkError(errno: Errno(rawValue: answer), kernelMessage: nil, operation: "RTM_DELLINK \(reference)")
            }
            polls += 1
            if try self.link(index: link.index) == nil { return true }
        }
    }
}
