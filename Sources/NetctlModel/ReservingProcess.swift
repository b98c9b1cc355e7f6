#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
    static func current() -> ReservingProcess? {
        let pid = getpid()
        guard let start = startTime(of: pid), let namespace = ownPIDNamespace() else { return nil }
        return ReservingProcess(pid: pid, startTime: start, pidNamespace: namespace)
    }

    /// Whether it has gone (killed before it finished): no process has its PID, or another
    /// one does. A process of another PID namespace (a netctl in a container sharing the
    /// store) cannot be looked up from here, so it is never taken for gone.
    var isGone: Bool {
        guard ownPIDNamespaceMatches else { return false }
        return Self.startTime(of: pid) != startTime
    }

    private var ownPIDNamespaceMatches: Bool { Self.ownPIDNamespace() == pidNamespace }

    private static func ownPIDNamespace() -> UInt64? {
        var info = stat()
        return stat("/proc/self/ns/pid", &info) == 0 ? UInt64(info.st_ino) : nil
    }

    static func startTime(of pid: Int32) -> UInt64? {
        let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        // `PID (COMM) STATE ...`: COMM may hold spaces and parentheses, so the fields are
        // counted from the last ')'; STATE is field 3, the start time field 22.
        let text = buffer[..<count]
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = text[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }
}
