import ArgumentParser
import NetCore
import NetctlModel

struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect a sandbox (or any network namespace path) to a network.",
        discussion: """
            Publishing: -p [HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/tcp|udp|sctp], repeatable. \
            Without a host IP the port is published on every host address by DNAT, and on \
            127.0.0.1 and ::1 by the userland proxy (one process for all the endpoint's ports).
            On a cni:<type> network, --ip/--ip6 go to the plugin as the `ips` capability and \
            --mac as `mac`; a plugin that does not honour them fails the connect (exit 7).
            A sandbox of the host's namespace (--network host) joins only host and null \
            networks: a bridge, macvlan or cni: network would put an interface into the host \
            namespace (exit 7). Connecting twice is refused (exit 4), and so is a host port \
            another endpoint publishes (exit 4, naming its sandbox and network).
            Prints the interface and its addresses (nothing for a null or host network, which \
            adds no interface), then `nameserver ADDRESS` for each resolver of a network with DNS \
            (for runtimes that write the sandbox's resolv.conf themselves; netctl writes \
            /etc/netns/NAME/resolv.conf for the sandboxes it made), or the endpoint with --format json.
            """)

    @Argument(help: "The network.") var network: String
    @Argument(help: "A sandbox name, or a network namespace path such as /run/netns/NAME or /proc/PID/ns/net.") var sandbox: String
    @Option(name: .long, help: "The IPv4 address to use (inside one of the network's subnets).") var ip: String?
    @Option(name: .long, help: "The IPv6 address to use (inside one of the network's subnets).") var ip6: String?
    @Option(name: .long, help: "The interface's MAC address.") var mac: String?
    @Option(name: .long, help: ArgumentHelp(
        "A DNS name for the endpoint (repeatable): the sandboxes of a network with DNS resolve it, as its name.",
        valueName: "name")) var alias: [String] = []
    @Option(name: [.customShort("p"), .customLong("publish")], help: "Publish a port (repeatable).") var publish: [String] = []
    @OptionGroup var output: OutputOptions

    func run() throws {
        var request = ConnectRequest()
        request.addresses = try [(ip, "--ip", IPAddress.Family.v4), (ip6, "--ip6", .v6)].compactMap { text, flag, family in
            guard let text else { return nil }
            let address = try parsed { try IPAddress(parsing: text, field: flag) }
            guard address.family == family else { throw CommandFailure(NetworkError.invalid(flag, text, "is not an \(family) address")) }
            return address
        }
        request.mac = try mac.map { text in try parsed { try MACAddress(parsing: text, field: "--mac") } }
        request.aliases = alias
        request.ports = try publish.map { spec in try parsed { try PortMapping(parsing: spec) } }
        let endpoint = try withModel { try $0.connect(network: network, sandbox: sandbox, request) }
        if output.format == .json { return printJSON(endpoint.json) }
        // Nothing to tell of a network that adds no interface (null, host).
        let words = ([endpoint.interface] + endpoint.addresses.map(\.description)).filter { !$0.isEmpty }
        if !words.isEmpty { print(words.joined(separator: " ")) }
        for nameserver in endpoint.nameservers { print("nameserver \(nameserver)") }
    }
}

struct Disconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disconnect a sandbox from a network; not connected is success.")
    @Argument(help: "The network.") var network: String
    @Argument(help: "A sandbox name or namespace path.") var sandbox: String
    @Flag(name: [.short, .long], help: "Go on past what cannot be undone (a namespace that is gone) and forget the endpoint.") var force = false

    func run() throws {
        try withModel { try $0.disconnect(network: network, sandbox: sandbox, force: force) }
    }
}

struct PortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "port", abstract: "Published ports.", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List published ports.", aliases: ["list"])
        @OptionGroup var output: OutputOptions

        func run() throws {
            let rows = try withModel { try $0.publishedPorts() }
            if output.format == .json {
                return printJSON(.array(rows.map { row in
                    var object: JSONObject = ["Network": .string(row.network), "Sandbox": .string(row.sandbox),
                                              "Port": .string(row.mapping.description), "Container": .string(row.containerAddress)]
                    if let pid = row.proxyPID { object["ProxyPID"] = .int(Int64(pid)) }
                    if let endpoint = row.dockerEndpointID { object["DockerEndpointId"] = .string(endpoint) }
                    return .object(object)
                }))
            }
            printTable(["NETWORK", "SANDBOX", "PORT", "CONTAINER", "PROXY PID"], rows.map {
                [$0.network, $0.sandbox, $0.mapping.description, $0.containerAddress, $0.proxyPID.map(String.init) ?? "-"]
            })
        }
    }
}

struct FirewallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "firewall", abstract: "The nftables rules netctl owns.",
                                                    subcommands: [Reload.self])

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild netctl's nftables table from the store (after `nft flush ruleset`) and restart missing proxies.")
        func run() throws { try withModel { try $0.reloadFirewall() } }
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove endpoints and sandboxes whose namespace is gone, connects killed before they finished, and firewall records and leases nothing refers to.",
        discussion: "Goes on past what cannot be removed, prints what was, then exits 1 naming each failure (the next gc tries those again).")
    @OptionGroup var output: OutputOptions

    func run() throws {
        let report = try withModel { try $0.gc() }
        var sections: [(String, [String])] = [("endpoints", report.endpoints), ("sandboxes", report.sandboxes),
                                              ("firewall", report.firewallRecords), ("leases", report.leases)]
        if output.format == .json {
            sections.append(("failures", report.failures))
            printJSON(.object(JSONObject(sections.map { ($0.0, .array($0.1.map(JSON.string))) })))
        } else {
            for (name, items) in sections { print("\(name): \(items.isEmpty ? "none" : items.joined(separator: ", "))") }
        }
        guard report.failures.isEmpty else {
            throw CommandFailure(NetworkError(code: .system, message: "gc left \(report.failures.count) thing(s) in place: "
                + report.failures.joined(separator: "; ")))
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print netctl's version.")
    @OptionGroup var output: OutputOptions

    func run() throws {
        if output.format == .json { return printJSON(["Version": .string(NetctlCommand.version)]) }
        print("netctl \(NetctlCommand.version)")
    }
}

struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a shell completion script.",
        discussion: "bash: `netctl completion bash > /etc/bash_completion.d/netctl`; zsh and fish likewise.")
    @Argument(help: "bash, zsh or fish.") var shell: String

    func run() throws {
        guard let kind = CompletionShell(rawValue: shell) else {
            throw CommandFailure(NetworkError.invalid("completion shell", shell, "must be bash, zsh or fish"))
        }
        print(NetctlCommand.completionScript(for: kind))
    }
}
