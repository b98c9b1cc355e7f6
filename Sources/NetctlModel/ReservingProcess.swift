#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// The process that reserved an endpoint row and is setting the endpoint up: its PID, its
/// start time (clock ticks after boot, the 22nd field of `/proc/PID/stat`), so that another
/// process given the same PID since is not taken for it, and its PID namespace, where that PID
/// means something.
public struct ReservingProcess: Sendable, Hashable {
    public var pid: Int32
    public var startTime: UInt64
    /// The inode of its PID namespace.
    public var pidNamespace: UInt64

    /// This process, or `nil` when procfs cannot tell.
    public static func current() -> ReservingProcess? {
        let pid = getpid()
        guard let status = ProcessStatus(pid: pid), let namespace = ownPIDNamespace() else { return nil }
        return ReservingProcess(pid: pid, startTime: status.startTime, pidNamespace: namespace)
    }

    /// Whether it has gone (killed before it finished): no process has its PID, or another
    /// one does. A process of another PID namespace (a netctl in a container sharing the
    /// store) cannot be looked up from here, so it is never taken for gone.
    var isGone: Bool {
        Self.ownPIDNamespace() == pidNamespace && ProcessStatus(pid: pid)?.startTime != startTime
    }

    private static func ownPIDNamespace() -> UInt64? {
        var info = stat()
        return stat("/proc/self/ns/pid", &info) == 0 ? UInt64(info.st_ino) : nil
    }
}
