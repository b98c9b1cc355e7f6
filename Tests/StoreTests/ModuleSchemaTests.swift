import Foundation
import Store
import Testing

/// Each module migrates its own tables, and a file of the single store-wide schema (1 to 10)
/// is taken over without running a step twice.
@Suite struct ModuleSchemaTests {
    let leases = SchemaModule(name: "leases", migrations: [
        Migration(version: 1, name: "leases", legacyVersion: 1, sql: "CREATE TABLE leases (a INTEGER)"),
        Migration(version: 2, name: "lease owner", legacyVersion: 3, sql: "ALTER TABLE leases ADD COLUMN owner TEXT"),
        Migration(version: 3, name: "lease index", sql: "CREATE INDEX leases_by_owner ON leases (owner)"),
    ])
    let rules = SchemaModule(name: "rules", migrations: [
        Migration(version: 1, name: "rules", legacyVersion: 2, sql: "CREATE TABLE rules (a INTEGER)"),
    ])

    private func withDatabase(_ body: (Database) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.path + "/netctl-schema-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(try Database(path: directory + "/test.db"))
    }

    private func tables(_ database: Database) throws -> Set<String> {
        Set(try database.statement("SELECT name FROM sqlite_master WHERE type = 'table'").rows { $0.text(0) })
    }

    @Test func aProcessCreatesOnlyTheTablesOfTheModulesItLinks() throws {
        try withDatabase { database in
            try database.migrate([leases])
            #expect(try tables(database) == ["store_meta", "store_schema", "leases"])
            #expect(try database.moduleVersions() == ["store": 1, "leases": 3])
            try database.migrate([rules, leases])
            #expect(try tables(database) == ["store_meta", "store_schema", "leases", "rules"])
            #expect(try database.moduleVersions() == ["store": 1, "leases": 3, "rules": 1])
            try database.migrate([leases])  // the other module's tables stay
            #expect(try tables(database).contains("rules"))
        }
    }

    @Test func aFileOfTheStoreWideSchemaIsTakenOverAtTheVersionItHad() throws {
        try withDatabase { database in
            // What netctl's schema 2 left: store_meta, leases' first step, rules.
            try database.execute("""
                CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;
                CREATE TABLE leases (a INTEGER);
                CREATE TABLE rules (a INTEGER);
                INSERT INTO store_meta (key, value) VALUES ('boot_id', 'b');
                PRAGMA user_version = 2;
                """)
            try database.migrate([leases])
            #expect(try database.userVersion() == Database.moduleSchemaFormat)
            #expect(try database.moduleVersions() == ["legacy": 2, "store": 1, "leases": 3])
            #expect(try database.statement("SELECT count(*) FROM pragma_table_info('leases') WHERE name = 'owner'").firstRow { $0.int64(0) } == 1)
            // A module migrated later still reads its version from the legacy row: no step twice.
            try database.migrate([leases, rules])
            #expect(try database.moduleVersions()["rules"] == 1)
            #expect(try database.statement("SELECT value FROM store_meta WHERE key = 'boot_id'").firstRow { $0.text(0) } == "b")
        }
    }

    @Test func aCurrentFileIsCheckedWithoutTheWriteLock() throws {
        try withDatabase { database in
            try database.migrate([leases, rules])
            try database.execute("BEGIN IMMEDIATE")  // as if another process were writing
            defer { try? database.execute("ROLLBACK") }
            let reader = try Database(path: database.path, busyTimeoutMilliseconds: 1)
            try reader.migrate([leases, rules])
            #expect(throws: SQLiteError.self) { try reader.migrate([leases, rules, SchemaModule(name: "new", migrations: [
                Migration(version: 1, name: "new", sql: "CREATE TABLE new (a INTEGER)"),
            ])]) }
        }
    }
}
