import Foundation
import Store
import Testing

/// The store is nobody else's business: its files 0600 in a 0700 directory.
struct StateFileModeTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    func scratch() -> String {
        NSTemporaryDirectory() + "netctl-modes-\(UUID().uuidString)"
    }

    @Test func aNewStoreIs0600FilesInA0700Directory() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try StateStore(directory: directory, schema: [testSchema])
        try store.database.execute("INSERT INTO t VALUES (1)")
        #expect(mode(directory) == 0o700)
        for suffix in ["", "-wal", "-shm"] {
            #expect(mode(store.path + suffix) == 0o600, "\(suffix)")
        }
    }

    @Test func aDirectoryHoldingOnlyTheStoreIsTightenedAndASharedOneIsLeftAlone() throws {
        let own = scratch(), shared = scratch()
        defer {
            try? FileManager.default.removeItem(atPath: own)
            try? FileManager.default.removeItem(atPath: shared)
        }
        for directory in [own, shared] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false) }
        chmod(own, 0o755)
        chmod(shared, 0o755)
        #expect(FileManager.default.createFile(atPath: shared + "/somebody-elses", contents: Data()))
        _ = try StateStore(directory: own, schema: [testSchema])
        _ = try StateStore(directory: shared, schema: [testSchema])
        #expect(mode(own) == 0o700)
        #expect(mode(shared) == 0o755)
        #expect(mode(shared + "/netctl.db") == 0o600)
    }
}
