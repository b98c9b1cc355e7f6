#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `mkdir -p`: each missing directory of `path` is made with `mode`; ones already there stay
/// as they are.
///
/// - Throws: ``SystemCallError`` naming the component that could not be made.
public func makeDirectories(_ path: String, mode: mode_t) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
        prefix += component
        if mkdir(prefix, mode) != 0 {
            let error = Errno.current
            guard error == .fileExists else { throw SystemCallError(error, call: "mkdir", subject: prefix) }
        }
        prefix += "/"
    }
}
