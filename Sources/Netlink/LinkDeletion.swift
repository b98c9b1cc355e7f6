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
    /// processes such as the CNI plugins; it leaves no zombie and keeps none of the caller's
    /// descriptors but the namespace and the pipe it reports on.
    case leavingReclaimToAChild

    /// `.leavingReclaimToAChild` unless ``BackgroundRelease`` is turned off.
    public static func fromEnvironment() -> LinkDeletion {
        BackgroundRelease.isAllowed ? .leavingReclaimToAChild : .awaitingReclaim
    }
}

extension RouteSocket {
    /// How often the link's presence is polled while the grandchild's request runs.
    static let deletionPollNanoseconds = 200_000
    /// After this long the answer is simply awaited.
    static let deletionPollLimit = 5_000

    /// Deletes `reference` through a detached grandchild and returns when the link is gone.
    ///
    /// - Returns: whether there was a link to delete; `nil` when the grandchild did not
    ///   delete it (a fake transport, no process to spare, a grandchild that died or could
    ///   not ask, a refusal): the caller deletes here.
    func deleteLinkInChild(_ reference: LinkReference) throws -> Bool? {
        guard let socket = descriptor else { return nil }
        guard let link = try link(reference) else { return false }
        PhaseTrace.mark("veth looked up")
        let namespace = cnetlink_socket_namespace(socket)
        guard namespace >= 0 else { return nil }
        defer { close(namespace) }
        var report: [Int32] = [-1, -1]
        // Close-on-exec from the start: only the fork keeps the write end, no program another
        // thread execs meanwhile.
        guard cnetlink_pipe_cloexec(&report) == 0 else { return nil }
        defer { close(report[0]) }
        let started = cnetlink_delete_link_detached(namespace, link.index, report[1], BackgroundRelease.isShortLivedProcess ? 1 : 0)
        close(report[1])
        guard started == 0 else { return nil }
        PhaseTrace.mark("deletion child started")

        // A refusal comes back at once; a deletion shows as the link leaving the namespace.
        var polls = 0
        while true {
            let events = cnetlink_wait_readable(report[0], polls < Self.deletionPollLimit ? Self.deletionPollNanoseconds : -1)
            if events < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if events > 0 {
                var answer: Int32 = 0
                let count = read(report[0], &answer, MemoryLayout<Int32>.size)
                // Otherwise the grandchild died, could not ask, or the kernel refused: the
                // caller asks again on its own socket, and a refusal then carries the kernel's
                // message (a refusal is immediate: nothing waits for a reclaim).
                return count == MemoryLayout<Int32>.size && (answer == 0 || answer == ENODEV) ? true : nil
            }
            polls += 1
            if try self.link(index: link.index) == nil { return true }
        }
    }
}
