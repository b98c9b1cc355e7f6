import ArgumentParser
import NetCore
import NetctlModel

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Create, list, inspect and remove networks.",
        subcommands: [Create.self, List.self, Inspect.self, Remove.self, Prune.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a network.",
            discussion: NetworkCreateOptions.discussion + """

                Short form: `netctl create DRIVER [NAME]` (see `netctl create --help`).
                """)

        @Argument(help: "The network's name.") var name: String
        @Option(name: [.short, .long], help: "null, host, bridge, macvlan or cni:<type> (a CNI plugin from $CNI_PATH).") var driver = "bridge"
        @OptionGroup var options: NetworkCreateOptions

        func run() throws {
            try options.create(name: name, driver: driver, named: true)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List networks.", aliases: ["list"])
        @OptionGroup var output: OutputOptions

        func run() throws {
            let networks = try withModel { try $0.networks() }
            if output.format == .json { return printJSON(.array(networks.map(\.output))) }
            printTable(["NETWORK ID", "NAME", "DRIVER", "SUBNETS", "INTERNAL", "DOCKER"], networks.map {
                [String($0.id.prefix(12)), $0.name, $0.driver.description, $0.subnets.map(\.subnet.description).joined(separator: ","),
                 $0.isInternal ? "yes" : "no", $0.dockerNames]
            })
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show networks in detail, with their endpoints.",
            discussion: """
                --format json (default): an array of objects, as `docker network inspect`; --format table: fields \
                and an endpoint table for each network; --format dot: the networks (every one when no name is \
                given), their bridges, the sandboxes on them and the published ports as a Graphviz graph \
                (`netctl network inspect --format dot | dot -Tsvg > netctl.svg`).
                """)
        @Argument(help: "Network names or IDs (for --format dot, none means all).") var names: [String] = []
        @Option(name: .long, help: "Output format: json (default), table or dot.") var format: InspectFormat = .json

        enum InspectFormat: String, ExpressibleByArgument, CaseIterable {
            case json, table, dot
        }

        func validate() throws {
            if names.isEmpty && format != .dot { throw ValidationError("give at least one network name or ID (or --format dot)") }
        }

        func run() throws {
            if format == .dot {
                let graph = try withModel { model in
                    let networks = names.isEmpty ? try model.networks() : try names.map { try model.network($0) }
                    return TopologyGraph.render(networks: networks, endpoints: try model.endpoints(), sandboxes: try model.sandboxes())
                }
                return print(graph)
            }
            let details = try withModel { model in
                try names.map { name in
                    let network = try model.network(name)
                    return (network, try model.endpoints(network: network.name))
                }
            }
            if format == .json {
                return printJSON(.array(details.map { network, endpoints in
                    guard case .object(var object) = network.output else { return network.output }
                    object["Containers"] = .array(endpoints.map(\.json))
                    if network.driver.hasHostBridge { object["Bridge"] = .string(network.bridgeName) }
                    return .object(object)
                }))
            }
            for (index, (network, endpoints)) in details.enumerated() {
                if index > 0 { print("") }
                printFields(Self.fields(network, endpoints))
            }
        }

        /// What `--format table` prints of one network.
        static func fields(_ network: NetworkRecord, _ endpoints: [EndpointRecord]) -> [(key: String, values: [String])] {
            var fields: [(key: String, values: [String])] = [
                ("Name", [network.name]), ("Id", [network.id]), ("Driver", [network.driver.description]),
            ]
            if network.driver.hasHostBridge { fields.append(("Bridge", [network.bridgeName])) }
            if network.driver.spansHosts {
                fields.append(("Hosts", network.overlayShares.map { "\($0.hostName)  \($0.underlay)  \($0.subnet)  \($0.endpoints) endpoint(s)" }))
            }
            if !network.dockerNetworks.isEmpty { fields.append(("Docker", [network.dockerNames])) }
            fields += [
                ("Created", [timestamp(network.created)]),
                ("Subnets", network.subnets.map { spec in
                    ([spec.subnet.description] + (spec.gateway.map { ["gateway \($0)"] } ?? [])
                        + (spec.ipRange.map { ["range \($0)"] } ?? [])).joined(separator: "  ")
                }),
                ("Aux addresses", network.auxAddresses.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }),
                ("Options", network.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }),
                ("Labels", network.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }),
                ("Internal", [network.isInternal ? "yes" : "no"]),
                ("IPv6", [network.ipv6 ? "yes" : "no"]),
                ("DNS", [network.dnsEnabled ? "yes (at \(network.subnets.compactMap(\.gateway).map(\.description).joined(separator: ", ")))" : "no"]),
                ("Endpoints", endpoints.isEmpty ? ["none"] : tableLines(
                    ["SANDBOX", "INTERFACE", "ADDRESSES", "MAC", "ALIASES", "PORTS"],
                    endpoints.map { endpointCells($0, first: $0.sandbox) })),
            ]
            return fields
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove networks; removing one that does not exist is success.", aliases: ["remove"])
        @Argument(help: "Network names or IDs.") var names: [String]
        @Flag(name: [.short, .long], help: "Disconnect its endpoints first instead of refusing.") var force = false

        func run() throws {
            try withModel { model in
                for name in names { try model.removeNetwork(name, force: force) }
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every network that has no endpoints.")
        @OptionGroup var output: OutputOptions

        func run() throws {
            let removed = try withModel { try $0.pruneNetworks() }
            if output.format == .json { return printJSON(.array(removed.map(JSON.string))) }
            for name in removed { print(name) }
        }
    }
}

/// The flags of `network create` after the name and driver, shared with `netctl create`.
struct NetworkCreateOptions: ParsableArguments {
    static let discussion = """
        Drivers: bridge (default; a Linux bridge, NAT to the outside, isolated from other \
        networks), overlay (one network across hosts: needs `netctl agent` on each host and one \
        IPv4 --subnet, of which each host takes a share; VXLAN between the hosts), macvlan (endpoints on the parent's link; needs --subnet), null (no \
        interface), host (the host's namespace), cni:<type> (any CNI plugin of that type \
        found in $CNI_PATH, or where netctl's plugins and the reference plugins are installed; \
        each connect is an ADD of a list of that plugin, host-local IPAM over --subnet, and \
        portmap for -p; `network rm` deletes a bridge the plugin made).
        Options (-o): bridge: com.docker.network.bridge.name, com.docker.network.driver.mtu, \
        localhost_dnat=true (serve 127.0.0.1 ports by DNAT instead of the userland proxy); \
        macvlan: parent (default: the interface of the default route), macvlan_mode \
        (bridge, private, vepa, passthru), com.docker.network.driver.mtu; overlay: \
        host_subnet_size (prefix length of each host's share, default 24), vni (default: the \
        first free from 4096), vxlan_port (default 4789); cni:<type>: any \
        key of the plugin's config, the value as JSON when it parses as JSON (-o bridge=cni1, \
        -o isGateway=true, -o ipam='{...}').
        """

    @Option(name: .long, help: "A subnet in CIDR form (repeatable; IPv6 needs --ipv6). Default: a free /16 or /24 from Docker's pools.")
    var subnet: [String] = []
    @Option(name: .customLong("ip-range"), help: "Hand out addresses only from this CIDR inside a subnet (repeatable).")
    var ipRange: [String] = []
    @Option(name: .long, help: "The gateway of a subnet (repeatable). Default: the subnet's first address.")
    var gateway: [String] = []
    @Option(name: .customLong("aux-address"), help: "name=ip: an address never handed out (repeatable).")
    var auxAddress: [String] = []
    @Flag(name: .long, help: "No route out and no NAT: endpoints reach only each other.") var `internal` = false
    @Flag(name: .long, help: "Give endpoints IPv6 addresses too.") var ipv6 = false
    @Flag(name: .customLong("disable-dns"), help: ArgumentHelp(
        "No resolver on this network (bridge): its sandboxes do not find each other by name.",
        discussion: "By default netctl-dns answers each sandbox's name and aliases at the bridge's gateways."))
    var disableDNS = false
    @Option(name: [.customShort("o"), .customLong("opt")], help: "key=value driver option (repeatable).") var option: [String] = []
    @Option(name: .long, help: "key=value label (repeatable).") var label: [String] = []
    @Option(name: .long, help: ArgumentHelp("The MTU of the network's links (-o com.docker.network.driver.mtu).",
                                            discussion: "Overlay networks default to the underlay's MTU minus 50."))
    var mtu: UInt32?
    @OptionGroup var output: OutputOptions

    /// Creates the network and prints its ID (or its JSON). `named` is false when the caller
    /// chose the name for the user: a clash then says how to pick another.
    func create(name: String, driver: String, named: Bool) throws {
        var request = NetworkRequest(name: name, driver: try parsed { try DriverKind(parsing: driver, field: FieldNames.commandLine.driver) })
        request.subnets = try subnet.map { text in try parsed { try CIDR(parsing: text, field: "--subnet") } }
        request.ipRanges = try ipRange.map { text in try parsed { try CIDR(parsing: text, field: "--ip-range") } }
        request.gateways = try gateway.map { text in try parsed { try IPAddress(parsing: text, field: "--gateway") } }
        request.auxAddresses = try keyValues(auxAddress, flag: "--aux-address").mapValues { text in
            try parsed { try IPAddress(parsing: text, field: "--aux-address") }
        }
        request.options = try keyValues(option, flag: "-o")
        if let mtu { request.options["com.docker.network.driver.mtu"] = String(mtu) }
        request.labels = try keyValues(label, flag: "--label")
        request.isInternal = `internal`
        request.ipv6 = ipv6
        request.dnsEnabled = !disableDNS
        let network: NetworkRecord
        do {
            network = try withModel { try $0.createNetwork(request) }
        } catch let failure as CommandFailure where !named && failure.error.code == .alreadyExists {
            throw CommandFailure(NetworkError(
                code: .alreadyExists,
                message: "\(failure.error.message); pass a name for another: netctl create \(driver) NAME"))
        }
        if output.format == .json { printJSON(network.output) } else { print(network.id) }
    }
}

/// An endpoint's row in an inspect table, after its first cell.
func endpointCells(_ endpoint: EndpointRecord, first: String) -> [String] {
    func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.joined(separator: ",") }
    return [first, endpoint.interface.isEmpty ? "-" : endpoint.interface, list(endpoint.addresses.map(\.description)), endpoint.mac ?? "-",
            list(endpoint.aliases), list(endpoint.ports.map(\.description))]
}

/// Runs a parser of user input, turning its error into a command failure.
func parsed<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as NetworkError {
        throw CommandFailure(error)
    }
}
