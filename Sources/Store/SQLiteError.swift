import CSQLite

/// An error from SQLite, with its extended result code and its own message kept intact, plus
/// what we were doing when it failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_PRIMARYKEY`, ...).
    public let code: Int32
    /// `sqlite3_errmsg` at the time of the failure.
    public let message: String
    /// The statement or operation that failed.
    public let context: String

    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// Reads the code and message from `connection` right after a failed call.
    init(connection: OpaquePointer?, code: Int32, context: String) {
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? sqlite3_errstr(code).map { String(cString: $0) } ?? "error \(code)"
        self.init(code: code, message: message, context: context)
    }

    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, ...).
    public var primaryCode: Int32 { code & 0xFF }

    /// Another connection holds the lock and the busy timeout ran out.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    /// A UNIQUE, PRIMARY KEY or CHECK constraint refused the change.
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }

    /// The statement names a table the file does not have: the module that owns it never ran
    /// against this store (a process reading another module's table finds it empty, as it were).
    public var isMissingTable: Bool { primaryCode == SQLITE_ERROR && message.hasPrefix("no such table") }

    public var description: String { "sqlite error \(code) (\(message)) in \(context)" }
}
