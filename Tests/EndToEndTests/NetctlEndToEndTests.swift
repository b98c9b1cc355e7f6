import Foundation
import NetCore
import Testing

/// What `netctl` printed and returned.
struct NetctlOutput {
    let status: Int32
    let stdout: String
    let stderr: String
    var json: JSON? { try? JSON(parsing: stdout) }
}

/// Runs the built `netctl` with the shared state directory, as an operator would.
@discardableResult
func netctl(_ arguments: String...) throws -> NetctlOutput { try netctl(arguments) }

@discardableResult
func netctl(_ arguments: [String], environment: [String: String] = [:]) throws -> NetctlOutput {
    let process = Process()
    process.executableURL = productsDirectory.appendingPathComponent("netctl")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return NetctlOutput(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                        stderr: String(decoding: err, as: UTF8.self))
}

/// `netctl` end to end in the sandbox: real namespaces, links, rules and traffic. Each test
/// uses networks and sandboxes of its own names and subnets; all share the state store and
/// the ruleset, as every netctl and CNI call on one host does.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetctlEndToEndTests {
    /// The sandbox acts as the host; forwarding is on there as on any container host.
    init() throws { try runCommand(["sysctl", "-qw", "net.ipv4.ip_forward=1"]) }

    /// A sandbox's namespace, for the helpers that take a `ScratchNamespace`-like name.
    func inside(_ sandbox: String, _ command: [String]) throws -> (status: Int32, text: String) {
        try runCommand(["ip", "netns", "exec", sandbox] + command)
    }

    func fetchInside(_ sandbox: String, _ url: String, timeout: Double = 3) throws -> String? {
        try fetch(from: sandbox, url, timeout: timeout)
    }

    @Test func aPublishedPortServesLoopbackTheOtherSandboxAndHairpinAndEverythingGoesAway() throws {
        #expect(try netctl("network", "create", "e2eweb", "--subnet", "10.190.0.0/24", "-o", "com.docker.network.bridge.name=e2eweb0").status == 0)
        for name in ["e2eweb1", "e2eweb2"] { #expect(try netctl("sandbox", "create", name).stdout == "/run/netns/\(name)") }
        let connected = try netctl("connect", "e2eweb", "e2eweb1", "-p", "8580:80", "--format", "json")
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(connected.json?["Addresses"]?.arrayValue?.first == "10.190.0.2/24")
        #expect(try netctl("connect", "e2eweb", "/run/netns/e2eweb2", "--ip", "10.190.0.77").status == 0) // by path, fixed address

        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2eweb1"), port: 80, body: "netctl web")
        defer { server.stop() }
        #expect(try fetch(from: nil, "http://127.0.0.1:8580/") == "netctl web") // the userland proxy
        #expect(try fetch(from: nil, "http://10.190.0.1:8580/") == "netctl web") // DNAT from the host
        #expect(try fetchInside("e2eweb2", "http://10.190.0.1:8580/") == "netctl web") // the other sandbox
        #expect(try fetchInside("e2eweb1", "http://10.190.0.1:8580/") == "netctl web") // hairpin
        #expect(try netctl("port", "ls").stdout.contains("8580:80/tcp"))

        let refused = try netctl("network", "rm", "e2eweb")
        #expect(refused.status == 5)
        #expect(refused.stderr.contains("e2eweb1"))
        for _ in 0..<2 { #expect(try netctl("disconnect", "e2eweb", "e2eweb1").status == 0) }
        #expect(try fetch(from: nil, "http://127.0.0.1:8580/", timeout: 1) == nil)
        #expect(try netctl("sandbox", "rm", "-f", "e2eweb1", "e2eweb2").status == 0)
        for _ in 0..<2 { #expect(try netctl("network", "rm", "e2eweb").status == 0) }
        #expect(try runCommand(["ip", "link", "show", "e2eweb0"]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/e2eweb1"))
        #expect(!(try nftTable() ?? "").contains("e2eweb0"))
    }

    @Test func containerModeSharesLocalhostWithItsTarget() throws {
        #expect(try netctl("sandbox", "create", "e2eshare1").status == 0)
        let shared = try netctl("sandbox", "create", "e2eshare2", "--network", "container:e2eshare1")
        #expect(shared.stdout == "/run/netns/e2eshare1")
        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2eshare1"), port: 8000, body: "shared localhost")
        defer { server.stop() }
        let fetched = try netctl("exec", "e2eshare2", "--", "python3", "-c",
                                 "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8000/',timeout=3).read().decode())")
        #expect(fetched.stdout == "shared localhost")
        #expect(try netctl("sandbox", "rm", "e2eshare1").status == 5) // e2eshare2 still uses it
        #expect(try netctl("sandbox", "rm", "e2eshare2", "e2eshare1").status == 0)
    }

    @Test func twoBridgeNetworksCannotReachEachOther() throws {
        #expect(try netctl("network", "create", "e2eiso1", "--subnet", "10.191.0.0/24").status == 0)
        #expect(try netctl("network", "create", "e2eiso2", "--subnet", "10.192.0.0/24").status == 0)
        defer { _ = try? netctl("network", "rm", "-f", "e2eiso1", "e2eiso2"); _ = try? netctl("sandbox", "rm", "-f", "e2eisoa", "e2eisob") }
        for (sandbox, network) in [("e2eisoa", "e2eiso1"), ("e2eisob", "e2eiso2")] {
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            #expect(try netctl("connect", network, sandbox).status == 0)
        }
        let ping = ["ping", "-c", "2", "-i", "0.2", "-W", "1"]
        #expect(try inside("e2eisoa", ping + ["10.191.0.1"]).status == 0) // its own gateway
        #expect(try inside("e2eisoa", ping + ["10.192.0.2"]).status != 0) // the other network
        #expect(try inside("e2eisob", ping + ["10.191.0.2"]).status != 0)
    }

    @Test func macvlanSiblingsReachEachOther() throws {
        try runCommand(["ip", "link", "add", "e2emvpar", "type", "bridge"])
        try runCommand(["ip", "link", "set", "e2emvpar", "up"])
        defer { _ = try? runCommand(["ip", "link", "delete", "e2emvpar"]) }
        #expect(try netctl("network", "create", "e2emv", "--driver", "macvlan", "--subnet", "10.193.0.0/24",
                           "-o", "parent=e2emvpar", "-o", "macvlan_mode=bridge").status == 0)
        defer { _ = try? netctl("network", "rm", "-f", "e2emv"); _ = try? netctl("sandbox", "rm", "-f", "e2emva", "e2emvb") }
        for sandbox in ["e2emva", "e2emvb"] {
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            #expect(try netctl("connect", "e2emv", sandbox).status == 0)
        }
        #expect(try inside("e2emva", ["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.193.0.3"]).status == 0)
        // The network's gateway is the sandbox's default route (netctl asks the driver for it).
        let routes = try JSON(parsing: inside("e2emva", ["ip", "-j", "-4", "route", "show", "default"]).text)
        #expect(routes.arrayValue?.first?["gateway"] == "10.193.0.1", "\(routes)")
        let ports = try netctl("connect", "e2emv", "e2emva", "-p", "80:80")
        #expect(ports.status != 0)
    }

    @Test func concurrentConnectsOnOneNetworkGetDistinctAddresses() throws {
        #expect(try netctl("network", "create", "e2eburst", "--subnet", "10.194.0.0/24").status == 0)
        defer { _ = try? netctl("network", "rm", "-f", "e2eburst") }
        let names = (0..<12).map { "e2eburst\($0)" }
        for name in names { #expect(try netctl("sandbox", "create", name).status == 0) }
        defer { for name in names { _ = try? netctl("sandbox", "rm", "-f", name) } }
        let results = Results<String>(count: names.count)
        DispatchQueue.concurrentPerform(iterations: names.count) { index in
            let output = try? netctl("connect", "e2eburst", names[index], "--format", "json")
            results.set(index, output?.json?["Addresses"]?.arrayValue?.first?.stringValue ?? "failed: \(output?.stderr ?? "")")
        }
        #expect(Set(results.values).count == names.count, "\(results.values)")
        #expect(!results.values.contains { $0.hasPrefix("failed") }, "\(results.values)")
    }

    @Test func everyBadFlagValueIsAClearErrorNamingIt() throws {
        let cases: [([String], String, Int32)] = [
            (["network", "create", "e2ebad", "--subnet", "10.0.0.0/33"], "--subnet", 2),
            (["network", "create", "e2ebad", "--driver", "overlay"], "--driver", 2),
            (["network", "create", "e2ebad", "--gateway", "10.1.2.3.4"], "--gateway", 2),
            (["network", "create", "e2ebad", "-o", "nokey"], "-o", 2),
            (["network", "create", "e2ebad", "--aux-address", "x=10.9.9.9", "--subnet", "10.195.0.0/24"], "--aux-address", 2),
            (["sandbox", "create", "e2ebad", "--network", "bridge"], "--network", 2),
            (["connect", "nosuchnet", "nosuchsandbox"], "nosuchnet", 3),
            (["connect", "e2ebadnet", "e2ebadsb", "-p", "99999:80"], "99999", 2),
            (["connect", "e2ebadnet", "e2ebadsb", "-p", "8080:80/icmp"], "icmp", 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip", "10.1.0.1"], "--ip", 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--mac", "zz:00:00:00:00:00"], "--mac", 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip", "fd00::1"], "--ip", 2),
            (["network", "ls", "--format", "yaml"], "yaml", 64),
        ]
        #expect(try netctl("network", "create", "e2ebadnet", "--subnet", "10.196.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2ebadsb").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ebadsb"); _ = try? netctl("network", "rm", "-f", "e2ebadnet") }
        for (arguments, named, status) in cases {
            let output = try netctl(arguments)
            #expect(output.status == status, "\(arguments): \(output.status) \(output.stderr)")
            #expect(output.stderr.contains(named), "\(arguments): \(output.stderr)")
        }
        #expect(try netctl("network", "ls", "--format", "json").json?.arrayValue?.contains { $0["Name"] == "e2ebad" } == false)
    }

    @Test func firewallReloadRestoresPublishedPortsAfterAFlush() throws {
        #expect(try netctl("network", "create", "e2ereload", "--subnet", "10.197.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2ereload1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ereload1"); _ = try? netctl("network", "rm", "-f", "e2ereload") }
        #expect(try netctl("connect", "e2ereload", "e2ereload1", "-p", "8590:80").status == 0)
        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2ereload1"), port: 80, body: "reloaded")
        defer { server.stop() }
        #expect(try fetch(from: nil, "http://10.197.0.1:8590/") == "reloaded")
        try runCommand(["nft", "delete", "table", "inet", "netctl"]) // what `nft flush ruleset` does to our table
        #expect(try fetch(from: nil, "http://10.197.0.1:8590/", timeout: 1) == nil)
        #expect(try netctl("firewall", "reload").status == 0)
        #expect(try fetch(from: nil, "http://10.197.0.1:8590/") == "reloaded")
    }

    @Test func aCNIDriverNetworkRunsThePluginChainAndPublishesPorts() throws {
        let environment = ["CNI_PATH": pluginDirectory.path]
        let created = try netctl(["network", "create", "e2ecni", "--driver", "cni:bridge", "--subnet", "10.198.0.0/24",
                                  "-o", "bridge=e2ecni0", "-o", "isGateway=true", "-o", "isDefaultGateway=true", "-o", "hairpinMode=true"],
                                 environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try netctl("sandbox", "create", "e2ecni1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ecni1"); _ = try? netctl(["network", "rm", "-f", "e2ecni"], environment: environment) }
        let connected = try netctl(["connect", "e2ecni", "e2ecni1", "-p", "8780:80", "--format", "json"], environment: environment)
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(connected.json?["Addresses"]?.arrayValue?.first == "10.198.0.2/24")
        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2ecni1"), port: 80, body: "through a CNI chain")
        defer { server.stop() }
        #expect(try fetch(from: nil, "http://10.198.0.1:8780/") == "through a CNI chain")
        for _ in 0..<2 { #expect(try netctl(["disconnect", "e2ecni", "e2ecni1"], environment: environment).status == 0) }
        #expect(try runCommand(["ip", "-n", "e2ecni1", "link", "show", "eth0"]).status != 0)
        let missing = try netctl(["network", "create", "e2ecni2", "--driver", "cni:nosuchplugin"], environment: environment)
        #expect(missing.status == 2 && missing.stderr.contains("nosuchplugin"), "\(missing.stderr)")
    }
}
