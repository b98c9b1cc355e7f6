#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore
import ProxyClient

/// The key of a UDP flow: the client's address and port and, on a wildcard listener, the local
/// address the client sent to, compared as raw values so a lookup per datagram costs no
/// allocation.
///
/// A client that sends to two addresses of a wildcard listener has a flow for each, as it has
/// two conversations: each one's replies leave from the address it sent to.
struct FlowKey: Hashable {
    var high: UInt64
    var low: UInt64
    var port: UInt16
    var family: UInt16
    /// The local address, zero on a listener bound to one address (which answers from it).
    var localHigh: UInt64 = 0
    var localLow: UInt64 = 0

    init(_ address: SocketAddress) {
        family = UInt16(truncatingIfNeeded: address.family)
        (high, low, port) = Self.raw(address.storage)
    }

    init(_ address: SocketAddress, local: SocketAddress?) {
        self.init(address)
        if let local { (localHigh, localLow, _) = Self.raw(local.storage) }
    }

    /// The address of an `AF_INET` or `AF_INET6` `storage` as two words, and its port as stored.
    private static func raw(_ storage: sockaddr_storage) -> (high: UInt64, low: UInt64, port: UInt16) {
        withUnsafeBytes(of: storage) { raw in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let value = raw.loadUnaligned(as: sockaddr_in.self)
                return (0, UInt64(value.sin_addr.s_addr), value.sin_port)
            case AF_INET6:
                let value = raw.loadUnaligned(as: sockaddr_in6.self)
                return withUnsafeBytes(of: value.sin6_addr) { bytes in
                    (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                     bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self), value.sin6_port)
                }
            default:
                return (0, 0, 0)
            }
        }
    }
}

extension DatagramBatch {
    /// The flow key of datagram `index`: its sender and, with `withLocalAddress`, the local
    /// address it was sent to.
    func flowKey(_ index: Int, withLocalAddress: Bool) -> FlowKey {
        FlowKey(sender(index), local: withLocalAddress ? localAddress(index) : nil)
    }
}
