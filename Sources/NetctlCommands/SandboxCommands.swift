import ArgumentParser
import NetCore
import NetctlModel

struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox", abstract: "Create, list, inspect and remove sandboxes (network namespaces).",
        subcommands: [Create.self, List.self, Inspect.self, Remove.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a sandbox and print its namespace path (give it to the runtime).",
            discussion: "--network none (default): a new namespace at /run/netns/NAME with only lo up; host: the host's namespace; container:<sandbox>: share another sandbox's namespace, its interfaces and localhost.")
        @Argument(help: "The sandbox's name (default: sb- and 12 hex digits).") var name: String?
        @Option(name: .long, help: "none, host or container:<sandbox>.") var network = "none"
        @OptionGroup var output: OutputOptions

        func run() throws {
            let mode = try parsed { try SandboxMode(parsing: network) }
            let sandbox = try withModel { try $0.createSandbox(name: name, mode: mode) }
            if output.format == .json { printJSON(sandbox.json) } else { print(sandbox.path) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List sandboxes.", aliases: ["list"])
        @OptionGroup var output: OutputOptions

        func run() throws {
            let rows = try withModel { model in try model.sandboxes().map { ($0, try model.endpoints(sandbox: $0.name)) } }
            if output.format == .json { return printJSON(.array(rows.map(\.0.json))) }
            printTable(["NAME", "PATH", "NETWORKS"], rows.map { sandbox, endpoints in
                [sandbox.name, sandbox.path, endpoints.map(\.network).joined(separator: ",")]
            })
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show sandboxes in detail, with their endpoints (JSON).")
        @Argument(help: "Sandbox names, IDs or paths.") var names: [String]
        @OptionGroup var output: OutputOptions

        func run() throws {
            let details: [JSON] = try withModel { model in
                try names.map { name in
                    let sandbox = try model.sandbox(name)
                    guard case .object(var object) = sandbox.json else { return sandbox.json }
                    object["Endpoints"] = .array(try model.endpoints(sandbox: sandbox.name).map(\.json))
                    return .object(object)
                }
            }
            printJSON(.array(details))
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove sandboxes (and the namespaces netctl made); missing is success.", aliases: ["remove"])
        @Argument(help: "Sandbox names, IDs or paths.") var names: [String]
        @Flag(name: [.short, .long], help: "Disconnect its endpoints first instead of refusing.") var force = false

        func run() throws {
            try withModel { model in
                for name in names { try model.removeSandbox(name, force: force) }
            }
        }
    }
}
