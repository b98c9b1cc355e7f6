import Glibc

/// A namespace name no other test (or run) uses.
func uniqueNamespaceName(_ role: String) -> String {
    "nstest-\(role)-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
}

/// Whether anything exists at `path` (without following a final symlink).
func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}
