import Foundation
import NameService
import NetCore
import Store
import Testing

/// The names in the store, and the count of their changes the resolver looks at after every
/// commit before it reads them all again.
struct NameTablesTests {
    static func withStore(_ body: (StateStore) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.path + "/netctl-names-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(try StateStore(directory: directory, schema: [NameTables.schema]))
    }

    @Test func everyWriteToTheNamesChangesTheGenerationAndNothingElseDoes() throws {
        try Self.withStore { store in
            let tables = NameTables(database: store.database)
            var seen = try #require(try tables.generation())
            func changed() throws -> Bool {
                let now = try #require(try tables.generation())
                defer { seen = now }
                return now != seen
            }
            let network = NameNetwork(key: "netctl:web", listen: [IPAddress("10.55.0.1")!], subnets: [CIDR("10.55.0.0/24")!])
            try tables.upsert(network)
            #expect(try changed())
            try tables.upsert(network) // a replace
            #expect(try changed())
            try tables.replace(owner: "a/eth0", on: network.key, names: ["a", "www"], addresses: [IPAddress("10.55.0.2")!])
            #expect(try changed())
            // Whoever writes the rows, with SQL of its own too.
            try store.database.execute("INSERT INTO dns_records (network, owner, name, address) VALUES ('netctl:web', 'x', 'x', '10.55.0.9')")
            #expect(try changed())
            try store.database.execute("UPDATE dns_records SET address = '10.55.0.8' WHERE owner = 'x'")
            #expect(try changed())
            // Commits that touch no name leave it.
            try store.database.execute("INSERT INTO store_meta (key, value) VALUES ('unrelated', '1')")
            try store.database.execute("CREATE TABLE other (a INTEGER); INSERT INTO other (a) VALUES (1)")
            #expect(try !changed())
            try tables.removeRecords(owner: "a/eth0")
            #expect(try changed())
            try tables.removeRecords(owner: "nobody")
            #expect(try !changed())
            try tables.removeNetwork(network.key)
            #expect(try changed())

            let snapshot = try tables.snapshot()
            #expect(snapshot.generation == seen)
            #expect(snapshot.networks.isEmpty && snapshot.records.isEmpty)
        }
    }

    @Test func aSnapshotReadsTheNamesWithTheirGeneration() throws {
        try Self.withStore { store in
            let tables = NameTables(database: store.database)
            try tables.upsert(NameNetwork(key: "netctl:web", listen: [IPAddress("10.55.0.1")!], subnets: [CIDR("10.55.0.0/24")!]))
            try tables.replace(owner: "a/eth0", on: "netctl:web", names: ["A"], addresses: [IPAddress("10.55.0.2")!, IPAddress("fd55::2")!])
            let snapshot = try tables.snapshot()
            #expect(snapshot.generation == (try tables.generation()))
            #expect(snapshot.networks.map(\.key) == ["netctl:web"])
            #expect(Set(snapshot.records.map { "\($0.name) \($0.address)" }) == ["a 10.55.0.2", "a fd55::2"])
            #expect(!store.database.isInTransaction)
        }
    }
}
