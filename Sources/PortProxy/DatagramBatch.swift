#if canImport(Glibc)
import NetCore
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy

/// Room for a batch of UDP datagrams with their lengths and addresses, so one `recvmmsg` and
/// one `sendmmsg` move many datagrams: one syscall per datagram is what caps docker-proxy.
///
/// The memory is reserved once; pages are only touched as large datagrams arrive.
final class DatagramBatch {
    /// Datagrams per batch.
    let capacity: Int
    /// Bytes per datagram slot: the largest UDP payload fits.
    let slotSize = 65536
    let buffers: UnsafeMutablePointer<UInt8>
    let lengths: UnsafeMutablePointer<Int>
    let addresses: UnsafeMutablePointer<sockaddr_storage>
    let addressLengths: UnsafeMutablePointer<socklen_t>

    init(capacity: Int = 32) {
        self.capacity = capacity
        buffers = .allocate(capacity: capacity * slotSize)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: sockaddr_storage(), count: capacity)
        addressLengths = .allocate(capacity: capacity)
        addressLengths.initialize(repeating: 0, count: capacity)
    }

    deinit {
        buffers.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        addressLengths.deallocate()
    }

    /// Receives up to ``capacity`` datagrams from `fd`, with their senders when `withAddresses`.
    /// Returns how many arrived; 0 when none are waiting or the socket failed.
    func receive(from fd: Int32, withAddresses: Bool) -> Int {
        while true {
            let count = cportproxy_receive_batch(fd, buffers, slotSize, lengths,
                                                 withAddresses ? addresses : nil, UInt32(capacity))
            if count >= 0 { return Int(count) }
            if errno == EINTR { continue }
            // ECONNREFUSED reports an ICMP error for an earlier datagram; the next call reads on.
            if errno == ECONNREFUSED { continue }
            return 0
        }
    }

    /// The sender of datagram `index`, as ``receive(from:withAddresses:)`` stored it.
    func sender(_ index: Int) -> SocketAddress {
        SocketAddress(storage: addresses[index])
    }

    /// Sends datagrams `range` on the connected socket `fd`. What the socket cannot take now is
    /// dropped, as the network could have.
    func send(_ range: Range<Int>, to fd: Int32) {
        send(range, to: fd, addressed: false)
    }

    /// Sends datagrams `range` from `fd` to `destination`.
    func send(_ range: Range<Int>, from fd: Int32, to destination: SocketAddress) {
        for index in range {
            addresses[index] = destination.storage
            addressLengths[index] = destination.length
        }
        send(range, to: fd, addressed: true)
    }

    private func send(_ range: Range<Int>, to fd: Int32, addressed: Bool) {
        var next = range.lowerBound
        while next < range.upperBound {
            let sent = cportproxy_send_batch(fd, buffers + next * slotSize, slotSize, lengths + next,
                                             addressed ? addresses + next : nil, addressed ? addressLengths + next : nil,
                                             UInt32(range.upperBound - next))
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
