import Foundation
import Testing

/// A command waiting (up to 10 s) for a store another process has locked: Ctrl-C ends the
/// wait at once, and the command ends by the signal with nothing made; without one it says
/// the store is busy (exit 5).
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct BusyStoreTests {
    /// Holds the store's write lock until `release()`: `sqlite3` in an open `BEGIN IMMEDIATE`.
    final class LockHolder {
        let process = Process()
        let input = Pipe()

        init(database: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [database]
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE; INSERT INTO store_meta VALUES ('held', 'yes');\n".utf8))
        }

        func release() {
            input.fileHandleForWriting.write(Data("ROLLBACK;\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test func ctrlCEndsTheWaitForABusyStore() throws {
        let directory = NSTemporaryDirectory() + "netctl-busy-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = ["NETCTL_STATE_DIR": directory]
        #expect(try netctl(["network", "ls"], environment: environment).status == 0)
        let holder = try LockHolder(database: directory + "/netctl.db")
        usleep(300_000)
        let started = Date()
        let create = try RunningNetctl(["network", "create", "busy1", "--subnet", "10.161.0.0/24"], environment: environment,
                                       defaultSignals: true)
        usleep(500_000)
        create.signal(SIGINT)
        let ended = create.wait()
        let waited = Date().timeIntervalSince(started)
        holder.release()
        // Without the fix it waits out the 10 s busy timeout, then fails.
        #expect(waited < 5, "netctl waited \(waited) s after Ctrl-C")
        #expect(ended.status == SIGINT, "\(ended.status) \(ended.stderr)")
        #expect(try netctl(["network", "ls", "--format", "json"], environment: environment).stdout == "[]")
    }
}
