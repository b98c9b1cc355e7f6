import Foundation
import IPAM
import NetCore
import Store
import Testing

/// Many processes on one database: the guarantees that matter most, tested the way they are
/// used — by separate processes that share nothing but the file.
@Suite(.serialized) struct MultiProcessTests {
    @Test(.timeLimit(.minutes(1)))
    func sixteenProcessesChurningOneSmallPoolNeverShareAnAddressAndLoseNone() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let markers = directory.path + "/markers"
        try FileManager.default.createDirectory(atPath: markers, withIntermediateDirectories: true)
        let pool = ["10.9.0.0/24", "10.9.0.10", "10.9.0.33"]  // 24 addresses; 16 workers hold up to 48
        let sets = [try rangeSet(pool[0], start: pool[1], end: pool[2])]
        // Create and migrate the file once, so the workers race on leases, not on the schema.
        let store = try StateStore(directory: directory.path, schema: [AddressAllocator.schema])
        let allocator = try AddressAllocator(store: store)

        let workers = try (0..<16).map { worker in
            try StressProcess(["churn", directory.path, "net"] + pool + ["\(worker)", "200", markers])
        }
        var held: [String: String] = [:]  // address -> holder
        for worker in workers {
            let output = try worker.finish()
            #expect(!output.contains("DUPLICATE"), "a duplicate address: \(output)")
            for line in output.split(separator: "\n") {
                let fields = line.split(separator: " ").map(String.init)
                if fields.first == "HELD", fields.count == 4 {
                    #expect(held.updateValue("\(fields[2])/\(fields[3])", forKey: fields[1]) == nil,
                            "\(fields[1]) is held by two workers")
                }
            }
        }
        // Every address is accounted for: the database holds exactly what the workers say they
        // hold, and the rest of the pool can still be handed out, once each.
        let stored = try allocator.leases(network: "net")
        #expect(Dictionary(uniqueKeysWithValues: stored.map {
            ($0.address.address.description, "\($0.key.containerID)/\($0.key.interface)")
        }) == held)
        let rest = try fillPool(allocator, sets)
        #expect(Set(rest).count == rest.count)
        #expect(Set(rest).isDisjoint(with: held.keys))
        #expect(held.count + rest.count == 24)
        #expect(try store.database.integrityCheck() == ["ok"])
    }

    @Test(.timeLimit(.minutes(1)))
    func processesKilledMidAllocationLeaveASoundDatabaseThatGCReturnsToItsLiveLeases() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let pool = ["10.8.0.0/27", "10.8.0.2", "10.8.0.17"]  // 16 addresses
        let sets = [try rangeSet(pool[0], start: pool[1], end: pool[2])]
        let allocator = try AddressAllocator(store: StateStore(directory: directory.path, schema: [AddressAllocator.schema]))
        let liveKeys = try (0..<3).map { try key("live\($0)") }
        var live: [Lease] = []
        for liveKey in liveKeys { live += try allocator.allocate(key: liveKey, rangeSets: sets) }

        var generator = SystemRandomNumberGenerator()
        var roundsThatLeftLeasesBehind = 0
        for round in 0..<40 {
            let workers = try (0..<4).map { worker in
                try StressProcess(["crash", directory.path, "net"] + pool + ["\(round)-\(worker)"])
            }
            for worker in workers {
                usleep(UInt32.random(in: 5_000...50_000, using: &generator))
                worker.kill()
            }
            for worker in workers { worker.waitForExit() }

            let checkerStore = try StateStore(directory: directory.path, schema: [AddressAllocator.schema])
            let checker = try AddressAllocator(store: checkerStore)
            #expect(try checkerStore.database.integrityCheck() == ["ok"])
            let leases = try checker.leases(network: "net")
            #expect(Set(leases.map(\.address)).count == leases.count, "an address is held twice")
            #expect(leases.allSatisfy { sets[0].contains($0.address.address) })
            let freed = try checker.gc(network: "net", valid: Set(liveKeys))
            #expect(freed.allSatisfy { $0.key.containerID.hasPrefix("w\(round)-") }, "round \(round): \(freed)")
            roundsThatLeftLeasesBehind += freed.isEmpty ? 0 : 1
            #expect(try checker.leases(network: "net") == live, "round \(round)")
        }
        // The workers really were killed mid-work: most rounds left leases for GC to free.
        #expect(roundsThatLeftLeasesBehind > 10)
        let rest = try fillPool(allocator, sets)
        #expect(rest.count == 13)
        #expect(Set(rest + addresses(live)).count == 16)
    }
}

/// Allocates until the pool says it is exhausted; returns the addresses handed out.
private func fillPool(_ allocator: AddressAllocator, _ sets: [RangeSet]) throws -> [String] {
    var handedOut: [String] = []
    for index in 0..<1_000 {
        do {
            handedOut += addresses(try allocator.allocate(key: key("fill\(index)"), rangeSets: sets))
        } catch let error as NetworkError where error.code == .exhausted {
            return handedOut
        }
    }
    Issue.record("the pool never filled up")
    return handedOut
}
