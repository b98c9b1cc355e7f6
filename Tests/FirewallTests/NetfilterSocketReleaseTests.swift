#if canImport(Glibc)
import Glibc
#endif
@testable import Firewall
import Testing

/// Which descriptors the hand-off gives to its child: netfilter netlink sockets only.
struct NetfilterSocketReleaseTests {
    @Test func onlyNetfilterNetlinkSocketsAreHandedOff() throws {
        let netfilter = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12) // NETLINK_NETFILTER
        let route = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) // NETLINK_ROUTE
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { for descriptor in [netfilter, route] + pipeEnds { close(descriptor) } }
        try #require(netfilter >= 0 && route >= 0)

        let open = NetfilterSocketRelease.openDescriptors()
        #expect(Set([netfilter, route] + pipeEnds).isSubset(of: Set(open)))
        // Other tests of this process may hold netfilter sockets of their own at the same time.
        let handedOff = Set(open.filter(NetfilterSocketRelease.isNetfilterSocket))
        #expect(handedOff.contains(netfilter))
        #expect(handedOff.isDisjoint(with: [route] + pipeEnds))
    }
}
