import Foundation
import Store
import Testing

private func temporaryPath() throws -> String {
    let directory = FileManager.default.temporaryDirectory.path + "/netctl-store-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}

/// A module of the tests' own: the store knows no owner's tables.
let testSchema = SchemaModule(name: "test", migrations: [
    Migration(version: 1, name: "create", sql: "CREATE TABLE t (a INTEGER)"),
])

@Suite struct DatabaseTests {
    @Test func aNewStoreIsInWALModeWithTheModulesItWasOpenedWith() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try StateStore(directory: directory, schema: [testSchema])
        #expect(try store.database.statement("PRAGMA journal_mode").firstRow { $0.text(0) } == "wal")
        #expect(try store.database.statement("PRAGMA synchronous").firstRow { $0.int64(0) } == 1)  // NORMAL
        #expect(try store.database.userVersion() == Database.moduleSchemaFormat)
        #expect(try store.database.moduleVersions() == ["store": 1, "test": 1])
        #expect(try store.database.integrityCheck() == ["ok"])
    }

    @Test func migrationsRunOnceInOrderAndRecordTheirModulesVersion() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        let module = SchemaModule(name: "t", migrations: [
            Migration(version: 2, name: "add column", sql: "ALTER TABLE t ADD COLUMN b TEXT"),
            Migration(version: 1, name: "create", sql: "CREATE TABLE t (a INTEGER)"),
        ])
        try database.migrate([module])
        try database.migrate([module])
        #expect(try database.moduleVersions()["t"] == 2)
        try database.statement("INSERT INTO t (a, b) VALUES (?1, ?2)").run([.integer(1), .text("x")])
    }

    @Test func aFailingMigrationLeavesTheSchemaUntouchedAndNamesTheMigration() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        let module = SchemaModule(name: "t", migrations: [
            Migration(version: 1, name: "create", sql: "CREATE TABLE t (a INTEGER)"),
            Migration(version: 2, name: "broken", sql: "ALTER TABLE missing ADD COLUMN b TEXT"),
        ])
        #expect {
            try database.migrate([module])
        } throws: { error in
            guard let error = error as? SQLiteError else { return false }
            return error.context == "migration t 2 (broken)" && error.message.contains("no such table: missing")
        }
        #expect(try database.userVersion() == 0)
        #expect(try database.statement("SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'store_schema')").firstRow { $0.int64(0) } == 0)
    }

    @Test func aDatabaseFromANewerNetctlIsRefused() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        try database.execute("PRAGMA user_version = 99")
        #expect(throws: SQLiteError.self) { try database.migrate([testSchema]) }
    }

    @Test func aModuleNewerThanThisBuildIsRefusedNamingIt() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        try database.migrate([testSchema])
        try database.execute("UPDATE store_schema SET version = 5 WHERE module = 'test'")
        #expect {
            try database.migrate([testSchema])
        } throws: { error in
            (error as? SQLiteError)?.message == "the test tables are at version 5, newer than this netctl knows (1)"
        }
    }

    @Test func aThrowingTransactionRollsBackAndANestedOneJoinsTheOuter() throws {
        struct Abort: Error {}
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        try database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
        let insert = try database.statement("INSERT INTO t (a) VALUES (?1)")
        #expect(throws: Abort.self) {
            try database.immediateTransaction {
                try insert.run([.integer(1)])
                try database.immediateTransaction { try insert.run([.integer(2)]) }
                throw Abort()
            }
        }
        #expect(!database.isInTransaction)
        try database.immediateTransaction {
            try insert.run([.integer(3)])
            try database.immediateTransaction { try insert.run([.integer(4)]) }
        }
        #expect(try database.statement("SELECT a FROM t ORDER BY a").rows { $0.int64(0) } == [3, 4])
    }

    @Test func sqliteErrorsKeepSQLitesCodeAndMessage() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db")
        try database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
        let insert = try database.statement("INSERT INTO t (a) VALUES (?1)")
        try insert.run([.integer(1)])
        #expect {
            try insert.run([.integer(1)])
        } throws: { error in
            guard let error = error as? SQLiteError else { return false }
            return error.isConstraintViolation && error.code == 1555  // SQLITE_CONSTRAINT_PRIMARYKEY
                && error.message.contains("UNIQUE constraint failed: t.a")
        }
        #expect(throws: SQLiteError.self) { _ = try database.statement("SELEC nonsense") }
    }

    @Test func aSecondConnectionWaitsForTheWriteLockInsteadOfFailing() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Database(path: directory + "/test.db")
        let second = try Database(path: directory + "/test.db", busyTimeoutMilliseconds: 50)
        try first.execute("CREATE TABLE t (a INTEGER)")
        try first.execute("BEGIN IMMEDIATE")
        #expect {
            try second.immediateTransaction {}
        } throws: { error in
            (error as? SQLiteError)?.isBusy == true
        }
        try first.execute("COMMIT")
        try second.immediateTransaction { try second.execute("INSERT INTO t VALUES (1)") }
    }
}

@Suite struct StateDirectoryTests {
    @Test func netctlStateDirChoosesTheDirectoryWhenNoneIsGiven() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        setenv("NETCTL_STATE_DIR", directory + "/state", 1)
        defer { unsetenv("NETCTL_STATE_DIR") }
        #expect(StateStore.configuredDirectory == directory + "/state")
        let store = try StateStore(schema: [testSchema])
        #expect(store.path == directory + "/state/netctl.db")
    }

    @Test func theDefaultStateDirectoryIsVarLibNetctl() {
        #expect(StateStore.defaultDirectory == "/var/lib/netctl")
        #expect(StateStore.fileName == "netctl.db")
    }
}

@Suite struct WALLimitTests {
    @Test func aCommitPastTheThresholdLeavesAnEmptyWALAndKeepsEveryRow() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db", walCheckpointFrames: 8)
        try database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)")
        let insert = try database.statement("INSERT INTO t (b) VALUES (randomblob(4000))")
        var sizes: [Int] = []
        for _ in 0..<50 {
            try database.immediateTransaction { try insert.run() }
            sizes.append(try FileManager.default.attributesOfItem(atPath: directory + "/test.db-wal")[.size] as? Int ?? -1)
        }
        // Each row takes a page or two: the WAL is cut to zero every few commits, never past
        // the threshold plus one commit's frames.
        #expect(sizes.filter { $0 == 0 }.count >= 5, "\(sizes)")
        #expect(sizes.allSatisfy { $0 >= 0 && $0 <= 12 * (4096 + 24) + 32 }, "\(sizes)")
        #expect(try database.statement("SELECT count(*) FROM t").firstRow { $0.int64(0) } == 50)
    }

    @Test func anExplicitCheckpointEmptiesTheWAL() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db", walCheckpointFrames: .max)
        try database.execute("CREATE TABLE t (a INTEGER)")
        try database.execute("INSERT INTO t VALUES (1)")
        let wal = directory + "/test.db-wal"
        #expect(try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int ?? 0 > 0)
        #expect(database.checkpoint())
        #expect(try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int == 0)
    }
}

@Suite struct LongLivedWALTests {
    /// A connection that has committed many times is a long-lived process's: it checkpoints
    /// every 1 000 pages, as SQLite does by default, and the WAL it reuses stays bounded.
    @Test func aLongLivedConnectionCheckpointsLessOftenAndTheWALStaysBounded() throws {
        let directory = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory + "/test.db", walCheckpointFrames: 8)
        try database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)")
        let insert = try database.statement("INSERT INTO t (b) VALUES (randomblob(4000))")
        var largest = 0
        for _ in 0..<3_000 {
            try database.immediateTransaction { try insert.run() }
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/test.db-wal")[.size] as? Int ?? -1
            largest = max(largest, size)
        }
        #expect(largest > 12 * (4096 + 24), "checkpoints as often as a short-lived process's")
        #expect(largest <= 1_010 * (4096 + 24) + 32, "the WAL reached \(largest) bytes")
        #expect(try database.statement("SELECT count(*) FROM t").firstRow { $0.int64(0) } == 3_000)
    }
}
