import IPAM
import NetCore
import Testing

@Suite struct SubnetSelectionTests {
    @Test func theFirstDefaultSubnetIsDockers() throws {
        #expect(try SubnetSelector().select(used: [], hostRoutes: [CIDR]()) == (try cidr("172.17.0.0/16")))
    }

    @Test func subnetsUsedByOtherNetworksAreSkipped() throws {
        let used = [try cidr("172.17.0.0/16"), try cidr("172.18.5.0/24")]
        #expect(try SubnetSelector().select(used: used, hostRoutes: [CIDR]()) == (try cidr("172.19.0.0/16")))
    }

    @Test func subnetsOverlappingAHostRouteAreSkippedButTheDefaultRouteIsIgnored() throws {
        let routes = [CIDR.all(.v4), try cidr("172.16.0.0/12"), try cidr("192.168.0.0/20"), try cidr("192.168.17.0/24")]
        #expect(try SubnetSelector().select(used: [], hostRoutes: routes) == (try cidr("192.168.32.0/20")))
    }

    @Test func exhaustedPoolsSaySoAndNameThePools() throws {
        let selector = SubnetSelector(pools: [try AddressPool(base: cidr("10.10.0.0/23"), size: 24)])
        let used = [try cidr("10.10.0.0/24"), try cidr("10.10.1.0/24")]
        let error = networkError { _ = try selector.select(used: used, hostRoutes: [CIDR]()) }
        #expect(error?.code == .exhausted)
        #expect(error?.message.contains("10.10.0.0/23 in /24s") == true)
    }

    @Test func ipv6PoolsAreConfigurable() throws {
        let selector = SubnetSelector(pools: [try AddressPool(base: cidr("fd00:abcd::/48"), size: 64)])
        let chosen = try selector.select(family: .v6, used: [try cidr("fd00:abcd::/64")], hostRoutes: [CIDR]())
        #expect(chosen == (try cidr("fd00:abcd:0:1::/64")))
        #expect(networkError { _ = try selector.select(family: .v4, used: [], hostRoutes: [CIDR]()) }?.code == .exhausted)
    }

    @Test func aPoolWithHostBitsOrABadSizeIsRefused() throws {
        #expect(networkError { _ = try AddressPool(base: cidr("10.0.0.1/16"), size: 24) }?.message.hasPrefix("invalid base") == true)
        #expect(networkError { _ = try AddressPool(base: cidr("10.0.0.0/16"), size: 8) }?.message.hasPrefix("invalid size") == true)
    }
}
