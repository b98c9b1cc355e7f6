#if canImport(Glibc)
import NetCore
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The key of a UDP flow: the client's address and port, compared as raw values so a lookup
/// per datagram costs no allocation.
struct FlowKey: Hashable {
    var high: UInt64
    var low: UInt64
    var port: UInt16
    var family: UInt16

    init(_ address: SocketAddress) {
        (high, low, port, family) = (0, 0, 0, UInt16(truncatingIfNeeded: address.family))
        withUnsafeBytes(of: address.storage) { raw in
            switch Int32(address.storage.ss_family) {
            case AF_INET:
                let value = raw.loadUnaligned(as: sockaddr_in.self)
                low = UInt64(value.sin_addr.s_addr)
                port = value.sin_port
            case AF_INET6:
                let value = raw.loadUnaligned(as: sockaddr_in6.self)
                withUnsafeBytes(of: value.sin6_addr) { bytes in
                    high = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                    low = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                }
                port = value.sin6_port
            default:
                break
            }
        }
    }
}
