import NetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel's random ID for this boot. A lease stamped with another boot's ID belongs to a
/// container that cannot exist any more, so it is reclaimed.
public enum BootID {
    /// Where the kernel publishes it.
    public static let path = "/proc/sys/kernel/random/boot_id"

    /// Read once per process: it cannot change while the process lives.
    private static let cached: Result<String, SystemCallError> = Result { try readFirstLine(path) }
        .mapError { $0 as? SystemCallError ?? SystemCallError(.invalidArgument, call: "read", subject: path) }

    /// This boot's ID.
    ///
    /// - Throws: ``SystemCallError`` when `/proc` cannot be read.
    public static func current() throws -> String { try cached.get() }

    /// The first line of the file at `path`, trimmed.
    static func readFirstLine(_ path: String) throws -> String {
        let descriptor = try systemCall("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = try buffer.withUnsafeMutableBytes { bytes in
            try systemCall("read", path) { read(descriptor, bytes.baseAddress, bytes.count) }
        }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        let line = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw SystemCallError(.invalidArgument, call: "read", subject: path) }
        return line
    }
}
