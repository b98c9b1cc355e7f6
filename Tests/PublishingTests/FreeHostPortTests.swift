import Foundation
import NetCore
@testable import Publishing
import Testing

/// Host port 0 (Docker's `-p 80`): a port no record publishes and nothing is bound to.
struct FreeHostPortTests {
    /// A TCP listener on a port the kernel chose, on loopback; closed by the caller.
    func listener() throws -> (descriptor: Int32, port: UInt16) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && listen(descriptor, 1) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        try #require(bound)
        return (descriptor, UInt16(bigEndian: address.sin_port))
    }

    @Test func aBoundPortIsPassedOver() throws {
        let (descriptor, port) = try listener()
        defer { close(descriptor) }
        #expect(!FreeHostPort.isFree(port, .tcp, hostIP: IPAddress("127.0.0.1")))
        // UDP is another space: the TCP listener does not hold it.
        #expect(FreeHostPort.isFree(port, .udp, hostIP: IPAddress("127.0.0.1")))
        let chosen = try FreeHostPort.choose(.tcp, hostIP: IPAddress("127.0.0.1"), from: port...(port &+ 1)) { _ in false }
        #expect(chosen == port &+ 1)
    }

    @Test func aPublishedPortIsPassedOverAndNoneLeftIsAnError() throws {
        let chosen = try FreeHostPort.choose(.tcp, hostIP: nil, from: 40000...40002) { $0 != 40001 }
        #expect(chosen == 40001)
        #expect(throws: NetworkError.self) { try FreeHostPort.choose(.udp, hostIP: nil, from: 40000...40002) { _ in true } }
    }

    @Test func theEphemeralRangeIsTheKernels() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let fields = text.split(whereSeparator: \.isWhitespace).compactMap { UInt16($0) }
        try #require(fields.count == 2)
        #expect(FreeHostPort.ephemeralRange() == fields[0]...fields[1])
    }
}
