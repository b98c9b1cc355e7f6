/// The `Store` module: netctl's durable state in one SQLite database.
///
/// It talks to the system libsqlite3 through the raw C API (the `CSQLite` target) rather than a
/// wrapper such as GRDB, because the CNI plugin is exec'd for every container: a wrapper's
/// dependencies (Foundation, Dispatch) cost start-up time on every call, while the C API costs
/// one `dlopen`-free link against a library the system already has. The module imports no
/// Foundation for the same reason.
import CSQLite
import NetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One connection to an SQLite database file, in WAL mode with a busy timeout.
///
/// Not `Sendable`: a connection is used by one thread at a time (it is opened with
/// `SQLITE_OPEN_NOMUTEX`). Each process opens its own; SQLite's file locks serialize writers
/// across processes.
///
/// The WAL is kept short by the commits themselves (see ``walCheckpointFrames``): netctl's
/// processes are short-lived and usually alone on the file, and SQLite's own auto-checkpoint
/// cannot bound the WAL for them (BENCHMARKS.md, "The store's WAL").
public final class Database {
    let connection: OpaquePointer
    public let path: String
    /// How long a writer waits for another process's write lock before giving up.
    public let busyTimeoutMilliseconds: Int32
    /// WAL frames (pages) past which a commit checkpoints the WAL and truncates it to zero,
    /// for a connection's first ``longLivedCommits`` commits.
    public let walCheckpointFrames: Int32
    /// Commits made on this connection: one with more than ``longLivedCommits`` belongs to a
    /// long-lived process (a daemon, a benchmark), which keeps the WAL index in shared memory
    /// while it runs, so SQLite restarts the WAL by itself; it checkpoints as SQLite does by
    /// default (passive, every 1 000 pages), and `journal_size_limit` keeps the file it reuses
    /// bounded. Truncating there made every commit grow the file again (13 µs more per
    /// bench-ipam cycle, see BENCHMARKS.md).
    private var commits = 0
    static let longLivedCommits = 64
    static let longLivedCheckpointFrames: Int32 = 1_000
    /// What a restarted WAL is cut back to: 1 000 pages and their headers.
    static let journalSizeLimit = 1_000 * (4_096 + 24)
    /// The polls the busy handler makes before it gives up: the busy timeout, or the short
    /// wait of a checkpoint, which a later commit retries rather than hold up this one.
    private var busyPolls: Int
    private var statements: [String: Statement] = [:]

    /// The default ``walCheckpointFrames``: 64 pages, 256 KiB. Each process rebuilds the WAL
    /// index from the whole WAL on open (about 0.55 ms per MiB here) and a checkpoint costs
    /// two fsyncs (about 1.2 ms on this VM's disk), so a short WAL is cheap to open and a
    /// checkpoint every dozen or so CNI calls is cheap to pay.
    public static let defaultWALCheckpointFrames: Int32 = 64
    /// How long a commit's checkpoint waits for other processes' readers and writers.
    static let checkpointWaitMilliseconds = 50

    /// Opens (creating if needed) the database at `path` and sets it up for shared, crash-safe use.
    ///
    /// - Parameters:
    ///   - path: the database file; its directory must exist.
    ///   - busyTimeoutMilliseconds: how long to wait for a lock held by another process.
    ///   - synchronous: `NORMAL` by default; see ``Synchronous``.
    /// - Throws: ``SQLiteError`` when the file cannot be opened or configured.
    ///   - walCheckpointFrames: see ``walCheckpointFrames``.
    public init(
        path: String, busyTimeoutMilliseconds: Int32 = 10_000, synchronous: Synchronous = .normal,
        walCheckpointFrames: Int32 = Database.defaultWALCheckpointFrames
    ) throws {
        _ = Self.pageCacheConfigured
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
            | SQLITE_OPEN_EXRESCODE
        // The file is made 0600 before SQLite opens it (SQLite would make it 0644 less the
        // umask), and its WAL and shared-memory files take their mode from it.
        let created = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if created >= 0 { close(created) }
        let result = sqlite3_open_v2(path, &opened, flags, nil)
        guard result == SQLITE_OK, let opened else {
            let error = SQLiteError(connection: opened, code: result, context: "open \(path)")
            sqlite3_close_v2(opened)
            throw error
        }
        connection = opened
        PhaseTrace.mark("store: file opened")
        self.path = path
        self.busyTimeoutMilliseconds = max(busyTimeoutMilliseconds, 1)
        self.walCheckpointFrames = max(walCheckpointFrames, 1)
        busyPolls = Int(self.busyTimeoutMilliseconds)  // about 1 ms per poll on average
        installBusyHandler()
        // A CNI plugin process opens, commits once and exits: the checkpoint SQLite runs when
        // the last connection closes would fsync on every call. Commits in the WAL are already
        // durable; the commits' own checkpoint keeps the WAL bounded.
        csqlite_skip_checkpoint_on_close(opened)
        installWALLimit()
        do {
            // Switching to WAL needs a brief exclusive lock the first time; retry like any write.
            try retryingWhileBusy {
                try execute("PRAGMA journal_mode = WAL")
                PhaseTrace.mark("store: WAL opened, its index rebuilt")
                try execute("PRAGMA journal_size_limit = \(Self.journalSizeLimit)")
                try execute("PRAGMA synchronous = \(synchronous.rawValue)")
            }
        } catch {
            statements = [:]
            sqlite3_close_v2(opened)
            throw error
        }
    }

    deinit {
        statements = [:]
        sqlite3_close_v2(connection)
    }

    /// The page cache takes memory page by page, once per process before the first open (see
    /// `csqlite_page_cache_without_bulk_allocation`): what a CNI call keeps private is what it read.
    private static let pageCacheConfigured: Bool = csqlite_page_cache_without_bulk_allocation() == SQLITE_OK

    /// How hard SQLite syncs to disk at commit.
    ///
    /// In WAL mode `NORMAL` syncs only at checkpoints: a committed transaction survives any
    /// process crash (`SIGKILL` included), and the file is never corrupted, but the last few
    /// transactions before a power loss or kernel panic may be rolled back. For leases that is
    /// harmless — after a power loss the machine reboots and every lease of the old boot is
    /// reclaimed anyway — so it buys a commit without `fsync`. `FULL` syncs the WAL on every
    /// commit for state that must survive power loss.
    public enum Synchronous: String, Sendable {
        case normal = "NORMAL"
        case full = "FULL"
    }

    /// SQLite's own busy timeout backs off up to 100 ms per sleep, so under many-process
    /// contention a waiter sleeps long after the lock is free. This handler polls every
    /// 0.5–1.5 ms (jittered so waiters do not wake in lockstep) until the timeout.
    /// The context is this object, unretained: the connection never outlives it. A process
    /// told to stop while it waits (`netctl` holds SIGINT and friends back while it works)
    /// stops waiting at once, as long as it has written nothing yet: the statement fails as
    /// busy and the command ends with nothing made. Once it has written (a reservation, say),
    /// it waits as usual, so that what it made is finished or undone, never left half.
    private func installBusyHandler() {
        sqlite3_busy_handler(connection, { context, attempts in
            guard let context else { return 0 }
            let database = Unmanaged<Database>.fromOpaque(context).takeUnretainedValue()
            guard Int(attempts) < database.busyPolls, !database.stopsWaiting else { return 0 }
            usleep(500 + UInt32.random(in: 0..<1000))
            return 1
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// A termination signal waits and this connection has changed no row yet.
    var stopsWaiting: Bool { sqlite3_total_changes64(connection) == 0 && Self.isTerminationPending() }

    /// Whether SIGINT, SIGTERM, SIGHUP or SIGQUIT waits for this process (held back while it
    /// works).
    static func isTerminationPending() -> Bool {
        var pending = sigset_t()
        guard sigpending(&pending) == 0 else { return false }
        return [SIGINT, SIGTERM, SIGHUP, SIGQUIT].contains { sigismember(&pending, $0) == 1 }
    }

    /// Replaces SQLite's auto-checkpoint with one that truncates. Why: each process opens the
    /// file alone, so it rebuilds the WAL index (the `-shm` file) from the WAL, and with it
    /// forgets how far the last checkpoint got. SQLite restarts the WAL from its start only
    /// when it knows every frame was checkpointed, so under exec-per-call use the WAL grew
    /// forever and every process read all of it. A TRUNCATE checkpoint leaves an empty WAL,
    /// which nothing has to remember.
    private func installWALLimit() {
        sqlite3_wal_hook(connection, { context, _, schema, frames in
            guard let context else { return SQLITE_OK }
            let database = Unmanaged<Database>.fromOpaque(context).takeUnretainedValue()
            database.commits += 1
            if database.commits <= Database.longLivedCommits {
                if frames >= database.walCheckpointFrames { _ = database.checkpoint(schema: schema) }
            } else if frames >= max(Database.longLivedCheckpointFrames, database.walCheckpointFrames) {
                sqlite3_wal_checkpoint_v2(database.connection, schema, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK  // the commit has happened whatever the checkpoint says
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Copies the WAL into the database file and truncates the WAL to zero bytes, waiting
    /// briefly for other processes' transactions to end. Crash-safe at every point: the WAL
    /// is cut only after the database file holds (and has synced) every frame.
    ///
    /// - Returns: whether the WAL was truncated; `false` when another process kept it busy
    ///   (a later commit tries again) or on an I/O error.
    @discardableResult
    public func checkpoint() -> Bool { checkpoint(schema: "main") }

    private func checkpoint(schema: UnsafePointer<CChar>?) -> Bool {
        let saved = busyPolls
        busyPolls = Self.checkpointWaitMilliseconds
        defer { busyPolls = saved }
        return sqlite3_wal_checkpoint_v2(connection, schema, SQLITE_CHECKPOINT_TRUNCATE, nil, nil) == SQLITE_OK
    }

    /// Runs one or more SQL statements that take no parameters and return no rows we need.
    ///
    /// - Throws: ``SQLiteError`` with SQLite's message.
    public func execute(_ sql: String) throws {
        try FaultInjection.check(.sqlite)
        var message: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(connection, sql, nil, nil, &message)
        guard result == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error \(result)"
            sqlite3_free(message)
            throw SQLiteError(code: sqlite3_extended_errcode(connection), message: text, context: sql)
        }
    }

    /// A prepared statement for `sql`, from the per-connection cache.
    ///
    /// - Throws: ``SQLiteError`` when `sql` does not compile.
    public func statement(_ sql: String) throws -> Statement {
        if let cached = statements[sql] { return cached }
        let prepared = try Statement(connection: connection, sql: sql)
        statements[sql] = prepared
        return prepared
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes64(connection)) }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(connection) == 0 }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so
    /// concurrent processes queue on the lock instead of failing halfway with `SQLITE_BUSY`.
    /// Commits when `body` returns and rolls back when it throws. Called inside an open
    /// transaction, `body` simply joins it, so callers can batch many operations into one commit.
    ///
    /// - Throws: whatever `body` throws, or ``SQLiteError`` (busy after the timeout, I/O).
    public func immediateTransaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction { return try body() }
        try retryingWhileBusy { try execute("BEGIN IMMEDIATE") }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Retries `body` while it fails with `SQLITE_BUSY`, until the busy timeout has passed
    /// once more. The busy handler already waits inside SQLite; this covers the cases where
    /// SQLite returns BUSY without calling it (a deadlock-avoidance refusal, a WAL recovery).
    private func retryingWhileBusy(_ body: () throws -> Void) throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(busyTimeoutMilliseconds))
        while true {
            do {
                return try body()
            } catch let error as SQLiteError where error.isBusy && clock.now < deadline && !stopsWaiting {
                usleep(1000 + UInt32.random(in: 0..<1000))
            }
        }
    }

    /// The result of `PRAGMA integrity_check`: `["ok"]` for a sound file.
    public func integrityCheck() throws -> [String] {
        try statement("PRAGMA integrity_check").rows { $0.text(0) }
    }

    /// `PRAGMA user_version`, which records the schema version.
    public func userVersion() throws -> Int {
        Int(try statement("PRAGMA user_version").firstRow { $0.int64(0) } ?? 0)
    }
}
