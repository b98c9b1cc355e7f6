/// One step of the schema: SQL that takes the database from `version - 1` to `version`.
///
/// The version lives in `PRAGMA user_version`, which SQLite stores in the file header, so it
/// changes atomically with the tables in the same transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension Database {
    /// Applies the migrations newer than the file's `user_version`, in order, in one transaction.
    ///
    /// The common case — already up to date — only reads the header, without the write lock.
    ///
    /// - Throws: ``SQLiteError``; `NetworkError`-free on purpose, as a failure here is a bug or
    ///   a newer netctl's database, both worth SQLite's own message.
    public func migrate(_ migrations: [Migration]) throws {
        let latest = migrations.map(\.version).max() ?? 0
        if try userVersion() == latest { return }
        try immediateTransaction {
            let current = try userVersion()
            guard current <= latest else {
                throw SQLiteError(
                    code: 0, message: "schema version \(current) is newer than this netctl knows (\(latest))",
                    context: "migrate \(path)")
            }
            for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
                do {
                    try execute(migration.sql)
                } catch let error as SQLiteError {
                    throw SQLiteError(
                        code: error.code, message: error.message,
                        context: "migration \(migration.version) (\(migration.name))")
                }
                try execute("PRAGMA user_version = \(migration.version)")
            }
        }
    }
}
