import IPAM
import NetCore
import Testing

@Suite struct AddressRangeTests {
    @Test func anIPv4SubnetSkipsTheNetworkAndBroadcastAddressesAndDefaultsTheGatewayToTheFirstHost() throws {
        let range = try AddressRange(subnet: cidr("10.0.0.0/24"))
        #expect(range.start == (try ip("10.0.0.1")))
        #expect(range.end == (try ip("10.0.0.254")))
        #expect(range.gateway == (try ip("10.0.0.1")))
        #expect(range.capacity == 253)
    }

    @Test func anIPv6SubnetSkipsOnlyTheSubnetRouterAnycastAddress() throws {
        let range = try AddressRange(subnet: cidr("2001:db8::/120"))
        #expect(range.start == (try ip("2001:db8::1")))
        #expect(range.end == (try ip("2001:db8::ff")))
        #expect(range.gateway == (try ip("2001:db8::1")))
        #expect(range.capacity == 254)
    }

    @Test(arguments: ["192.0.2.0/31", "2001:db8::/127"])
    func aPointToPointSubnetHasTwoUsableAddressesAndNoGateway(subnet: String) throws {
        let range = try AddressRange(subnet: cidr(subnet))
        #expect(range.start == (try cidr(subnet)).networkAddress)
        #expect(range.end == (try cidr(subnet)).lastAddress)
        #expect(range.gateway == nil)
        #expect(range.capacity == 2)
    }

    @Test(arguments: ["192.0.2.7/32", "2001:db8::7/128"])
    func aSingleHostSubnetHasOneUsableAddress(subnet: String) throws {
        let range = try AddressRange(subnet: cidr(subnet))
        #expect(range.capacity == 1)
        #expect(range.gateway == nil)
    }

    @Test func anExplicitRangeAndReservedAddressesShrinkTheCapacity() throws {
        let range = try AddressRange(
            subnet: cidr("10.0.0.0/24"), start: ip("10.0.0.10"), end: ip("10.0.0.19"),
            gateway: ip("10.0.0.1"), reserved: [ip("10.0.0.12"), ip("10.0.0.100")])
        #expect(range.capacity == 9)
        #expect(range.description == "10.0.0.0/24 (10.0.0.10-10.0.0.19)")
    }

    @Test func aGatewayInsideTheRangeIsNotCounted() throws {
        let range = try AddressRange(subnet: cidr("10.0.0.0/29"), gateway: ip("10.0.0.6"))
        #expect(range.capacity == 5)
    }

    @Test(arguments: [
        ("range start", "10.0.1.5", nil, nil),
        ("range end", nil, "10.0.1.5", nil),
        ("gateway", nil, nil, "10.0.1.1"),
        ("range start", "2001:db8::5", nil, nil),
    ] as [(String, String?, String?, String?)])
    func anAddressOutsideTheSubnetIsRefusedNamingItsField(
        field: String, start: String?, end: String?, gateway: String?
    ) throws {
        let error = networkError {
            _ = try AddressRange(
                subnet: cidr("10.0.0.0/24"), start: start.map(ip), end: end.map(ip), gateway: gateway.map(ip))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("invalid \(field) \"") == true)
        #expect(error?.message.contains("outside subnet 10.0.0.0/24") == true)
    }

    @Test func aReservedAddressOutsideTheSubnetIsRefused() throws {
        let error = networkError { _ = try AddressRange(subnet: cidr("10.0.0.0/24"), reserved: [ip("10.9.0.1")]) }
        #expect(error?.message == "invalid reserved address \"10.9.0.1\": is outside subnet 10.0.0.0/24")
    }

    @Test func aSubnetWithHostBitsIsRefused() throws {
        let error = networkError { _ = try AddressRange(subnet: cidr("10.0.0.1/24")) }
        #expect(error?.message.contains("invalid subnet \"10.0.0.1/24\"") == true)
        #expect(error?.message.contains("10.0.0.0") == true)
    }

    @Test func aStartAfterTheEndIsRefused() throws {
        let error = networkError {
            _ = try AddressRange(subnet: cidr("10.0.0.0/24"), start: ip("10.0.0.20"), end: ip("10.0.0.10"))
        }
        #expect(error?.message == "invalid range start \"10.0.0.20\": is after range end 10.0.0.10")
        // A caller names them as its input does (the CNI host-local plugin: rangeStart, rangeEnd).
        let named = networkError {
            _ = try AddressRange(subnet: cidr("10.0.0.0/24"), start: ip("10.0.0.20"), end: ip("10.0.0.10"), fields: ("rangeStart", "rangeEnd"))
        }
        #expect(named?.message == "invalid rangeStart \"10.0.0.20\": is after rangeEnd 10.0.0.10")
    }

    @Test func aRangeSetRefusesMixedFamiliesAndOverlapsAndEmptiness() throws {
        let v4 = try AddressRange(subnet: cidr("10.0.0.0/24"))
        let v6 = try AddressRange(subnet: cidr("2001:db8::/64"))
        let overlapping = try AddressRange(subnet: cidr("10.0.0.0/25"))
        #expect(networkError { _ = try RangeSet([v4, v6]) }?.message.contains("mixes IPv6 with IPv4") == true)
        #expect(networkError { _ = try RangeSet([v4, overlapping]) }?.message.contains("overlaps") == true)
        #expect(networkError { _ = try RangeSet([]) }?.code == .invalidArgument)
        let disjoint = try AddressRange(subnet: cidr("10.0.1.0/24"))
        #expect(try RangeSet([v4, disjoint]).capacity == 506)
    }
}
