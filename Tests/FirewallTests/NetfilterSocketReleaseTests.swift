@testable import Firewall
import NetCore
import Testing

/// The exit hand-off waits out a grace period only in a process that opened a netfilter
/// socket; a libnftables context is one.
struct NetfilterSocketReleaseTests {
    @Test func aLibnftablesContextCountsAsANetfilterSocket() throws {
        _ = try LibNftables()
        #expect(BackgroundRelease.holdsNetfilterSockets)
    }
}
