#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import CNetlink
import NetCore
import NetctlModel

/// `netctl exec SANDBOX -- CMD...`: as `nsenter --net=PATH CMD`, the process joins the
/// namespace and execs the command. Switching this process (not a thread) is right here:
/// nothing else runs in it, and exec replaces it at once.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a command inside a sandbox's network namespace.")
    @Argument(help: "A sandbox name or namespace path.") var sandbox: String
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String]

    func run() throws {
        guard let program = command.first else {
            throw CommandFailure(NetworkError.invalid("command", "(none)", "give the command after --"))
        }
        let path = try withModel { model in
            if sandbox.contains("/"), (try? model.sandbox(sandbox)) == nil { return sandbox }
            return try model.sandbox(sandbox).path
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw CommandFailure(Self.openError(path, Errno.current)) }
        guard cnetlink_setns(descriptor, CNETLINK_CLONE_NEWNET) == 0 else {
            let error = Errno.current
            close(descriptor)
            throw CommandFailure(Self.joinError(path, error))
        }
        close(descriptor)
        // The command gets a clean slate: the Swift runtime's threads may have blocked or
        // ignored signals in this process, and exec keeps both, so a server started here
        // would not stop on SIGTERM.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        for number in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { signal(number, SIG_DFL) }
        var arguments = command.map { strdup($0) } + [nil]
        execvp(program, &arguments)
        let error = Errno.current
        throw CommandFailure(NetworkError(code: error == .noSuchFileOrDirectory ? .notFound : .system,
                                          message: "cannot run \"\(program)\"", cause: error))
    }

    /// Why the namespace file could not be opened, as the exit status tells it.
    static func openError(_ path: String, _ error: Errno) -> NetworkError {
        let code: NetworkError.Code = switch error {
        case .noSuchFileOrDirectory, Errno(rawValue: ENOTDIR): .notFound
        case .permissionDenied, .notPermitted: .permissionDenied
        default: .system
        }
        return NetworkError(code: code, message: "cannot open network namespace \"\(path)\"", cause: error)
    }

    /// Why `setns` refused: EINVAL is a file that is not a network namespace (a bad value,
    /// exit 2), EPERM a lack of privilege (77); anything else is a system error.
    static func joinError(_ path: String, _ error: Errno) -> NetworkError {
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
