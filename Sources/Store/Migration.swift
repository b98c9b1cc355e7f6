/// One step of one module's tables: SQL that takes them from `version - 1` to `version`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// The store-wide `user_version` this step had before each module kept its own version
    /// (netctl's schema 1 to 10), so a file of that time is read as already holding it;
    /// `nil` for steps made since.
    public let legacyVersion: Int?
    public let sql: String

    public init(version: Int, name: String, legacyVersion: Int? = nil, sql: String) {
        self.version = version
        self.name = name
        self.legacyVersion = legacyVersion
        self.sql = sql
    }
}

/// The tables one module owns and the steps that made them, registered by that module: a
/// process migrates the modules it links and nothing else. The CNI binary, which does not link
/// the `netctl` model, never creates the model's tables, and neither has to know the other's.
public struct SchemaModule: Sendable {
    /// The module's row in `store_schema`; never changes once released.
    public let name: String
    /// In order, versions 1, 2, ...; a released step is never edited.
    public let migrations: [Migration]

    public init(name: String, migrations: [Migration]) {
        self.name = name
        self.migrations = migrations
    }

    /// The newest version this build knows.
    public var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The version a file of the single store-wide schema at `legacy` holds of this module.
    func version(atLegacy legacy: Int) -> Int {
        migrations.filter { ($0.legacyVersion ?? .max) <= legacy }.map(\.version).max() ?? 0
    }
}

extension Database {
    /// `user_version` of a file whose modules keep their versions in `store_schema`. Files of
    /// netctl's single store-wide schema are at 1 to 10: this build takes them over; a build
    /// from before takes this one for a newer schema and refuses it instead of misreading it.
    public static let moduleSchemaFormat = 11

    /// Applies, in one transaction, the steps of each of `modules` newer than its version in
    /// the file, and records the new versions.
    ///
    /// The common case, every module already up to date, reads the file header and one small
    /// table without the write lock.
    ///
    /// - Throws: ``SQLiteError``; `NetworkError`-free on purpose, as a failure here is a bug or
    ///   a newer netctl's database, both worth SQLite's own message.
    public func migrate(_ modules: [SchemaModule]) throws {
        let modules = [Self.storeSchema] + modules
        if try userVersion() == Self.moduleSchemaFormat,
           try isCurrent(modules, in: moduleVersions()) { return }
        try immediateTransaction {
            let format = try userVersion()
            guard format <= Self.moduleSchemaFormat else {
                throw SQLiteError(
                    code: 0, message: "schema version \(format) is newer than this netctl knows (\(Self.moduleSchemaFormat))",
                    context: "migrate \(path)")
            }
            if format < Self.moduleSchemaFormat {
                try execute(Self.moduleVersionsTable)
                if format > 0 {
                    try statement("INSERT INTO store_schema (module, version) VALUES (?, ?)")
                        .run([.text(Self.legacyRow), .integer(Int64(format))])
                }
                try execute("PRAGMA user_version = \(Self.moduleSchemaFormat)")
            }
            let versions = try moduleVersions()
            let legacy = versions[Self.legacyRow] ?? 0
            for module in modules {
                try migrate(module, from: versions[module.name] ?? module.version(atLegacy: legacy))
            }
        }
    }

    private func migrate(_ module: SchemaModule, from current: Int) throws {
        guard current <= module.latestVersion else {
            throw SQLiteError(
                code: 0, message: "the \(module.name) tables are at version \(current), newer than this netctl knows (\(module.latestVersion))",
                context: "migrate \(path)")
        }
        for migration in module.migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            do {
                try execute(migration.sql)
            } catch let error as SQLiteError {
                throw SQLiteError(
                    code: error.code, message: error.message,
                    context: "migration \(module.name) \(migration.version) (\(migration.name))")
            }
        }
        try statement("INSERT INTO store_schema (module, version) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET version = excluded.version")
            .run([.text(module.name), .integer(Int64(module.latestVersion))])
    }

    /// Each module's version as the file records it (the legacy row included).
    public func moduleVersions() throws -> [String: Int] {
        let rows = try statement("SELECT module, version FROM store_schema").rows { ($0.text(0), Int($0.int64(1))) }
        return Dictionary(rows) { _, last in last }
    }

    private func isCurrent(_ modules: [SchemaModule], in versions: [String: Int]) -> Bool {
        modules.allSatisfy { versions[$0.name] == $0.latestVersion }
    }

    /// The row that keeps the store-wide version a file had when this build took it over.
    static let legacyRow = "legacy"

    static let moduleVersionsTable = """
        CREATE TABLE store_schema (
            module  TEXT    PRIMARY KEY,
            version INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        """

    /// The store's own table, which several modules use: `store_meta`, key/value metadata
    /// (the boot the leases belong to, the names' change count).
    public static let storeSchema = SchemaModule(name: "store", migrations: [
        Migration(version: 1, name: "store metadata", legacyVersion: 1, sql: """
            CREATE TABLE store_meta (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;
            """),
    ])
}
