#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Namespaces
import NetCore
import NetctlModel

/// `netctl exec SANDBOX -- CMD...`: as `ip netns exec NAME CMD` (or `nsenter --net=PATH CMD`
/// for a path), the process joins the namespace, binds `/etc/netns/NAME/*` over `/etc` (the
/// sandbox's resolv.conf) in a mount namespace of its own, and execs the command. Switching this process (not a thread) is right here:
/// nothing else runs in it, and exec replaces it at once.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a sandbox's network namespace.",
        discussion: "For a sandbox netctl made, /etc/resolv.conf is the sandbox's (its networks' resolver), as with `ip netns exec`.")
    @Argument(help: "A sandbox name or namespace path.") var sandbox: String
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String]

    func run() throws {
        guard let program = command.first else {
            throw CommandFailure(NetworkError.invalid("command", "(none)", "give the command after --"))
        }
        // A sandbox netctl made has its resolv.conf in /etc/netns/NAME (none for a path).
        let (path, owned) = try withModel { model -> (String, String?) in
            if sandbox.contains("/"), (try? model.sandbox(sandbox)) == nil { return (sandbox, nil) }
            let record = try model.sandbox(sandbox)
            return (record.path, record.isOwned ? record.name : nil)
        }
        do {
            try NetNamespace.enterForExec(path: path)
            if let owned { try NetNamespace.bindNamespaceEtc(name: owned) }
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
