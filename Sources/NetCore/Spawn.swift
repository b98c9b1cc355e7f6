#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one way netctl starts and waits for a child: `posix_spawn` with argv and the
/// environment from Swift strings, the signal mask cleared (a caller may hold termination
/// signals back while it works; the child must not inherit that), the caller's file actions and
/// attributes on top, and "text file busy" retried (a binary being installed); and `waitpid`
/// that says how the child ended as a shell would.
public enum Spawn {
    /// Starts `executable` with `arguments` (argv[0] included) and `environment` (the
    /// caller's when `nil`).
    ///
    /// - Parameters:
    ///   - fileActions: the child's descriptors: dup2s, opens, closes.
    ///   - attributes: more attributes; returns the `POSIX_SPAWN_*` flags they need.
    /// - Returns: the child's PID.
    /// - Throws: the ``Errno`` `posix_spawn` returned.
    public static func start(
        _ executable: String, arguments: [String], environment: [String]? = nil,
        fileActions: (inout posix_spawn_file_actions_t) -> Void = { _ in },
        attributes: (inout posix_spawnattr_t) -> Int16 = { _ in 0 }
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        fileActions(&actions)
        var attributeSet = posix_spawnattr_t()
        posix_spawnattr_init(&attributeSet)
        defer { posix_spawnattr_destroy(&attributeSet) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributeSet, &noSignals)
        let flags = attributes(&attributeSet) | Int16(POSIX_SPAWN_SETSIGMASK)
        posix_spawnattr_setflags(&attributeSet, flags)

        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        var status: Int32 = 0
        for attempt in 0..<5 {
            status = envp.map { variables in
                var variables = variables
                return posix_spawn(&pid, executable, &actions, &attributeSet, &argv, &variables)
            } ?? posix_spawn(&pid, executable, &actions, &attributeSet, &argv, environ)
            guard status == ETXTBSY else { break }
            usleep(UInt32(1000 << attempt))
        }
        guard status == 0 else { throw Errno(rawValue: status) }
        return pid
    }

    /// Waits for the child `pid` to end; its exit status, or 128 plus the signal that ended it.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return exitCode(fromWaitStatus: status)
    }

    /// `WIFEXITED`/`WEXITSTATUS` and `WTERMSIG`, which are macros: the low 7 bits hold a
    /// signal, bits 8–15 the exit status.
    public static func exitCode(fromWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
