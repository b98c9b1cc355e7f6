import ArgumentParser
import Foundation
import Namespaces
import NetCore
@testable import NetctlCommands
@testable import NetctlModel
import Testing

/// The command line as a script sees it: what parses, what is refused while parsing, and the
/// exit status each kind of failure maps to.
struct CommandLineTests {
    @Test func commandsParseWithTheirFlags() throws {
        let create = try NetctlCommand.parseAsRoot(["network", "create", "web", "--driver", "macvlan", "--subnet", "10.1.0.0/24",
                                                    "--subnet", "fd00::/64", "--ipv6", "-o", "parent=eth0", "--label", "a=b"])
        let network = try #require(create as? NetworkCommand.Create)
        #expect(network.options.subnet == ["10.1.0.0/24", "fd00::/64"])
        #expect(network.options.option == ["parent=eth0"])
        // The short form: the driver and the name are words, the flags the same.
        let short = try #require(try NetctlCommand.parseAsRoot(["create", "macvlan", "mv", "-o", "parent=eth0", "--subnet", "10.2.0.0/24"]) as? CreateShortForm)
        #expect(short.driver == "macvlan" && short.name == "mv")
        #expect(short.options.subnet == ["10.2.0.0/24"] && short.options.option == ["parent=eth0"])
        let bare = try #require(try NetctlCommand.parseAsRoot(["create", "bridge"]) as? CreateShortForm)
        #expect(bare.name == nil)
        #expect(CreateShortForm.defaultName(driver: "bridge") == "bridge")
        #expect(CreateShortForm.defaultName(driver: "cni:ptp") == "ptp")
        let connect = try #require(try NetctlCommand.parseAsRoot(["connect", "web", "/run/netns/x", "-p", "8080:80", "-p", "53:53/udp", "--ip", "10.1.0.9"]) as? Connect)
        #expect(connect.publish == ["8080:80", "53:53/udp"])
        let exec = try #require(try NetctlCommand.parseAsRoot(["exec", "web", "--", "ip", "-br", "addr"]) as? Exec)
        #expect(exec.command == ["ip", "-br", "addr"])
        #expect(try NetctlCommand.parseAsRoot(["network", "ls", "--format", "json"]) is NetworkCommand.List)
    }

    @Test func usageErrorsAreCaughtWhileParsing() {
        #expect(throws: (any Error).self) { try NetctlCommand.parseAsRoot(["network", "ls", "--format", "yaml"]) }
        #expect(throws: (any Error).self) { try NetctlCommand.parseAsRoot(["connect", "web"]) }
        #expect(throws: (any Error).self) { try NetctlCommand.parseAsRoot(["network", "create"]) }
    }

    @Test func aFirstWordThatIsNoCommandIsAnsweredWithTheNearestCommands() {
        #expect(Suggestions.unknownCommand("craete") == "netctl: unknown command 'craete'; did you mean 'create'?")
        #expect(Suggestions.unknownCommand("ls") == "netctl: unknown command 'ls'; did you mean 'network ls' or 'sandbox ls'?")
        #expect(Suggestions.unknownCommand("sandboxes") == "netctl: unknown command 'sandboxes'; did you mean 'sandbox'?")
        #expect(Suggestions.unknownCommand("zzz") == "netctl: unknown command 'zzz'; see 'netctl --help'")
        for word in ["create", "network", "help", "--help", "-h", "--version"] { #expect(Suggestions.unknownCommand(word) == nil) }
        #expect(Suggestions.editDistance("craete", "create") == 1)
        #expect(Suggestions.editDistance("", "gc") == 2)
    }

    @Test func keyValueFlagsNameTheFlagWhenThereIsNoEquals() {
        let error = #expect(throws: CommandFailure.self) { try keyValues(["parent"], flag: "-o") }
        #expect(error?.description.contains("-o") == true)
        #expect(error?.exitCode == 2)
    }

    /// Every command the root help lists, reached through its parent.
    static let commandPaths: [[String]] = [
        [], ["create"], ["network"], ["network", "create"], ["network", "ls"], ["network", "inspect"], ["network", "rm"], ["network", "prune"],
        ["sandbox"], ["sandbox", "create"], ["sandbox", "ls"], ["sandbox", "inspect"], ["sandbox", "rm"],
        ["connect"], ["disconnect"], ["exec"], ["port"], ["port", "ls"], ["firewall"], ["firewall", "reload"],
        ["gc"], ["plugin"], ["plugin", "serve"], ["agent"], ["version"], ["completion"],
    ]

    @Test func everySubcommandAndEveryOptionAndArgumentHasHelp() throws {
        // The tree as `--experimental-dump-help` prints it: every command with each argument's help.
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(NetctlCommand._dumpHelp().utf8)) as? [String: Any])
        var commands: [[String]: [String: Any]] = [:]
        func walk(_ command: [String: Any], path: [String]) {
            commands[path] = command
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                guard let name = sub["commandName"] as? String, name != "help" else { continue }
                walk(sub, path: path + [name])
            }
        }
        walk(try #require(dump["command"] as? [String: Any]), path: [])
        #expect(Set(commands.keys) == Set(Self.commandPaths), "\(commands.keys.sorted { $0.joined(separator: " ") < $1.joined(separator: " ") })")
        for path in Self.commandPaths {
            let command = try #require(commands[path], "\(path)")
            #expect(!((command["abstract"] as? String) ?? "").isEmpty, "\(path) has no abstract")
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["shouldDisplay"] as? Bool != false {
                let names = (argument["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                let label = names.first ?? (argument["valueName"] as? String) ?? "?"
                let help = ((argument["abstract"] as? String) ?? "").trimmingCharacters(in: .whitespaces)
                #expect(!help.isEmpty, "netctl \(path.joined(separator: " ")): \(label) has no help text")
            }
            let type = try #require(NetctlCommand.subcommand(path), "\(path)")
            #expect(NetctlCommand.helpMessage(for: type).contains("USAGE"), "\(path)")
        }
        for shell in [CompletionShell.bash, .zsh, .fish] {
            let script = NetctlCommand.completionScript(for: shell)
            #expect(script.contains("netctl") && script.contains("connect"), "\(shell)")
        }
    }

    @Test func theHelpNamesTheCNIDriverAndWhatAnAliasIsFor() throws {
        let root = NetctlCommand.helpMessage(for: NetctlCommand.self, columns: 400)
        #expect(root.contains("cni:<type>"))
        let create = NetctlCommand.helpMessage(for: try #require(NetctlCommand.subcommand(["network", "create"])), columns: 400)
        #expect(create.contains("cni:<type>"))
        let driverLine = try #require(create.split(separator: "\n").first { $0.contains("--driver") && $0.contains("macvlan") })
        #expect(driverLine.contains("cni:<type>"), "\(driverLine)")
        let connect = NetctlCommand.helpMessage(for: try #require(NetctlCommand.subcommand(["connect"])), columns: 400)
        let aliasLine = try #require(connect.split(separator: "\n").first { $0.contains("--alias") && $0.contains("DNS") })
        #expect(aliasLine.contains("resolve"), "\(aliasLine)")
        let dnsLine = try #require(create.split(separator: "\n").first { $0.contains("--disable-dns") && !$0.contains("USAGE") })
        #expect(dnsLine.contains("by name"), "\(dnsLine)")
    }

    @Test func aFailedSetnsExitsByItsErrno() {
        let notANamespace = CommandFailure(NetNamespace.joinError("/etc/hostname", .invalidArgument))
        #expect(notANamespace.exitCode == 2)
        #expect(notANamespace.description.contains("/etc/hostname"))
        #expect(CommandFailure(NetNamespace.joinError("/run/netns/x", .notPermitted)).exitCode == 77)
        #expect(CommandFailure(NetNamespace.joinError("/run/netns/x", .permissionDenied)).exitCode == 77)
        #expect(CommandFailure(NetNamespace.joinError("/run/netns/x", .noSpace)).exitCode == 1)
        #expect(CommandFailure(NetNamespace.openError("/run/netns/x", .noSuchFileOrDirectory)).exitCode == 3)
        #expect(CommandFailure(NetNamespace.openError("/run/netns/x", .permissionDenied)).exitCode == 77)
    }

    @Test func inspectTablesAreFieldsAndTablesAreAligned() throws {
        #expect(tableLines(["A", "LONGER"], [["wide cell", "x"]]) == ["A           LONGER", "wide cell   x"])
        #expect(timestamp(0) == "1970-01-01 00:00:00 UTC")
        // JSON unless asked for a table, as `docker inspect`: scripts pipe it into jq.
        for (words, format) in [([String](), OutputFormat.json), (["--format", "table"], .table), (["--format", "json"], .json)] {
            let network = try NetctlCommand.parseAsRoot(["network", "inspect", "web"] + words)
            #expect((network as? NetworkCommand.Inspect)?.format.rawValue == format.rawValue, "\(words)")
            let sandbox = try NetctlCommand.parseAsRoot(["sandbox", "inspect", "web"] + words)
            #expect((sandbox as? SandboxCommand.Inspect)?.output.format == format, "\(words)")
        }
        #expect(try (NetctlCommand.parseAsRoot(["network", "ls"]) as? NetworkCommand.List)?.output.format == .table)
        // The graph of every network needs no name; the other formats do.
        #expect(try (NetctlCommand.parseAsRoot(["network", "inspect", "--format", "dot"]) as? NetworkCommand.Inspect)?.format == .dot)
        for path in [["network", "inspect"], ["sandbox", "inspect"]] {
            let help = NetctlCommand.helpMessage(for: try #require(NetctlCommand.subcommand(path)), columns: 400)
            #expect(help.contains("--format json (default)") && help.contains("json (default)") && help.contains("table"), "\(help)")
        }

        let network = NetworkRecord(name: "web", id: "0123456789abcdef", driver: .bridge,
                                    subnets: [SubnetSpec(subnet: try CIDR(parsing: "10.1.0.0/24"), gateway: try IPAddress(parsing: "10.1.0.1", field: "gateway"))],
                                    auxAddresses: [:], options: [:], labels: ["tier": "web", "team": "net"],
                                    isInternal: false, ipv6: false, created: 0)
        let endpoint = EndpointRecord(network: "web", sandbox: "sb1", interface: "eth0", addresses: [try CIDR(parsing: "10.1.0.2/24")],
                                      mac: "02:00:00:00:00:01", aliases: [], ports: [try PortMapping(parsing: "8080:80")])
        #expect(fieldLines(NetworkCommand.Inspect.fields(network, [endpoint])) == [
            "Name:          web",
            "Id:            0123456789abcdef",
            "Driver:        bridge",
            "Bridge:        br-0123456789ab",
            "Created:       1970-01-01 00:00:00 UTC",
            "Subnets:       10.1.0.0/24  gateway 10.1.0.1",
            "Aux addresses: -",
            "Options:       -",
            "Labels:        team=net",
            "               tier=web",
            "Internal:      no",
            "IPv6:          no",
            "DNS:           no",
            "Endpoints:     SANDBOX   INTERFACE   ADDRESSES     MAC                 ALIASES   PORTS",
            "               sb1       eth0        10.1.0.2/24   02:00:00:00:00:01   -         8080:80/tcp",
        ])
        let sandbox = SandboxRecord(name: "sb1", id: "abc", path: "/run/netns/sb1", isOwned: true, sharesWith: nil, created: 0)
        #expect(fieldLines(SandboxCommand.Inspect.fields(sandbox, [])) == [
            "Name:      sb1",
            "Id:        abc",
            "Path:      /run/netns/sb1",
            "Owned:     yes (netctl removes the namespace with it)",
            "Created:   1970-01-01 00:00:00 UTC",
            "Endpoints: none",
        ])
    }
}

extension NetctlCommand {
    /// The command type at `path` (`["network", "create"]`).
    static func subcommand(_ path: [String]) -> ParsableCommand.Type? {
        var current: ParsableCommand.Type = NetctlCommand.self
        for name in path {
            guard let next = current.configuration.subcommands.first(where: { $0._commandName == name }) else { return nil }
            current = next
        }
        return current
    }

    @Test func jsonOutputGivesCreatedAsRFC3339() throws {
        #expect(rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(rfc3339(1_714_564_800) == "2024-05-01T12:00:00Z")
        let network = NetworkRecord(name: "web", id: "0123", driver: .bridge, subnets: [], auxAddresses: [:], options: [:], labels: [:],
                                    isInternal: false, ipv6: false, created: 1_714_564_800)
        #expect(network.output["Created"] == "2024-05-01T12:00:00Z")
        #expect(network.json["Created"] == .int(1_714_564_800)) // the stored form keeps the number
        let sandbox = SandboxRecord(name: "sb1", id: "abc", path: "/run/netns/sb1", isOwned: true, sharesWith: nil, created: 0)
        #expect(sandbox.output["Created"] == "1970-01-01T00:00:00Z")
    }

    @Test func theTopologyGraphHasNetworksBridgesSandboxesAndPorts() throws {
        let web = NetworkRecord(name: "web", id: "0123456789abcdef", driver: .bridge, subnets: [SubnetSpec(subnet: try CIDR(parsing: "10.1.0.0/24"))],
                                auxAddresses: [:], options: [:], labels: [:], isInternal: false, ipv6: false, created: 0)
        let none = NetworkRecord(name: "quiet", id: "fe", driver: .null, subnets: [], auxAddresses: [:], options: [:], labels: [:],
                                 isInternal: false, ipv6: false, created: 0)
        let endpoint = EndpointRecord(network: "web", sandbox: "sb\"1", interface: "eth0", addresses: [try CIDR(parsing: "10.1.0.2/24")],
                                      mac: nil, aliases: [], ports: [try PortMapping(parsing: "8080:80")])
        let sandbox = SandboxRecord(name: "sb\"1", id: "abc", path: "/run/netns/sb1", isOwned: true, sharesWith: nil, created: 0)
        let graph = TopologyGraph.render(networks: [web, none], endpoints: [endpoint], sandboxes: [sandbox]).split(separator: "\n").map(String.init)
        #expect(graph.first == "digraph netctl {" && graph.last == "}")
        #expect(graph.contains(#"    "network:web" [shape=box, style=rounded, label="web\nbridge\n10.1.0.0/24"];"#))
        #expect(graph.contains(#"    "network:quiet" [shape=box, style=rounded, label="quiet\nnull"];"#))
        #expect(graph.contains(#"    "link:br-0123456789ab" [shape=hexagon, label="br-0123456789ab"];"#))
        #expect(graph.contains(#"    "sandbox:sb\"1" [shape=ellipse, label="sb\"1\n/run/netns/sb1"];"#))
        #expect(graph.contains(#"    "sandbox:sb\"1" -> "network:web" [arrowhead=none, label="eth0\n10.1.0.2/24"];"#))
        #expect(graph.contains(#"    "port:web/sb\"1/8080:80/tcp" -> "sandbox:sb\"1";"#))
    }
}
