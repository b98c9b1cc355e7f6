#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// Runs another CNI plugin as the spec says: found in `CNI_PATH`, the same environment with
/// `CNI_COMMAND` set, the config on stdin, its stderr passed through, its stdout returned.
public enum PluginExecutor {
    /// The first executable named `type` in `path`.
    public static func find(_ type: String, in path: [String]) -> String? {
        guard !type.isEmpty, !type.contains("/") else { return nil }
        return path.lazy.map { $0.hasSuffix("/") ? $0 + type : $0 + "/" + type }.first { access($0, X_OK) == 0 }
    }

    /// Runs `executable` and returns its stdout.
    ///
    /// - Throws: the plugin's own ``CNIError`` when it exits non-zero with error JSON, otherwise
    ///   a ``CNIError`` naming the plugin and what went wrong.
    public static func run(_ executable: String, command: CNICommand, environment: [String: String], stdin: [UInt8]) throws -> [UInt8] {
        var environment = environment
        environment["CNI_COMMAND"] = command.rawValue
        let (status, output) = try spawn(executable, environment: environment, stdin: stdin)
        guard status == 0 else {
            if let value = try? JSON(parsing: output), let code = value["code"]?.intValue,
               let message = value["msg"]?.stringValue {
                throw CNIError(CNIError.Code(rawValue: Int(code)) ?? .internal, message, details: value["details"]?.stringValue)
            }
            let text = String(decoding: output, as: UTF8.self)
            throw CNIError(.internal, "plugin \(executable) failed with status \(status)", details: text.isEmpty ? nil : text)
        }
        return output
    }

    /// posix_spawn with stdin and stdout on pipes; stderr is inherited.
    private static func spawn(_ executable: String, environment: [String: String], stdin input: [UInt8]) throws -> (Int32, [UInt8]) {
        var inputPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        try systemCall("pipe", executable) { pipe(&inputPipe) }
        defer { for fd in inputPipe where fd >= 0 { close(fd) } }
        try systemCall("pipe", executable) { pipe(&outputPipe) }
        defer { for fd in outputPipe where fd >= 0 { close(fd) } }
        // Only the dup2'd copies may reach the child (pipe2 needs _GNU_SOURCE, hence fcntl).
        for fd in inputPipe + outputPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        // The plugin starts with no signal blocked, whatever the caller holds back (netctl
        // does), and a binary being installed is retried, as libcni does.
        let pid: pid_t
        do {
            pid = try Spawn.start(executable, arguments: [executable], environment: environment.map { "\($0.key)=\($0.value)" }) { actions in
                posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
                posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
            }
        } catch let error as Errno {
            throw CNIError(.internal, "cannot run plugin \(executable)", details: error.description)
        }
        close(inputPipe[0]); inputPipe[0] = -1
        close(outputPipe[1]); outputPipe[1] = -1

        // A plugin may answer without reading stdin (VERSION often does): writing then fails
        // with EPIPE, which must neither kill the caller with SIGPIPE nor count as an error.
        withoutSIGPIPE { writeAll(input, to: inputPipe[1]) }
        close(inputPipe[1]); inputPipe[1] = -1

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(outputPipe[0], $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return (Spawn.wait(pid), output)
    }

    /// Runs `body` with SIGPIPE blocked in this thread, then discards a SIGPIPE it raised, so
    /// a write to a closed pipe just returns EPIPE. The process's disposition is untouched:
    /// this is a library, and its caller may rely on SIGPIPE elsewhere.
    private static func withoutSIGPIPE(_ body: () -> Void) {
        var pipeSignal = sigset_t(), previous = sigset_t(), pending = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        sigpending(&pending)
        let alreadyPending = sigismember(&pending, SIGPIPE) == 1
        body()
        if !alreadyPending {
            var now = timespec(tv_sec: 0, tv_nsec: 0)
            while sigtimedwait(&pipeSignal, nil, &now) < 0, errno == EINTR {}
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
