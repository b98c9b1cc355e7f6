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

extension NetNamespace {
    /// What `ip netns exec` does besides joining the namespace: in a mount namespace of this
    /// process's own (whose mounts no longer reach the host's), each file in
    /// `/etc/netns/NAME/` is bound over its namesake in `/etc` (`resolv.conf`: the sandbox's
    /// resolver). For a process about to exec; nothing to bind is success.
    ///
    /// - Throws: ``NetworkError`` when the mount namespace cannot be made or a file bound.
    public static func bindNamespaceEtc(name: String) throws {
        let directory = "/etc/netns/\(name)"
        guard let entries = opendir(directory) else { return }
        var files: [String] = []
        while let entry = readdir(entries) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if file != ".", file != "..", !file.hasSuffix(".tmp") { files.append(file) }
        }
        closedir(entries)
        guard !files.isEmpty else { return }
        guard cnetlink_unshare(CNETLINK_CLONE_NEWNS) == 0 else {
            throw NetworkError(code: .system, message: "cannot make a mount namespace for \(directory)", cause: Errno.current)
        }
        // Slave: the binds below stay in this namespace.
        guard mount(nil, "/", nil, UInt(MS_SLAVE | MS_REC), nil) == 0 else {
            throw NetworkError(code: .system, message: "cannot make / a slave mount", cause: Errno.current)
        }
        for file in files.sorted() {
            let source = "\(directory)/\(file)", target = "/etc/\(file)"
            guard mount(source, target, nil, UInt(MS_BIND), nil) == 0 else {
                throw NetworkError(code: .system, message: "cannot bind \(source) over \(target)", cause: Errno.current)
            }
        }
    }
}
