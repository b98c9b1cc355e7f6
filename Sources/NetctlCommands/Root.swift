#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import NetCore
import NetctlModel

/// `netctl`: the root command.
public struct NetctlCommand: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "netctl",
        abstract: "Container networks, sandboxes and endpoints for any runtime, through a netns path.",
        discussion: """
            Networks use the null, host, bridge, macvlan or overlay driver (across hosts, with \
            `netctl agent` on each), or cni:<type> for any CNI \
            plugin in $CNI_PATH (run through the CNI runtime, with host-local IPAM and portmap). \
            A sandbox is a network namespace: one netctl makes (`sandbox create`), the one netctl \
            runs in (`--network host`), or any path a runtime made (/run/netns/NAME, \
            /proc/PID/ns/net). State lives in $NETCTL_STATE_DIR (default /var/lib/netctl).

            Exit status: 0 success; 1 a system error; 2 a bad flag or value (64 for a usage \
            error caught while parsing); 3 not found; 4 already exists; 5 in use or busy; \
            6 no addresses left; 7 unsupported; 77 permission denied.
            """,
        version: version,
        subcommands: [CreateShortForm.self, NetworkCommand.self, SandboxCommand.self, Connect.self, Disconnect.self, Exec.self,
                      PortCommand.self, FirewallCommand.self, GC.self, PluginCommand.self, AgentCommand.self, Version.self, Completion.self]
    )

    public init() {}
}

/// Options every command with output has.
struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: table or json.")
    var format: OutputFormat = .table
}

/// The output options of `inspect`, which prints JSON unless asked for a table, as
/// `docker inspect` does: scripts pipe it into jq.
struct InspectOutputOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: json (default) or table.")
    var format: OutputFormat = .json
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Runs `body` with the model, turning its errors into messages and the exit codes the
/// root's help lists.
func withModel<T>(_ body: (Netctl) throws -> T) throws -> T {
    TerminationSignals.defer()
    do {
        let model = try Netctl(names: .commandLine)
        // Kept until exit, with its netfilter sockets: see `leaveQuickly()`.
        openedModels.append(model)
        return try body(model)
    } catch let error as NetworkError {
        throw CommandFailure(error)
    } catch {
        guard let busy = Netctl.busyStoreError(error) else { throw error }
        throw CommandFailure(busy)
    }
}

/// The models commands opened. `nonisolated(unsafe)`: a netctl process runs its one command
/// on the main thread.
nonisolated(unsafe) private var openedModels: [Netctl] = []

/// Before exit: closing a netfilter socket after a ruleset change waits for the kernel's
/// reclaim (10–15 ms); the model leaves that wait to a child, as the CNI
/// plugins do, unless ``BackgroundRelease`` is turned off.
private func leaveQuickly() {
    guard !openedModels.isEmpty, BackgroundRelease.isAllowed else { return }
    fflush(nil) // what `print` buffered, before stdout is closed
    Netctl.prepareForExit()
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT wait while a command works on the store and the
/// kernel: one cut short would leave half an endpoint (a veth, a lease, a reserved row) that
/// only another command removes. They stay pending, and take effect once the command has
/// finished and said so (``deliver()``); the process then ends by the signal, as it would have.
/// Blocked in the main thread before any other exists, so every thread started after has them
/// blocked too; children that live on (the port proxy, CNI plugins) start with none blocked.
enum TerminationSignals {
    private static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&set, number) }
        return set
    }

    static func `defer`() {
        var signals = set
        sigprocmask(SIG_BLOCK, &signals, nil)
    }

    static func deliver() {
        fflush(nil)
        var signals = set
        sigprocmask(SIG_UNBLOCK, &signals, nil)
    }
}

/// A failed command: its message on stderr, its exit status from the error's code.
struct CommandFailure: Error, CustomStringConvertible {
    let error: NetworkError
    init(_ error: NetworkError) { self.error = error }

    var description: String { "netctl: \(error)" }

    var exitCode: Int32 {
        switch error.code {
        case .invalidArgument: 2
        case .notFound: 3
        case .alreadyExists: 4
        case .busy: 5
        case .exhausted: 6
        case .unsupported: 7
        case .permissionDenied: 77
        case .system, .internalError: 1
        }
    }
}

extension FieldNames {
    /// The model's fields as the command line names them: its flags.
    static let commandLine: FieldNames = {
        var names = FieldNames()
        names.ipv4Address = "--ip"
        names.ipv6Address = "--ip6"
        names.mac = "--mac"
        names.port = "-p"
        names.alias = "--alias"
        names.option = "-o"
        names.driver = "--driver"
        names.subnet = "--subnet"
        names.ipRange = "--ip-range"
        names.gateway = "--gateway"
        names.auxAddress = "--aux-address"
        names.ipv6 = "--ipv6"
        names.networkMode = "--network"
        return names
    }()
}

/// Parses `key=value` flags, naming the flag and the value when there is no `=`.
func keyValues(_ values: [String], flag: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for value in values {
        guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
            throw CommandFailure(NetworkError.invalid(flag, value, "must be key=value"))
        }
        result[String(value[..<equals])] = String(value[value.index(after: equals)...])
    }
    return result
}

/// Runs the command line and exits with the status a script can rely on.
public func runNetctl() -> Never {
    if let word = CommandLine.arguments.dropFirst().first, let message = Suggestions.unknownCommand(word) {
        printError(message)
        NetctlCommand.exit(withError: ExitCode(64))
    }
    do {
        var command = try NetctlCommand.parseAsRoot()
        try command.run()
        leaveQuickly()
        TerminationSignals.deliver()
        NetctlCommand.exit()
    } catch let failure as CommandFailure {
        printError(failure.description)
        leaveQuickly()
        TerminationSignals.deliver()
        NetctlCommand.exit(withError: ExitCode(failure.exitCode))
    } catch {
        TerminationSignals.deliver()
        NetctlCommand.exit(withError: error)
    }
}
