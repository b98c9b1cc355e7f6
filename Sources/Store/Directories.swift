import NetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `mkdir -p` with mode 0700: state holds container IDs, which are nobody else's business.
///
/// - Throws: ``SystemCallError`` naming the component that could not be made.
func makeDirectories(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        prefix += component
        if mkdir(prefix, 0o700) != 0 {
            let error = Errno.current
            guard error == .fileExists else {
                throw SystemCallError(error, call: "mkdir", subject: prefix)
            }
        }
        prefix += "/"
    }
}
