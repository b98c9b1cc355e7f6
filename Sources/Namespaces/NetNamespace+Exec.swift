#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import NetCore

extension NetNamespace {
    /// Moves this whole process into the network namespace at `path`, as `nsenter --net`
    /// does before it execs a command. Only for a process about to exec with no other work
    /// in it: everywhere else, ``run(_:)`` switches a throwaway thread instead.
    ///
    /// - Throws: ``NetworkError`` whose code tells why (see ``openError(_:_:)`` and
    ///   ``joinError(_:_:)``).
    public static func enterForExec(path: String) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw openError(path, Errno.current) }
        defer { close(descriptor) }
        guard cnetlink_setns(descriptor, CNETLINK_CLONE_NEWNET) == 0 else { throw joinError(path, Errno.current) }
    }

    /// Why the namespace file could not be opened.
    public static func openError(_ path: String, _ error: Errno) -> NetworkError {
        let code: NetworkError.Code = switch error {
        case .noSuchFileOrDirectory, Errno(rawValue: ENOTDIR): .notFound
        case .permissionDenied, .notPermitted: .permissionDenied
        default: .system
        }
        return NetworkError(code: code, message: "cannot open network namespace \"\(path)\"", cause: error)
    }

    /// Why `setns` refused: EINVAL is a file that is not a network namespace (a bad value),
    /// EPERM a lack of privilege; anything else is a system error.
    public static func joinError(_ path: String, _ error: Errno) -> NetworkError {
        switch error {
        case .invalidArgument:
            NetworkError(code: .invalidArgument, message: "invalid network namespace path \"\(path)\": is not a network namespace", cause: error)
        case .notPermitted, .permissionDenied:
            NetworkError(code: .permissionDenied, message: "cannot join network namespace \"\(path)\" (needs CAP_SYS_ADMIN)", cause: error)
        default:
            NetworkError(code: .system, message: "cannot join network namespace \"\(path)\"", cause: error)
        }
    }
}
