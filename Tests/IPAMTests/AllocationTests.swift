import IPAM
import NetCore
import Testing

@Suite struct AllocationTests {
    @Test func theFirstLeaseIsTheFirstAddressAfterTheGateway() throws {
        try withAllocator { allocator, _ in
            let leases = try allocator.allocate(key: key("c1"), rangeSets: [rangeSet("10.0.0.0/24")])
            #expect(leases.map(\.address.description) == ["10.0.0.2/24"])
            #expect(leases.first?.gateway == (try ip("10.0.0.1")))
        }
    }

    @Test func anIPv6PoolHandsOutAddressesWithTheSubnetsPrefix() throws {
        try withAllocator { allocator, _ in
            let first = try allocator.allocate(key: key("c1"), rangeSets: [rangeSet("fd00:1::/64")])
            let second = try allocator.allocate(key: key("c2"), rangeSets: [rangeSet("fd00:1::/64")])
            #expect(first.map(\.address.description) == ["fd00:1::2/64"])
            #expect(second.map(\.address.description) == ["fd00:1::3/64"])
        }
    }

    @Test func oneCallGivesADualStackContainerOneAddressFromEachRangeSet() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/64")]
            let leases = try allocator.allocate(key: key("c1"), rangeSets: sets)
            #expect(addresses(leases) == ["10.0.0.2", "fd00::2"])
            #expect(try allocator.leases(for: key("c1")) == leases)
        }
    }

    @Test func allocatingAgainForTheSameKeyReturnsTheSameLease() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/64")]
            let first = try allocator.allocate(key: key("c1"), rangeSets: sets)
            let again = try allocator.allocate(key: key("c1"), rangeSets: sets)
            #expect(first == again)
            #expect(try allocator.leases(network: "net").count == 2)
            let otherInterface = try allocator.allocate(key: key("c1", "eth1"), rangeSets: sets)
            #expect(addresses(otherInterface) == ["10.0.0.3", "fd00::3"])
        }
    }

    @Test func allocationContinuesAfterTheLastAddressSoAFreedOneIsNotReusedAtOnce() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            _ = try allocator.allocate(key: key("a"), rangeSets: sets)  // .2
            try allocator.release(key: key("a"))
            let next = try allocator.allocate(key: key("b"), rangeSets: sets)
            #expect(addresses(next) == ["10.0.0.3"])
        }
    }

    @Test func allocationWrapsRoundToFreedAddressesAndNeverGivesOutTheBroadcast() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/29")]  // .2 ... .6 usable
            var handedOut: [String] = []
            for index in 0..<5 { handedOut += addresses(try allocator.allocate(key: key("c\(index)"), rangeSets: sets)) }
            #expect(handedOut == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"])
            try allocator.release(key: key("c1"))
            try allocator.release(key: key("c3"))
            #expect(addresses(try allocator.allocate(key: key("x"), rangeSets: sets)) == ["10.0.0.3"])
            #expect(addresses(try allocator.allocate(key: key("y"), rangeSets: sets)) == ["10.0.0.5"])
        }
    }

    @Test func roundRobinMovesAcrossTheRangesOfASet() throws {
        try withAllocator { allocator, _ in
            let set = try RangeSet([
                AddressRange(subnet: cidr("10.0.0.0/24"), start: ip("10.0.0.10"), end: ip("10.0.0.11")),
                AddressRange(subnet: cidr("10.0.1.0/24"), start: ip("10.0.1.10"), end: ip("10.0.1.10")),
            ])
            var handedOut: [String] = []
            for index in 0..<3 { handedOut += addresses(try allocator.allocate(key: key("c\(index)"), rangeSets: [set])) }
            #expect(handedOut == ["10.0.0.10", "10.0.0.11", "10.0.1.10"])
            try allocator.release(key: key("c0"))
            #expect(addresses(try allocator.allocate(key: key("d"), rangeSets: [set])) == ["10.0.0.10"])
        }
    }

    @Test func reservedAddressesAndAGatewayInsideTheRangeAreSkipped() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24", start: "10.0.0.10", end: "10.0.0.14", gateway: "10.0.0.11",
                                     reserved: ["10.0.0.12", "10.0.0.13"])]
            let first = try allocator.allocate(key: key("a"), rangeSets: sets)
            let second = try allocator.allocate(key: key("b"), rangeSets: sets)
            #expect(addresses(first + second) == ["10.0.0.10", "10.0.0.14"])
            #expect(networkError { _ = try allocator.allocate(key: key("c"), rangeSets: sets) }?.code == .exhausted)
        }
    }

    @Test(arguments: [("192.0.2.0/31", ["192.0.2.0", "192.0.2.1"]), ("2001:db8::/127", ["2001:db8::", "2001:db8::1"])])
    func bothAddressesOfAPointToPointSubnetAreHandedOut(subnet: String, expected: [String]) throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet(subnet)]
            let first = try allocator.allocate(key: key("a"), rangeSets: sets)
            let second = try allocator.allocate(key: key("b"), rangeSets: sets)
            #expect(addresses(first + second) == expected)
            #expect(first.first?.gateway == nil)
            #expect(networkError { _ = try allocator.allocate(key: key("c"), rangeSets: sets) }?.code == .exhausted)
        }
    }

    @Test func aFullPoolNamesTheNetworkTheRangeAndItsCapacity() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/30")]  // one usable address: .2 (.1 is the gateway)
            _ = try allocator.allocate(key: key("a", network: "blue"), rangeSets: sets)
            let error = networkError { _ = try allocator.allocate(key: key("b", network: "blue"), rangeSets: sets) }
            #expect(error?.code == .exhausted)
            #expect(error?.message == "network \"blue\" has no free address in range set 10.0.0.0/30 (10.0.0.1-10.0.0.2): "
                + "all 1 usable addresses are leased")
        }
    }

    @Test func aFailureInTheSecondRangeSetLeavesNothingLeasedInTheFirst() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/126")]  // fd00::2, ::3
            _ = try allocator.allocate(key: key("a"), rangeSets: sets)
            _ = try allocator.allocate(key: key("b"), rangeSets: sets)
            #expect(networkError { _ = try allocator.allocate(key: key("c"), rangeSets: sets) }?.code == .exhausted)
            #expect(try allocator.leases(for: key("c")).isEmpty)
            #expect(try allocator.leases(network: "net").count == 4)
        }
    }

    @Test func theSameAddressMayBeLeasedOnceInEachNetwork() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            let red = try allocator.allocate(key: key("a", network: "red"), rangeSets: sets)
            let blue = try allocator.allocate(key: key("a", network: "blue"), rangeSets: sets)
            #expect(addresses(red) == addresses(blue))
        }
    }

    @Test func aRequestedAddressIsHonouredAndDoesNotMoveTheRoundRobin() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/64")]
            let leases = try allocator.allocate(key: key("a"), rangeSets: sets, requested: [ip("fd00::99"), ip("10.0.0.50")])
            #expect(addresses(leases) == ["10.0.0.50", "fd00::99"])
            #expect(addresses(try allocator.allocate(key: key("b"), rangeSets: sets)) == ["10.0.0.2", "fd00::2"])
        }
    }

    @Test func aRequestedAddressHeldByAnotherContainerIsRefusedNamingTheHolder() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            _ = try allocator.allocate(key: key("a"), rangeSets: sets, requested: [ip("10.0.0.50")])
            let error = networkError { _ = try allocator.allocate(key: key("b"), rangeSets: sets, requested: [ip("10.0.0.50")]) }
            #expect(error?.code == .alreadyExists)
            #expect(error?.message == "requested address 10.0.0.50 on network \"net\" is already leased to container a interface eth0")
        }
    }

    @Test(arguments: [
        ("10.0.0.1", "is the gateway of 10.0.0.0/24"),
        ("10.0.0.7", "is reserved in 10.0.0.0/24"),
        ("10.0.1.5", "is not inside any range"),
    ])
    func aRequestedAddressThatCannotBeHadIsRefusedWithAReason(address: String, reason: String) throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24", reserved: ["10.0.0.7"])]
            let error = networkError { _ = try allocator.allocate(key: key("a"), rangeSets: sets, requested: [ip(address)]) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("invalid requested address \"\(address)\": \(reason)") == true)
        }
    }

    @Test func requestingADifferentAddressForAKeyThatHoldsOneIsRefused() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            _ = try allocator.allocate(key: key("a"), rangeSets: sets)
            let error = networkError { _ = try allocator.allocate(key: key("a"), rangeSets: sets, requested: [ip("10.0.0.9")]) }
            #expect(error?.message.contains("already holds 10.0.0.2") == true)
            #expect(addresses(try allocator.allocate(key: key("a"), rangeSets: sets, requested: [ip("10.0.0.2")])) == ["10.0.0.2"])
        }
    }

    @Test func overlappingRangeSetsAreRefused() throws {
        try withAllocator { allocator, _ in
            let error = networkError {
                _ = try allocator.allocate(key: key("a"), rangeSets: [rangeSet("10.0.0.0/24"), rangeSet("10.0.0.0/25")])
            }
            #expect(error?.message.hasPrefix("invalid ranges") == true)
        }
    }
}
