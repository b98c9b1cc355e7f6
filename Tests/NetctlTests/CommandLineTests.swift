import ArgumentParser
@testable import NetctlCommands
import Testing

/// The command line as a script sees it: what parses, what is refused while parsing, and the
/// exit status each kind of failure maps to.
struct CommandLineTests {
    @Test func commandsParseWithTheirFlags() throws {
        let create = try NetctlCommand.parseAsRoot(["network", "create", "web", "--driver", "macvlan", "--subnet", "10.1.0.0/24",
                                                    "--subnet", "fd00::/64", "--ipv6", "-o", "parent=eth0", "--label", "a=b"])
        let network = try #require(create as? NetworkCommand.Create)
        #expect(network.subnet == ["10.1.0.0/24", "fd00::/64"])
        #expect(network.option == ["parent=eth0"])
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

    @Test func keyValueFlagsNameTheFlagWhenThereIsNoEquals() {
        let error = #expect(throws: CommandFailure.self) { try keyValues(["parent"], flag: "-o") }
        #expect(error?.description.contains("-o") == true)
        #expect(error?.exitCode == 2)
    }

    @Test func everySubcommandHasHelp() throws {
        for path in [["network", "create"], ["network", "rm"], ["sandbox", "create"], ["connect"], ["disconnect"], ["exec"],
                     ["port", "ls"], ["firewall", "reload"], ["gc"], ["version"], ["completion"]] {
            let help = NetctlCommand.helpMessage(for: try #require(NetctlCommand.subcommand(path)))
            #expect(help.contains("USAGE"), "\(path)")
        }
        #expect(NetctlCommand.completionScript(for: .bash).contains("netctl"))
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
}
