#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What this project reads of a process's `/proc/PID/stat`.
public struct ProcessStatus: Sendable, Equatable {
    /// One letter: `R`, `S`, `D`, `Z` (a zombie), …
    public let state: String
    public let parentPID: Int32
    /// Clock ticks after boot at which it started: with its PID, it names one process.
    public let startTime: UInt64

    /// `nil` when there is no such process (or procfs cannot tell).
    public init?(pid: Int32) {
        guard let stat = readSmallFile("/proc/\(pid)/stat"), let end = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // `PID (COMM) STATE PPID …`: COMM may hold spaces and parentheses, so the fields are
        // counted from the last ')'. STATE is field 3, PPID field 4, the start time field 22.
        let fields = stat[(end + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19, let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        state = String(decoding: fields[0], as: UTF8.self)
        parentPID = parent
        startTime = start
    }
}

/// The bytes of a small file (of `/proc`, say), or `nil` if it cannot be read.
public func readSmallFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 1 << 20 {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[..<count]
    }
    return bytes
}
