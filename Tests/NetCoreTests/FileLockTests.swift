import Glibc
import NetCore
import Testing

private struct BodyFailed: Error {}

/// A lock file path of its own for each test; removed when the test is done.
private struct TemporaryPath: ~Copyable {
    let path = "/tmp/netctl-filelock-test-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    deinit { unlink(path) }
}

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// flock(2) locks belong to the open file description, so two `FileLock`s on one path in one
/// process exclude each other just as two processes would.
@Suite struct FileLockTests {
    @Test func createsTheLockFileOwnerReadWriteOnly() throws {
        let temporary = TemporaryPath()
        let lock = try FileLock(path: temporary.path)
        #expect(lock.path == temporary.path)
        var info = stat()
        #expect(stat(temporary.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_mode & S_IFMT == S_IFREG)
    }

    @Test func secondInstanceCannotTakeTheLockUntilTheFirstUnlocks() throws {
        let temporary = TemporaryPath()
        let first = try FileLock(path: temporary.path)
        let second = try FileLock(path: temporary.path)
        try first.lock()
        #expect(try second.tryLock() == false)
        #expect(try second.tryLock() == false)
        first.unlock()
        #expect(try second.tryLock() == true)
        #expect(try first.tryLock() == false)
        second.unlock()
        #expect(try first.tryLock() == true)
        first.unlock()
    }

    @Test func tryLockAgainOnTheHoldingInstanceSucceeds() throws {
        let temporary = TemporaryPath()
        let lock = try FileLock(path: temporary.path)
        #expect(try lock.tryLock())
        #expect(try lock.tryLock())
        lock.unlock()
    }

    @Test func withLockHoldsTheLockForTheBodyAndReturnsItsValue() throws {
        let temporary = TemporaryPath()
        let first = try FileLock(path: temporary.path)
        let second = try FileLock(path: temporary.path)
        let heldInside = try first.withLock { try second.tryLock() == false }
        #expect(heldInside)
        #expect(try second.tryLock(), "released after the body returned")
        second.unlock()
        #expect(try first.withLock { 42 } == 42)
    }

    @Test func withLockReleasesWhenTheBodyThrows() throws {
        let temporary = TemporaryPath()
        let first = try FileLock(path: temporary.path)
        let second = try FileLock(path: temporary.path)
        #expect(throws: BodyFailed.self) {
            try first.withLock { () throws -> Void in
                #expect(try second.tryLock() == false)
                throw BodyFailed()
            }
        }
        #expect(try second.tryLock(), "released after the body threw")
        second.unlock()
    }

    @Test func droppingTheLockReleasesIt() throws {
        let temporary = TemporaryPath()
        let other = try FileLock(path: temporary.path)
        do {
            let holder = try FileLock(path: temporary.path)
            try holder.lock()
            withExtendedLifetime(holder) {
                #expect((try? other.tryLock()) == false)
            }
        }
        #expect(try other.tryLock(), "closing the descriptor released the lock")
        other.unlock()
    }

    @Test func lockBlocksUntilTheHolderUnlocks() async throws {
        let temporary = TemporaryPath()
        let path = temporary.path
        let first = try FileLock(path: path)
        try first.lock()
        let waiter = Task.detached { () throws -> UInt64 in
            let second = try FileLock(path: path)
            try second.lock()
            defer { second.unlock() }
            return monotonicNanoseconds()
        }
        usleep(200_000)
        let released = monotonicNanoseconds()
        first.unlock()
        let acquired = try await waiter.value
        #expect(acquired >= released, "the waiter got the lock only after it was released")
        withExtendedLifetime(temporary) {}
    }

    @Test func unopenablePathThrowsNamingIt() {
        let path = "/nonexistent-netctl-test-dir/lock"
        let error = #expect(throws: SystemCallError.self) { try FileLock(path: path) }
        #expect(error?.call == "open")
        #expect(error?.subject == path)
        #expect(error?.errno == .noSuchFileOrDirectory)
    }
}
