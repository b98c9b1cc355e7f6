#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// The host's resolvers (`nameserver` lines of resolv.conf), read again whenever the file
/// changes (its inode, size or time), so an edited or replaced resolv.conf applies at once.
public struct Upstreams: Sendable {
    public let path: String
    public private(set) var servers: [IPAddress] = []
    private var seen: (inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int)?

    public init(path: String) {
        self.path = path
    }

    /// The servers now, as the file lists them (the resolver leaves out its own addresses).
    public mutating func current() -> [IPAddress] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            servers = []
            seen = nil
            return []
        }
        let stamp = (UInt64(info.st_ino), Int64(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
        if seen.map({ $0 != stamp }) ?? true {
            seen = stamp
            servers = Self.parse(readFile(path) ?? "")
        }
        return servers
    }

    /// `nameserver ADDRESS` lines, at most three as the C library reads (a scope `%eth0` is dropped).
    public static func parse(_ text: String) -> [IPAddress] {
        var servers: [IPAddress] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver",
                  let address = IPAddress(fields[1].split(separator: "%").first ?? "") else { continue }
            servers.append(address)
            if servers.count == 3 { break }
        }
        return servers
    }

    private func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
