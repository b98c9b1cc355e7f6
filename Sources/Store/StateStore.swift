import NetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// netctl's state database: one file, `netctl.db`, in the state directory, opened with the
/// tables of the modules the caller names migrated to their current versions.
///
/// Not `Sendable`, like the ``Database`` it wraps; open one per process (or per thread).
public final class StateStore {
    /// The database file's name inside the state directory.
    public static let fileName = "netctl.db"
    /// Used when neither the caller nor `NETCTL_STATE_DIR` names a directory.
    public static let defaultDirectory = "/var/lib/netctl"

    /// `$NETCTL_STATE_DIR` when set and not empty, else ``defaultDirectory``.
    public static var configuredDirectory: String {
        if let value = getenv("NETCTL_STATE_DIR"), value.pointee != 0 { return String(cString: value) }
        return defaultDirectory
    }

    public let database: Database
    public let directory: String

    /// The full path of the database file.
    public var path: String { database.path }

    /// Opens the store in `directory` (created, mode 0700, if missing), migrating it if needed.
    ///
    /// - Parameters:
    ///   - directory: the state directory; ``configuredDirectory`` when `nil`. The CNI
    ///     `host-local` plugin passes its `dataDir` here.
    ///   - schema: the modules whose tables this process uses (each module's `schema`).
    ///   - busyTimeoutMilliseconds: how long to wait for another process's write lock.
    ///   - synchronous: `NORMAL` unless a caller needs commits to survive power loss.
    /// - Throws: ``SystemCallError`` when the directory cannot be made, ``SQLiteError`` otherwise.
    public init(
        directory: String? = nil, schema: [SchemaModule], busyTimeoutMilliseconds: Int32 = 10_000,
        synchronous: Database.Synchronous = .normal
    ) throws {
        let directory = directory ?? Self.configuredDirectory
        // Mode 0700: state holds container IDs, which are nobody else's business. A directory
        // already there (a tmpfs mounted 0755, an older install) is made 0700 too, when it
        // is ours and holds nothing but the store (never a shared one such as /tmp). One
        // `stat` when it is already so, as it is for every call but the first.
        if !Self.isPrivateDirectory(directory) {
            try makeDirectories(directory, mode: 0o700)
            Self.restrict(directory)
        }
        PhaseTrace.mark("store directory checked")
        self.directory = directory
        let trimmed = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        database = try Database(
            path: "\(trimmed)/\(Self.fileName)", busyTimeoutMilliseconds: busyTimeoutMilliseconds,
            synchronous: synchronous)
        PhaseTrace.mark("store: connection set up")
        try database.migrate(schema)
        PhaseTrace.mark("schema checked")
    }

    /// Whether `directory` exists, is ours and is closed to everyone else.
    private static func isPrivateDirectory(_ directory: String) -> Bool {
        var info = stat()
        return stat(directory, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid() && info.st_mode & 0o077 == 0
    }

    private static func restrict(_ directory: String) {
        var info = stat()
        guard stat(directory, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o077 != 0,
              let entries = opendir(directory) else { return }
        defer { closedir(entries) }
        while let entry = readdir(entries) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name == "." || name == ".." || name.hasPrefix(fileName) else { return }
        }
        chmod(directory, info.st_mode & ~0o077)
    }
}
