import IPAM
import NetCore
import Store
import Testing

@Suite struct LeaseLifecycleTests {
    @Test func releasingByKeyFreesEveryAddressOfTheKeyAndIsIdempotent() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/64")]
            let leases = try allocator.allocate(key: key("a"), rangeSets: sets)
            #expect(try allocator.release(key: key("a")) == leases)
            #expect(try allocator.release(key: key("a")).isEmpty)
            #expect(try allocator.release(key: key("never-existed")).isEmpty)
            #expect(try allocator.leases(network: "net").isEmpty)
        }
    }

    @Test func releasingOneInterfaceKeepsTheContainersOtherInterfaces() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            _ = try allocator.allocate(key: key("a", "eth0"), rangeSets: sets)
            let kept = try allocator.allocate(key: key("a", "eth1"), rangeSets: sets)
            try allocator.release(key: key("a", "eth0"))
            #expect(try allocator.leases(network: "net") == kept)
        }
    }

    @Test func gcReleasesEveryLeaseNotInTheValidSetAndReportsThem() throws {
        try withAllocator { allocator, _ in
            let sets = [try rangeSet("10.0.0.0/24")]
            let live = try allocator.allocate(key: key("live"), rangeSets: sets)
            let dead = try allocator.allocate(key: key("dead"), rangeSets: sets)
            let otherNetwork = try allocator.allocate(key: key("x", network: "other"), rangeSets: sets)
            let freed = try allocator.gc(network: "net", valid: [key("live")])
            #expect(freed == dead)
            #expect(try allocator.leases(network: "net") == live)
            #expect(try allocator.leases(network: "other") == otherNetwork)
            #expect(try allocator.gc(network: "net", valid: [key("live")]).isEmpty)
        }
    }

    @Test func leasesSurviveReopeningTheStoreInTheSameBoot() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sets = [try rangeSet("10.0.0.0/24")]
        let leases = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: "boot-a")
            .allocate(key: key("a"), rangeSets: sets)
        let reopened = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: "boot-a")
        #expect(reopened.reclaimedLeases.isEmpty)
        #expect(try reopened.leases(network: "net") == leases)
        #expect(addresses(try reopened.allocate(key: key("b"), rangeSets: sets)) == ["10.0.0.3"])
    }

    @Test func leasesOfAnEarlierBootAreReclaimedOnOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sets = [try rangeSet("10.0.0.0/24"), try rangeSet("fd00::/64")]
        let old = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: "boot-a")
        let stale = try old.allocate(key: key("a"), rangeSets: sets)
            + old.allocate(key: key("b", network: "other"), rangeSets: sets)

        let rebooted = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: "boot-b")
        #expect(Set(rebooted.reclaimedLeases) == Set(stale))
        #expect(try rebooted.leases(network: "net").isEmpty)
        let fresh = try rebooted.allocate(key: key("c"), rangeSets: sets)
        let again = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]), bootID: "boot-b")
        #expect(again.reclaimedLeases.isEmpty)
        #expect(try again.leases(network: "net") == fresh)
    }

    @Test func theRealBootIDIsReadFromProc() throws {
        let bootID = try BootID.current()
        #expect(bootID.count == 36)
        #expect(try BootID.current() == bootID)
    }

    @Test func theStoreCreatesItsDirectoryAndOneDatabaseFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try StateStore(directory: directory.path + "/nested/state", schema: [AddressAllocator.schema])
        #expect(store.path == directory.path + "/nested/state/netctl.db")
        #expect(try store.database.moduleVersions()["ipam"] == AddressAllocator.schema.latestVersion)
    }
}
