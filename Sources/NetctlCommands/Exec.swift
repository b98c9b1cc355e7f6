#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Namespaces
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
        do {
            try NetNamespace.enterForExec(path: path)
        } catch let error as NetworkError {
            throw CommandFailure(error)
        }
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
}
