import Foundation
import IPAM
import NameService
import Publishing
import Store
import Testing
@testable import NetctlModel

/// The real modules' tables: a file of the store-wide schema 1 to 10 (every netctl before the
/// modules kept their own versions) is taken over as it is, and a store the CNI binary made
/// gains the model's tables when netctl opens it.
@Suite struct StoreSchemaTests {
    private func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.path + "/netctl-schema-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    private func tables(_ database: Database) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try database.statement(
            "SELECT name, sql FROM sqlite_master WHERE name NOT IN ('store_schema') AND sql IS NOT NULL").rows { ($0.text(0), $0.text(1)) })
    }

    /// What netctl's store-wide schema `version` made: every step up to it, in its order.
    private func legacyFile(_ path: String, version: Int) throws -> Database {
        let database = try Database(path: path)
        let steps = ([Database.storeSchema] + Netctl.schema).flatMap(\.migrations)
            .filter { ($0.legacyVersion ?? .max) <= version }.sorted { ($0.legacyVersion ?? 0) < ($1.legacyVersion ?? 0) }
        for step in steps { try database.execute(step.sql) }
        try database.execute("PRAGMA user_version = \(version)")
        return database
    }

    @Test(arguments: [1, 7, 10])
    func aFileOfTheStoreWideSchemaEndsWithTheSameTablesAsANewOne(version: Int) throws {
        try withDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory + "/old", withIntermediateDirectories: true)
            _ = try legacyFile(directory + "/old/netctl.db", version: version)
            let taken = try StateStore(directory: directory + "/old", schema: Netctl.schema)
            let fresh = try StateStore(directory: directory + "/new", schema: Netctl.schema)
            #expect(try tables(taken.database) == tables(fresh.database))
            var expected = try fresh.database.moduleVersions()
            expected["legacy"] = version
            #expect(try taken.database.moduleVersions() == expected)
            #expect(try taken.database.integrityCheck() == ["ok"])
        }
    }

    @Test func aStoreTheCNIBinaryMadeHasNoModelTablesUntilNetctlOpensIt() throws {
        try withDirectory { directory in
            let cni = try StateStore(directory: directory, schema: [AddressAllocator.schema, FirewallRegistry.schema, NameTables.schema])
            #expect(try tables(cni.database)["networks"] == nil)
            #expect(try tables(cni.database)["ipam_leases"] != nil)
            let netctl = try Netctl(stateDirectory: directory)
            #expect(try tables(netctl.store.database)["networks"] != nil)
            #expect(try netctl.store.database.moduleVersions().keys.sorted() == ["docker", "firewall", "ipam", "model", "names", "overlay", "store"])
        }
    }
}
