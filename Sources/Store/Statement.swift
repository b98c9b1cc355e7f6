import CSQLite
import NetCore

/// A prepared statement. The ``Database`` caches these by SQL text, so a hot path pays for
/// parsing once per process.
///
/// Not `Sendable`: it belongs to the connection that prepared it.
public final class Statement {
    let handle: OpaquePointer
    public let sql: String

    init(connection: OpaquePointer, sql: String) throws {
        var prepared: OpaquePointer?
        let result = sqlite3_prepare_v3(
            connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard result == SQLITE_OK, let prepared else {
            throw SQLiteError(connection: connection, code: result, context: sql)
        }
        handle = prepared
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs, so Swift buffers may go away.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func check(_ result: Int32) throws {
        guard result == SQLITE_OK else {
            throw SQLiteError(connection: sqlite3_db_handle(handle), code: result, context: sql)
        }
    }

    /// Resets the statement and binds `values` to parameters 1, 2, ...
    ///
    /// - Throws: ``SQLiteError`` when a value cannot be bound.
    public func bind(_ values: [SQLValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .integer(let number):
                try check(sqlite3_bind_int64(handle, index, number))
            case .text(let text):
                try check(sqlite3_bind_text(handle, index, text, -1, Self.transient))
            case .blob(let bytes):
                try check(bytes.withUnsafeBytes {
                    sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), Self.transient)
                })
            case .null:
                try check(sqlite3_bind_null(handle, index))
            }
        }
    }

    /// Advances to the next row; returns `false` when the statement is done.
    ///
    /// - Throws: ``SQLiteError`` (the statement is reset, releasing its locks).
    public func step() throws -> Bool {
        try FaultInjection.check(.sqlite)
        let result = sqlite3_step(handle)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(connection: sqlite3_db_handle(handle), code: result, context: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Binds `values` and runs the statement to completion, ignoring any rows.
    public func run(_ values: [SQLValue] = []) throws {
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    /// Binds `values` and maps every row through `row`.
    public func rows<T>(_ values: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        try bind(values)
        defer { sqlite3_reset(handle) }
        var result: [T] = []
        while try step() { result.append(try row(self)) }
        return result
    }

    /// Binds `values` and maps the first row, if any.
    public func firstRow<T>(_ values: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> T? {
        try bind(values)
        defer { sqlite3_reset(handle) }
        return try step() ? try row(self) : nil
    }

    /// Resets the statement so it no longer holds a read snapshot.
    public func reset() { sqlite3_reset(handle) }

    // MARK: Columns of the current row (0-based)

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func text(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: text)
    }

    public func blob(_ column: Int32) -> [UInt8] {
        // sqlite3_column_blob first, then _bytes: the order SQLite documents as safe.
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}
