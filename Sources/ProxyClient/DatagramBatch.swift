#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

/// Room for a batch of UDP datagrams with their lengths and addresses, so one `recvmmsg` and
/// one `sendmmsg` move many datagrams: one syscall per datagram is what caps docker-proxy.
///
/// On a wildcard listener each datagram also carries the local address it was sent to (a
/// control message each way), so the reply can leave from that address.
///
/// The memory is reserved once; pages are only touched as large datagrams arrive. Here rather
/// than with the proxy server because the resolver (`netctl-dns`) reads and answers its
/// queries in batches too, and links this module but not the server.
public final class DatagramBatch {
    /// Datagrams per batch.
    public let capacity: Int
    /// Bytes per datagram slot: the largest UDP payload fits.
    public let slotSize = 65536
    let buffers: UnsafeMutablePointer<UInt8>
    let lengths: UnsafeMutablePointer<Int>
    let addresses: UnsafeMutablePointer<sockaddr_storage>
    let addressLengths: UnsafeMutablePointer<socklen_t>
    /// The local address each received datagram was sent to, or the one each sent datagram
    /// leaves from; `AF_UNSPEC` for none.
    let localAddresses: UnsafeMutablePointer<sockaddr_storage>

    public init(capacity: Int = 32) {
        self.capacity = capacity
        buffers = .allocate(capacity: capacity * slotSize)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: sockaddr_storage(), count: capacity)
        addressLengths = .allocate(capacity: capacity)
        addressLengths.initialize(repeating: 0, count: capacity)
        localAddresses = .allocate(capacity: capacity)
        localAddresses.initialize(repeating: sockaddr_storage(), count: capacity)
    }

    deinit {
        buffers.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        addressLengths.deallocate()
        localAddresses.deallocate()
    }

    /// Receives up to ``capacity`` datagrams from `fd`, with their senders when `withAddresses`,
    /// and the local addresses they were sent to when `withLocalAddresses` (which needs a
    /// socket made by ``Socket/listener(for:)`` for a wildcard address).
    /// Returns how many arrived; 0 when none are waiting or the socket failed.
    public func receive(from fd: Int32, withAddresses: Bool, withLocalAddresses: Bool = false) -> Int {
        while true {
            let count = withLocalAddresses
                ? cportproxy_receive_batch_local(fd, buffers, slotSize, lengths, withAddresses ? addresses : nil,
                                                 localAddresses, UInt32(capacity))
                : cportproxy_receive_batch(fd, buffers, slotSize, lengths,
                                           withAddresses ? addresses : nil, UInt32(capacity))
            if count >= 0 { return Int(count) }
            if errno == EINTR { continue }
            // ECONNREFUSED reports an ICMP error for an earlier datagram; the next call reads on.
            if errno == ECONNREFUSED { continue }
            return 0
        }
    }

    /// The sender of datagram `index`, as ``receive(from:withAddresses:)`` stored it.
    public func sender(_ index: Int) -> SocketAddress {
        SocketAddress(storage: addresses[index])
    }

    /// The local address datagram `index` was sent to, as ``receive(from:withAddresses:withLocalAddresses:)``
    /// stored it; `nil` when it carried none.
    public func localAddress(_ index: Int) -> SocketAddress? {
        localAddresses[index].ss_family == sa_family_t(AF_UNSPEC) ? nil : SocketAddress(storage: localAddresses[index])
    }

    /// Sends datagrams `range` on the connected socket `fd`. What the socket cannot take now is
    /// dropped, as the network could have.
    public func send(_ range: Range<Int>, to fd: Int32) {
        send(range, to: fd, addressed: false, withSource: false)
    }

    /// Datagram `index` as received: its bytes.
    public func datagram(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers + index * slotSize, count: lengths[index])
    }

    /// The whole slot of datagram `index`, to write one into (then ``setDatagram(_:length:destination:)``).
    public func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: buffers + index * slotSize, count: slotSize)
    }

    /// Datagram `index` is the first `length` bytes of its slot, for `destination`.
    public func setDatagram(_ index: Int, length: Int, destination: SocketAddress) {
        lengths[index] = length
        addresses[index] = destination.storage
        addressLengths[index] = destination.length
    }

    /// Sends datagrams `range` from `fd`, each to the destination set with it.
    public func send(_ range: Range<Int>, from fd: Int32) {
        send(range, to: fd, addressed: true, withSource: false)
    }

    /// Sends datagrams `range` from `fd` to `destination`, from the local address `source` when
    /// one is given (for a socket bound to a wildcard address), else from the one the kernel picks.
    public func send(_ range: Range<Int>, from fd: Int32, to destination: SocketAddress, source: SocketAddress? = nil) {
        for index in range {
            addresses[index] = destination.storage
            addressLengths[index] = destination.length
            if let source { localAddresses[index] = source.storage }
        }
        send(range, to: fd, addressed: true, withSource: source != nil)
    }

    private func send(_ range: Range<Int>, to fd: Int32, addressed: Bool, withSource: Bool) {
        var next = range.lowerBound
        while next < range.upperBound {
            let count = UInt32(range.upperBound - next)
            let sent = withSource
                ? cportproxy_send_batch_from(fd, buffers + next * slotSize, slotSize, lengths + next, addresses + next,
                                             addressLengths + next, localAddresses + next, count)
                : cportproxy_send_batch(fd, buffers + next * slotSize, slotSize, lengths + next,
                                        addressed ? addresses + next : nil, addressed ? addressLengths + next : nil, count)
            if sent > 0 {
                next += Int(sent)
            } else if sent < 0 && errno == EINTR {
                continue
            } else {
                // Full socket buffer (EAGAIN) or an error for this datagram: drop it, send on.
                next += 1
            }
        }
    }
}
