#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An advisory `flock(2)` on a file, shared by every process that opens the same path.
///
/// The lock is tied to the open file description, so it is released when the lock is
/// closed, even if the process dies.
public final class FileLock {
    private let descriptor: Int32
    public let path: String

    /// Opens (and creates, mode 0600) the lock file at `path`.
    ///
    /// - Throws: ``SystemCallError`` when the file cannot be opened.
    public init(path: String) throws {
        self.path = path
        descriptor = try systemCall("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
    }

    deinit { close(descriptor) }

    /// Blocks until this process holds the lock exclusively.
    public func lock() throws {
        try systemCall("flock", path) { flock(descriptor, LOCK_EX) }
    }

    /// Takes the lock if no one else holds it; returns whether it did.
    public func tryLock() throws -> Bool {
        let result = flock(descriptor, LOCK_EX | LOCK_NB)
        if result == 0 { return true }
        let error = Errno.current
        if error == .resourceTemporarilyUnavailable { return false }
        throw SystemCallError(error, call: "flock", subject: path)
    }

    public func unlock() {
        flock(descriptor, LOCK_UN)
    }

    /// Runs `body` while holding the lock exclusively.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try lock()
        defer { unlock() }
        return try body()
    }
}
