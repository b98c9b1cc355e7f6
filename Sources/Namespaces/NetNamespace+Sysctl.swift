#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

extension NetNamespace {
    /// Writes a sysctl inside this namespace through `/proc/sys` (never by exec).
    ///
    /// - Parameters:
    ///   - key: `net.ipv4.ip_forward` or `net/ipv4/ip_forward`; use the slash form when a
    ///     component (an interface name) contains a dot.
    ///   - value: the text to write.
    /// - Throws: ``NetworkError`` naming the key.
    public func writeSysctl(_ key: String, _ value: String) throws {
        let path = try Self.sysctlPath(key)
        try inside {
            let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Self.sysctlError(key, Errno.current) }
            defer { close(descriptor) }
            let bytes = Array(value.utf8)
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw Self.sysctlError(key, Errno.current) }
        }
    }

    /// Reads a sysctl inside this namespace, without the trailing newline.
    public func readSysctl(_ key: String) throws -> String {
        let path = try Self.sysctlPath(key)
        return try inside {
            let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Self.sysctlError(key, Errno.current) }
            defer { close(descriptor) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw Self.sysctlError(key, Errno.current) }
            var text = String(decoding: buffer[0..<count], as: UTF8.self)
            while text.hasSuffix("\n") { text.removeLast() }
            return text
        }
    }

    /// `/proc/sys/net` shows the namespace of whoever opens it: `body` runs on a thread in
    /// this namespace, or right here when the calling thread is already in it.
    private func inside<T>(_ body: () throws -> T) throws -> T {
        try Identity.ofCallingThread() == identity ? body() : run(body)
    }

    static func sysctlPath(_ key: String) throws -> String {
        let relative = key.contains("/") ? key : String(key.map { $0 == "." ? "/" : $0 })
        let components = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.isEmpty, !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw NetworkError.invalid("sysctl key", key, "must name a file under /proc/sys")
        }
        return "/proc/sys/" + relative
    }

    private static func sysctlError(_ key: String, _ errno: Errno) -> NetworkError {
        let code: NetworkError.Code = errno == .noSuchFileOrDirectory ? .notFound : .system
        return NetworkError(code: code, message: "cannot access sysctl \"\(key)\"", cause: errno)
    }
}
