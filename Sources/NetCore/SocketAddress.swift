#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `sockaddr_in` or `sockaddr_in6` built from an ``IPAddress`` and port, kept in a
/// `sockaddr_storage` so either family passes through the same calls.
public struct SocketAddress {
    public var storage = sockaddr_storage()
    public var length: socklen_t

    /// An empty address for `accept` and `recvfrom` to fill in.
    public init() {
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    }

    public init(_ address: IPAddress, port: UInt16) {
        switch address {
        case .v4(let v4):
            var raw = sockaddr_in()
            raw.sin_family = sa_family_t(AF_INET)
            raw.sin_port = port.bigEndian
            raw.sin_addr.s_addr = v4.value.bigEndian
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: raw) { target.copyMemory(from: $0) }
            }
        case .v6(let v6):
            var raw = sockaddr_in6()
            raw.sin6_family = sa_family_t(AF_INET6)
            raw.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &raw.sin6_addr) { $0.copyBytes(from: v6.bytes) }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: raw) { target.copyMemory(from: $0) }
            }
        }
    }

    /// An address the kernel wrote into `storage`; its length follows from its family.
    public init(storage: sockaddr_storage) {
        self.storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET: length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case AF_INET6: length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        default: length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The address and port, or `nil` for a family other than IPv4 and IPv6.
    public var endpoint: (address: IPAddress, port: UInt16)? {
        withUnsafeBytes(of: storage) { raw in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let address = raw.loadUnaligned(as: sockaddr_in.self)
                return (.v4(IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr))), UInt16(bigEndian: address.sin_port))
            case AF_INET6:
                let address = raw.loadUnaligned(as: sockaddr_in6.self)
                guard let v6 = withUnsafeBytes(of: address.sin6_addr, { IPv6Address(bytes: $0) }) else { return nil }
                return (.v6(v6), UInt16(bigEndian: address.sin6_port))
            default:
                return nil
            }
        }
    }

    /// Runs `body` with the address as the `sockaddr` pointer and length socket calls take.
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        // sockaddr_storage is laid out to be viewed as any sockaddr type.
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Runs `body` with room for the kernel to write an address into, and its length in and out.
    public mutating func withMutableSockaddr<Result>(
        _ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Result
    ) -> Result {
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
        }
    }
}
