import Foundation
import NetCore
import Testing

/// `netctl create DRIVER [NAME]`, the short form people type first, and the suggestions for a
/// first word that is no command.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason), .serialized)
struct CreateShortFormTests {
    @Test func createBridgeMakesANetworkNamedBridgeThatASandboxReachesOutThrough() throws {
        let outside = try Uplink.shared()
        defer {
            _ = try? netctl("disconnect", "bridge", "e2eshort1")
            _ = try? netctl("sandbox", "rm", "-f", "e2eshort1")
            _ = try? netctl("network", "rm", "-f", "bridge", "e2eshortnamed")
        }
        let created = try netctl("create", "bridge")
        #expect(created.status == 0, "\(created.stderr)")
        let inspected = try netctl("network", "inspect", "bridge")
        let network = inspected.json?.arrayValue?.first
        #expect(network?["Id"]?.stringValue == created.stdout, "\(inspected.stdout)")
        #expect(network?["Driver"]?.stringValue == "bridge")
        #expect(network?["IPAM"]?["Config"]?.arrayValue?.isEmpty == false, "a subnet from the default pools")

        #expect(try netctl("sandbox", "create", "e2eshort1").status == 0)
        let connected = try netctl("connect", "bridge", "e2eshort1")
        #expect(connected.status == 0, "\(connected.stderr)")
        // The outside namespace has no route to the bridge's subnet: only NAT gets an answer.
        let ping = try runCommand(["ip", "netns", "exec", "e2eshort1", "ping", "-c", "2", "-i", "0.2", "-W", "1", "192.0.2.2"])
        #expect(ping.status == 0, "from the sandbox to \(outside.name): \(ping.text)")

        // A second one without a name is refused, with a hint; with a name it is a network.
        let again = try netctl("create", "bridge")
        #expect(again.status == 4, "\(again.stderr)")
        #expect(again.stderr.contains("\"bridge\" already exists") && again.stderr.contains("netctl create bridge NAME"), "\(again.stderr)")
        let named = try netctl("create", "bridge", "e2eshortnamed", "--subnet", "10.231.0.0/24", "--format", "json")
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.json?["Name"]?.stringValue == "e2eshortnamed", "\(named.stdout)")
        #expect(named.json?["IPAM"]?["Config"]?.arrayValue?.first?["Subnet"]?.stringValue == "10.231.0.0/24", "\(named.stdout)")
    }

    @Test func createMacvlanTakesTheFlagsOfNetworkCreate() throws {
        try runCommand(["ip", "link", "add", "e2eshortpar", "type", "bridge"])
        try runCommand(["ip", "link", "set", "e2eshortpar", "up"])
        defer {
            _ = try? netctl("network", "rm", "-f", "e2eshortmv")
            _ = try? netctl("sandbox", "rm", "-f", "e2eshortmva")
            _ = try? runCommand(["ip", "link", "delete", "e2eshortpar"])
        }
        let created = try netctl("create", "macvlan", "e2eshortmv", "-o", "parent=e2eshortpar", "--subnet", "10.232.0.0/24")
        #expect(created.status == 0, "\(created.stderr)")
        let network = try netctl("network", "inspect", "e2eshortmv").json?.arrayValue?.first
        #expect(network?["Driver"]?.stringValue == "macvlan")
        #expect(network?["Options"]?["parent"]?.stringValue == "e2eshortpar", "\(String(describing: network))")
        #expect(try netctl("sandbox", "create", "e2eshortmva").status == 0)
        #expect(try netctl("connect", "e2eshortmv", "e2eshortmva").status == 0)
        #expect(try addresses(in: "e2eshortmva") == ["10.232.0.2"])
        // The short form's errors are those of network create.
        let bad = try netctl("create", "macvlan", "e2eshortbad", "-o", "parent=e2eshortpar", "--subnet", "10.232.0.0/99")
        #expect(bad.status == 2 && bad.stderr.contains("10.232.0.0/99"), "\(bad.status) \(bad.stderr)")
        let unknown = try netctl("create", "vxlan9")
        #expect(unknown.status == 2 && unknown.stderr.contains("vxlan9"), "\(unknown.status) \(unknown.stderr)")
    }

    @Test func aFirstWordThatIsNoCommandGetsASuggestion() throws {
        let cases: [(arguments: [String], hint: String)] = [
            (["craete", "bridge"], "did you mean 'create'?"),
            (["ls"], "did you mean 'network ls' or 'sandbox ls'?"),
            (["netwrok", "ls"], "did you mean 'network'?"),
            (["reload"], "did you mean 'firewall reload'?"),
            (["frobnicate"], "see 'netctl --help'"),
        ]
        for (arguments, hint) in cases {
            let output = try netctl(arguments)
            #expect(output.status == 64, "\(arguments): \(output.status)")
            #expect(output.stderr.contains("unknown command '\(arguments[0])'") && output.stderr.contains(hint), "\(arguments): \(output.stderr)")
        }
    }

    @Test func helpAndCompletionKnowTheShortForm() throws {
        let help = try netctl("create", "--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("short form") && help.stdout.contains("netctl network create --driver DRIVER"), "\(help.stdout)")
        #expect(try netctl("--help").stdout.contains("create"))
        // Each shell's script offers `create` as a first word and completes its flags.
        let marks = ["bash": ["compgen -W 'create network sandbox", "_netctl_create()"],
                     "zsh": ["'create:Create a network: the short form", "_netctl_create()"],
                     "fish": ["-fa 'create'", "\"netctl create\"' -l 'subnet'"]]
        for (shell, expected) in marks {
            let script = try netctl("completion", shell)
            #expect(script.status == 0)
            for mark in expected { #expect(script.stdout.contains(mark), "\(shell): no \(mark)") }
        }
    }
}
