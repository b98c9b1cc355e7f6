#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// Chooses a host port for a mapping that names none (Docker's `-p 80`, sent as host port 0):
/// one from the kernel's ephemeral range (`net.ipv4.ip_local_port_range`) that no mapping
/// publishes and nothing on the host is bound to, as Docker's own port allocator does.
public enum FreeHostPort {
    /// - Parameters:
    ///   - candidates: the ports to choose from; the ephemeral range when `nil`.
    ///   - taken: whether a port is already published (by netctl's records).
    /// - Throws: ``NetworkError`` `.exhausted` when every candidate is in use.
    public static func choose(_ transport: TransportProtocol, hostIP: IPAddress?, from candidates: ClosedRange<UInt16>? = nil,
                              taken: (UInt16) -> Bool) throws -> UInt16 {
        let range = candidates ?? ephemeralRange()
        let count = Int(range.upperBound - range.lowerBound) + 1
        // From a random place in the range, as the kernel does, so two choosers seldom meet.
        let start = Int.random(in: 0..<count)
        for step in 0..<count {
            let port = UInt16(Int(range.lowerBound) + (start + step) % count)
            if !taken(port), isFree(port, transport, hostIP: hostIP) { return port }
        }
        throw NetworkError(code: .exhausted, message: "no free \(transport) host port in \(range.lowerBound)-\(range.upperBound)")
    }

    /// The kernel's ephemeral range; Linux's default when it cannot be read.
    static func ephemeralRange() -> ClosedRange<UInt16> {
        let fallback: ClosedRange<UInt16> = 32768...60999
        let descriptor = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return fallback }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return fallback }
        let fields = String(decoding: buffer[..<count], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count == 2, let low = UInt16(fields[0]), let high = UInt16(fields[1]), low > 0, low <= high else { return fallback }
        return low...high
    }

    /// Whether a socket of `transport` can bind the port now (on `hostIP`, or every address).
    /// An address the host does not have is left for the publish to refuse.
    /// SCTP is not tried: only netctl's records say whether its ports are taken.
    static func isFree(_ port: UInt16, _ transport: TransportProtocol, hostIP: IPAddress?) -> Bool {
        let type: Int32
        switch transport {
        case .tcp: type = Int32(SOCK_STREAM.rawValue)
        case .udp: type = Int32(SOCK_DGRAM.rawValue)
        case .sctp: return true
        }
        let family = hostIP?.family == .v6 ? AF_INET6 : AF_INET
        let descriptor = socket(family, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return true } // nothing to tell by; the publish finds out
        defer { close(descriptor) }
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            if let hostIP { withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: hostIP.bytes) } }
            return binds(descriptor, address)
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        if let hostIP { withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: hostIP.bytes) } }
        return binds(descriptor, address)
    }

    private static func binds<Address>(_ descriptor: Int32, _ address: Address) -> Bool {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<Address>.size)) == 0 || errno == EADDRNOTAVAIL }
        }
    }
}
