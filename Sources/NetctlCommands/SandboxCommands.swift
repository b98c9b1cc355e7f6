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
            discussion: "--network none (default): a new namespace at /run/netns/NAME with only lo up; host: the namespace netctl runs in (recorded as /proc/self/ns/net; it joins host networks only, never bridge, macvlan or cni: ones); container:<sandbox>: share another sandbox's namespace, its interfaces and localhost.")
        @Argument(help: "The sandbox's name (default: sb- and 12 hex digits).") var name: String?
        @Option(name: .long, help: "none, host or container:<sandbox>.") var network = "none"
        @OptionGroup var output: OutputOptions

        func run() throws {
            let mode = try parsed { try SandboxMode(parsing: network, field: FieldNames.commandLine.networkMode) }
            let sandbox = try withModel { try $0.createSandbox(name: name, mode: mode) }
            if output.format == .json { printJSON(sandbox.output) } else { print(sandbox.path) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List sandboxes.", aliases: ["list"])
        @OptionGroup var output: OutputOptions

        func run() throws {
            let rows = try withModel { model in try model.sandboxes().map { ($0, try model.endpoints(sandbox: $0.name)) } }
            if output.format == .json { return printJSON(.array(rows.map(\.0.output))) }
            printTable(["NAME", "PATH", "NETWORKS"], rows.map { sandbox, endpoints in
                [sandbox.name, sandbox.path, endpoints.map(\.network).joined(separator: ",")]
            })
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show sandboxes in detail, with their endpoints.",
            discussion: "--format json (default): an array of objects; --format table: fields and an endpoint table for each sandbox.")
        @Argument(help: "Sandbox names, IDs or paths.") var names: [String]
        @OptionGroup var output: InspectOutputOptions

        func run() throws {
            let details = try withModel { model in
                try names.map { name in
                    let sandbox = try model.sandbox(name)
                    return (sandbox, try model.endpoints(sandbox: sandbox.name))
                }
            }
            if output.format == .json {
                return printJSON(.array(details.map { sandbox, endpoints in
                    guard case .object(var object) = sandbox.output else { return sandbox.output }
                    object["Endpoints"] = .array(endpoints.map(\.json))
                    return .object(object)
                }))
            }
            for (index, (sandbox, endpoints)) in details.enumerated() {
                if index > 0 { print("") }
                printFields(Self.fields(sandbox, endpoints))
            }
        }

        /// What `--format table` prints of one sandbox.
        static func fields(_ sandbox: SandboxRecord, _ endpoints: [EndpointRecord]) -> [(key: String, values: [String])] {
            var fields: [(key: String, values: [String])] = [
                ("Name", [sandbox.name]), ("Id", [sandbox.id]), ("Path", [sandbox.path]),
                ("Owned", [sandbox.isOwned ? "yes (netctl removes the namespace with it)" : "no"]),
            ]
            if let other = sandbox.sharesWith { fields.append(("Shares with", [other])) }
            fields += [
                ("Created", [timestamp(sandbox.created)]),
                ("Endpoints", endpoints.isEmpty ? ["none"] : tableLines(
                    ["NETWORK", "INTERFACE", "ADDRESSES", "MAC", "ALIASES", "PORTS"],
                    endpoints.map { endpointCells($0, first: $0.network) })),
            ]
            return fields
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
