#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process that reserved an endpoint row and is setting the endpoint up: its PID and its
/// start time (clock ticks after boot, the 22nd field of `/proc/PID/stat`), so that another
/// process given the same PID since is not taken for it.
public struct ReservingProcess: Sendable, Hashable {
    public var pid: Int32
    public var startTime: UInt64

    /// This process, or `nil` when procfs cannot tell its start time.
    static func current() -> ReservingProcess? {
        let pid = getpid()
        return startTime(of: pid).map { ReservingProcess(pid: pid, startTime: $0) }
    }

    /// Whether it has gone (killed before it finished): no process has its PID, or another
    /// one does.
    var isGone: Bool { Self.startTime(of: pid) != startTime }

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
