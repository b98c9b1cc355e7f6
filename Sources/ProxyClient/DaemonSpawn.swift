#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

extension Spawn {
    /// Starts a long-lived daemon (the port proxy, the resolver): stdin and stdout on
    /// /dev/null, stderr on `standardError`, `readyEnd` as its descriptor `readyDescriptor` (on
    /// which it says it serves), nothing else of the launcher's, a session of its own (no
    /// terminal signals reach it) and the default dispositions for the termination signals (in
    /// case the launcher ignores SIGTERM; the mask is cleared for every child).
    ///
    /// - Returns: its PID.
    /// - Throws: the ``Errno`` `posix_spawn` returned.
    public static func startDaemon(_ executable: String, arguments: [String], readyEnd: Int32, readyDescriptor: Int32,
                                   standardError: String = "/dev/null") throws -> pid_t {
        try start(executable, arguments: arguments) { actions in
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, standardError, O_WRONLY | O_APPEND | O_CREAT, 0o600)
            posix_spawn_file_actions_adddup2(&actions, readyEnd, readyDescriptor)
            // Nothing else of the launcher's leaks into a long-lived daemon, CLOEXEC or not.
            cportproxy_spawn_add_closefrom(&actions, readyDescriptor + 1)
        } attributes: { attributes in
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            return CPORTPROXY_SPAWN_SETSID | Int16(POSIX_SPAWN_SETSIGDEF)
        }
    }
}
