#if canImport(Glibc)
import Glibc
#endif
import NameService
import NetCore
import Testing

/// The forwarding sockets on loopback: a kept socket serves the next query from another random
/// port, and nothing that reached it before comes out after.
struct UpstreamSocketsTests {
    /// A UDP socket bound to a free port of `address`: the stand-in upstream.
    final class Server {
        let descriptor: Int32
        let address: SocketAddress

        init(_ address: IPAddress) throws {
            let descriptor = try systemCall("socket") { socket(address.family == .v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0) }
            self.descriptor = descriptor
            var bound = SocketAddress(address, port: 0)
            try systemCall("bind") { bound.withSockaddr { bind(descriptor, $0, $1) } }
            var length = bound.length
            try systemCall("getsockname") {
                withUnsafeMutablePointer(to: &bound.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
            }
            self.address = bound
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(descriptor) }

        /// The next datagram and the port it came from.
        func receive() throws -> (bytes: [UInt8], port: UInt16) {
            var buffer = [UInt8](repeating: 0, count: 512)
            var sender = SocketAddress()
            let count = try systemCall("recvfrom") {
                buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &sender.storage) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &sender.length) }
                    }
                }
            }
            return (Array(buffer[..<count]), sender.endpoint?.port ?? 0)
        }

        func send(_ bytes: [UInt8], toPort port: UInt16, of address: IPAddress) {
            _ = bytes.withUnsafeBytes { raw in SocketAddress(address, port: port).withSockaddr { sendto(descriptor, raw.baseAddress, raw.count, 0, $0, $1) } }
        }
    }

    static func read(_ descriptor: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return count < 0 ? nil : Array(buffer[..<count])
    }

    /// The inode of the file `descriptor` names now, or `nil` when it names none.
    static func inode(_ descriptor: Int32) -> UInt? {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? UInt(status.st_ino) : nil
    }

    static func send(_ bytes: [UInt8], on descriptor: Int32) -> Int {
        bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
    }

    @Test func aKeptSocketAsksFromANewPortEachTime() throws {
        let loopback = IPAddress("127.0.0.1")!
        let server = try Server(loopback)
        let sockets = UpstreamSockets()
        var ports: Set<UInt16> = []
        var descriptors: Set<Int32> = []
        for round in 0..<8 {
            let lease = try #require(sockets.connected(to: server.address))
            #expect(lease.isNew == (round == 0), "only the first query needs a new socket")
            descriptors.insert(lease.descriptor)
            #expect(Self.send([UInt8(round)], on: lease.descriptor) == 1)
            let (bytes, port) = try server.receive()
            #expect(bytes == [UInt8(round)])
            ports.insert(port)
            // The answer comes back to the port it was asked from.
            server.send([0xA0 + UInt8(round)], toPort: port, of: loopback)
            usleep(2_000)
            #expect(Self.read(lease.descriptor) == [0xA0 + UInt8(round)])
            sockets.release(lease.descriptor)
        }
        #expect(descriptors.count == 1)
        // Random ports out of thousands: eight in a row with a repeat would be a broken release.
        #expect(ports.count == 8, "ports: \(ports.sorted())")
        #expect(sockets.kept == 1 && sockets.inUse == 0)
    }

    @Test func nothingThatArrivedBeforeTheReleaseIsReadAfterIt() throws {
        let loopback = IPAddress("127.0.0.1")!
        let server = try Server(loopback)
        let sockets = UpstreamSockets()
        let first = try #require(sockets.connected(to: server.address))
        #expect(Self.send([1], on: first.descriptor) == 1)
        let oldPort = try server.receive().port
        // Two datagrams wait unread when the query ends (a late duplicate, a forged answer).
        server.send([0xEE], toPort: oldPort, of: loopback)
        server.send([0xEF], toPort: oldPort, of: loopback)
        usleep(2_000)
        sockets.release(first.descriptor)
        let second = try #require(sockets.connected(to: server.address))
        #expect(second.descriptor == first.descriptor && !second.isNew)
        // Sent to the old port after the release: that port is no longer the socket's.
        server.send([0xF0], toPort: oldPort, of: loopback)
        usleep(2_000)
        #expect(Self.read(second.descriptor) == nil, "the queue was emptied and the old port let go")
        #expect(Self.send([2], on: second.descriptor) == 1)
        let newPort = try server.receive().port
        #expect(newPort != oldPort)
        server.send([0xA2], toPort: newPort, of: loopback)
        usleep(2_000)
        #expect(Self.read(second.descriptor) == [0xA2])
        sockets.release(second.descriptor)
    }

    @Test func anUpstreamThatRefusedLeavesNoErrorBehind() throws {
        let loopback = IPAddress("127.0.0.1")!
        let closedPort: SocketAddress
        do {
            let gone = try Server(loopback)
            closedPort = gone.address
        }
        let server = try Server(loopback)
        let sockets = UpstreamSockets()
        let refused = try #require(sockets.connected(to: closedPort))
        #expect(Self.send([1], on: refused.descriptor) == 1)
        usleep(2_000)
        sockets.release(refused.descriptor)
        let next = try #require(sockets.connected(to: server.address))
        #expect(next.descriptor == refused.descriptor)
        #expect(Self.send([2], on: next.descriptor) == 1, "the port unreachable of the query before does not fail this one")
        #expect(try server.receive().bytes == [2])
        sockets.release(next.descriptor)
    }

    @Test func keepsAtMostItsLimitAndSeparatesFamilies() throws {
        let server = try Server(IPAddress("127.0.0.1")!)
        let sockets = UpstreamSockets(limit: 2)
        let leases = try (0..<4).map { _ in try #require(sockets.connected(to: server.address)) }
        #expect(Set(leases.map(\.descriptor)).count == 4 && sockets.inUse == 4)
        let inodes = leases.map { Self.inode($0.descriptor) }
        leases.forEach { sockets.release($0.descriptor) }
        #expect(sockets.kept == 2 && sockets.inUse == 0)
        // Past the limit the socket is closed: its number is free, or (tests run side by side)
        // already another file's.
        for (lease, inode) in zip(leases[2...], inodes[2...]) {
            #expect(Self.inode(lease.descriptor) != inode, "the socket past the limit is closed")
        }
        // Releasing twice or a descriptor never lent changes nothing.
        sockets.release(leases[0].descriptor)
        #expect(sockets.kept == 2)

        guard let server6 = try? Server(IPAddress("::1")!) else { return } // no IPv6 loopback here
        let v6 = try #require(sockets.connected(to: server6.address))
        #expect(v6.isNew, "an IPv4 socket does not serve an IPv6 upstream")
        #expect(Self.send([6], on: v6.descriptor) == 1)
        #expect(try server6.receive().bytes == [6])
        sockets.release(v6.descriptor)
        #expect(sockets.kept == 3)
    }
}
