#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// The few file operations the runtime needs, on plain libc: this module links into static
/// plugin binaries, so no Foundation.
enum RuntimeFiles {
    /// The whole file.
    ///
    /// - Throws: ``FileError`` naming the path.
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw FileError(path: path, operation: "read", errno: errno) }
            guard count > 0 else { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }

    /// The names in `directory`, sorted, without `.` and `..`.
    static func list(_ directory: String) throws -> [String] {
        guard let stream = opendir(directory) else { throw FileError(path: directory, operation: "opendir", errno: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `mkdir -p` with `mode` for the directories it creates.
    static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        do {
            try NetCore.makeDirectories(path, mode: mode)
        } catch let error as SystemCallError {
            throw FileError(path: error.subject, operation: "mkdir", errno: error.errno.rawValue)
        }
    }

    /// Writes through a temporary file in the same directory, synced and renamed over `path`,
    /// so a reader sees the old content or the new, never a torn one.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError(path: temporary, operation: "open", errno: errno) }
        var failure: FileError?
        var offset = 0
        while offset < bytes.count, failure == nil {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { failure = FileError(path: temporary, operation: "write", errno: errno) } else { offset += written }
        }
        if failure == nil, fsync(fd) != 0 { failure = FileError(path: temporary, operation: "fsync", errno: errno) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = FileError(path: path, operation: "rename", errno: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// Removes `path`; a file that is already gone is fine.
    static func remove(_ path: String) throws {
        if unlink(path) != 0, errno != ENOENT { throw FileError(path: path, operation: "unlink", errno: errno) }
    }
}

/// A failed file operation, naming the path; a ``CNIError`` code 5 when it reaches a caller.
struct FileError: Error {
    let path: String
    let operation: String
    let errno: Int32

    var isNotFound: Bool { errno == ENOENT }

    var cniError: CNIError {
        CNIError(.ioFailure, "cannot \(operation) \(path)", details: Errno(rawValue: errno).description)
    }
}
