#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import Namespaces
import NetCore
import ProxyClient

/// The resolver, `netctl-dns`: one per host network namespace and store, started on demand by
/// whatever first records a name (as the port proxy is) and kept by the lock it holds.
public enum ResolverProcess {
    public static let executableName = "netctl-dns"
    /// The descriptor on which a starting resolver says it is serving.
    public static let readyDescriptor: Int32 = 3

    /// The lock the running resolver holds: one per network namespace (its identity) and
    /// store (its directory), under `/run/netctl`.
    public static func lockPath(storeDirectory: String) -> String {
        let namespace = NetNamespace.Identity.of(path: "/proc/thread-self/ns/net").map { "\($0.device)-\($0.inode)" } ?? "host"
        let hash = FNV1a.hash(storeDirectory.utf8)
        return "/run/netctl/dns-\(namespace)-\(String(hash, radix: 16)).lock"
    }

    /// Whether a resolver holds the lock for this store in this namespace now.
    public static func isRunning(storeDirectory: String) -> Bool {
        let descriptor = open(lockPath(storeDirectory: storeDirectory), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Starts the resolver for `storeDirectory` unless one runs, and waits (up to a second)
    /// until it serves what the store holds. A second starter racing this one starts a
    /// resolver that finds the lock taken and exits.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when `netctl-dns` is nowhere to be found.
    public static func ensureRunning(storeDirectory: String, executable: String? = nil) throws {
        guard !isRunning(storeDirectory: storeDirectory) else { return }
        guard let executable = executable ?? locateExecutable(named: executableName) else {
            throw NetworkError(code: .notFound, message: "\(executableName) is neither beside this program nor on PATH: names will not resolve")
        }
        var ends: [Int32] = [-1, -1]
        try systemCall("pipe") { cportproxy_pipe(&ends) }
        defer { close(ends[0]) }
        let pid: pid_t
        do {
            // Its log: what it could not bind or forward.
            pid = try Spawn.startDaemon(executable, arguments: [executable, "--state-dir", storeDirectory], readyEnd: ends[1],
                                        readyDescriptor: readyDescriptor, standardError: "/run/netctl/netctl-dns.log")
        } catch let error as Errno {
            close(ends[1])
            throw NetworkError(code: .system, message: "cannot start \(executable)", cause: error)
        }
        close(ends[1])
        // Ready, or gone (the lock was taken: another resolver serves), or a second passed.
        var poller = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        _ = poll(&poller, 1, 1000)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG) // a resolver that exited at once is reaped here
    }
}
