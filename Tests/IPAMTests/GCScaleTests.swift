@testable import IPAM
import NetCore
import Store
import Testing

/// GC reads only what it deletes, and cursors of ranges a network no longer has go.
@Suite struct GCScaleTests {
    @Test func gcOfOneStaleLeaseAmongThousandsReadsOnlyThatOne() throws {
        try withAllocator { allocator, directory in
            let sets = [try rangeSet("10.0.0.0/16")]
            var valid = Set<LeaseKey>()
            for index in 0..<3_000 {
                let holder = try key("c\(index)")
                _ = try allocator.allocate(key: holder, rangeSets: sets)
                if index != 1_234 { valid.insert(holder) }
            }
            let before = allocator.table.leasesRead.value.load(ordering: .relaxed)
            let freed = try allocator.gc(network: "net", valid: valid)
            let read = allocator.table.leasesRead.value.load(ordering: .relaxed) - before
            #expect(freed.map(\.key) == [try key("c1234")])
            #expect(read == 1, "GC read \(read) leases to free one")
            // A holder on another network in `valid` keeps nothing here.
            #expect(try allocator.gc(network: "net", valid: [try key("c1", network: "other")]).count == 2_999)
        }
    }

    @Test func cursorsOfRangesTheNetworkNoLongerHasGoAndForgetTakesTheRest() throws {
        try withAllocator { allocator, directory in
            func cursors() throws -> [String] {
                try StateStore(directory: directory.path, schema: [AddressAllocator.schema]).database.statement("SELECT range_set FROM ipam_cursors WHERE network = 'net' ORDER BY range_set")
                    .rows([]) { $0.text(0) }
            }
            _ = try allocator.allocate(key: key("a"), rangeSets: [try rangeSet("10.0.0.0/24")])
            _ = try allocator.allocate(key: key("b"), rangeSets: [try rangeSet("10.0.1.0/24")])
            #expect(try cursors() == [try rangeSet("10.0.1.0/24").description])
            _ = try allocator.allocate(key: key("x", network: "other"), rangeSets: [try rangeSet("10.9.0.0/24")])
            try allocator.forget(network: "net")
            #expect(try cursors().isEmpty)
            #expect(try allocator.leases(network: "net").isEmpty)
            #expect(try allocator.leases(network: "other").count == 1)
        }
    }
}
