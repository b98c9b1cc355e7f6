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
    try RunningNetctl(arguments, environment: environment).wait()
}

/// A `netctl` process started and not yet waited for: start several, then wait for each, and
/// they all run at once.
final class RunningNetctl {
    private let process = Process()
    private let output = Pipe(), errors = Pipe()

    /// - Parameter defaultSignals: start netctl with no signal blocked or ignored, as from a
    ///   shell (the test runner's children inherit its blocked signals).
    init(_ arguments: [String], environment: [String: String] = [:], defaultSignals: Bool = false) throws {
        let netctl = productsDirectory.appendingPathComponent("netctl").path
        if defaultSignals {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", """
                import os, signal, sys
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
                    signal.signal(number, signal.SIG_DFL)
                os.execv(sys.argv[1], sys.argv[1:])
                """, netctl] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: netctl)
            process.arguments = arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Sends `number` to the running netctl.
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func wait() -> NetctlOutput {
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return NetctlOutput(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                            stderr: String(decoding: err, as: UTF8.self))
    }
}

/// `ip -j ARGUMENTS`, decoded (an empty array when `ip` fails).
func ipJSON(_ arguments: [String]) throws -> [JSON] {
    let output = try runCommand(["ip", "-j"] + arguments)
    guard output.status == 0 else { return [] }
    return (try? JSON(parsing: output.text))?.arrayValue ?? []
}

/// The addresses (without prefix) of `family` (4 or 6; link-local ones left out) on
/// `interface` inside named namespace `namespace`.
func addresses(in namespace: String, _ interface: String = "eth0", family: Int = 4) throws -> [String] {
    try ipJSON(["-n", namespace, "-\(family)", "addr", "show", "dev", interface]).flatMap { link in
        (link["addr_info"]?.arrayValue ?? []).filter { $0["scope"]?.stringValue != "link" }.compactMap { $0["local"]?.stringValue }
    }
}

/// The link names inside `namespace` (the sandbox's own when `nil`).
func linkNames(in namespace: String? = nil) throws -> Set<String> {
    Set(try ipJSON((namespace.map { ["-n", $0] } ?? []) + ["link", "show"]).compactMap { $0["ifname"]?.stringValue })
}

/// How many leases IPAM holds for netctl network `network` (its key is `netctl:NAME`), by
/// container ID when given: read from the state database directly.
func leaseCount(network: String, containerID: String? = nil, stateDirectory: String = "/var/lib/netctl") throws -> Int {
    let script = """
        import sqlite3, sys
        db = sqlite3.connect("file:" + sys.argv[1] + "/netctl.db?mode=ro", uri=True)
        query = "SELECT count(*) FROM ipam_leases WHERE network = ?" + (" AND container_id = ?" if len(sys.argv) > 3 else "")
        print(db.execute(query, sys.argv[2:]).fetchone()[0])
        """
    let output = try runCommand(["python3", "-c", script, stateDirectory, "netctl:\(network)"] + (containerID.map { [$0] } ?? []))
    return Int(output.text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
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
        let fixed = try netctl("connect", "e2eweb", "/run/netns/e2eweb2", "--ip", "10.190.0.77", "--format", "json") // by path, fixed address
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(fixed.json?["Addresses"]?.arrayValue == ["10.190.0.77/24"])
        #expect(try addresses(in: "e2eweb2").contains("10.190.0.77"))

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
        #expect(ports.status == 7, "\(ports.status) \(ports.stderr)") // unsupported: macvlan publishes nothing
        #expect(ports.stderr.contains("-p 80:80"))
    }

    @Test func concurrentConnectsOnOneNetworkGetDistinctAddresses() throws {
        #expect(try netctl("network", "create", "e2eburst", "--subnet", "10.194.0.0/24").status == 0)
        defer { _ = try? netctl("network", "rm", "-f", "e2eburst") }
        let names = (0..<12).map { "e2eburst\($0)" }
        for name in names { #expect(try netctl("sandbox", "create", name).status == 0) }
        defer { for name in names { _ = try? netctl("sandbox", "rm", "-f", name) } }
        // All started before any is waited for, so all twelve run at once.
        let running = try names.map { try RunningNetctl(["connect", "e2eburst", $0, "--format", "json"]) }
        let results = running.map { process in
            let output = process.wait()
            return output.json?["Addresses"]?.arrayValue?.first?.stringValue ?? "failed: \(output.stderr)"
        }
        #expect(Set(results).count == names.count, "\(results)")
        #expect(!results.contains { $0.hasPrefix("failed") }, "\(results)")
    }

    @Test func everyBadFlagValueIsAClearErrorNamingIt() throws {
        // Each: the command line, what stderr must name (the flag and the value), the exit status.
        let cases: [([String], [String], Int32)] = [
            (["network", "create", "e2ebad", "--subnet", "10.0.0.0/33"], ["--subnet", "10.0.0.0/33"], 2),
            (["network", "create", "e2ebad", "--driver", "ipvlan"], ["--driver", "ipvlan"], 2),
            (["network", "create", "e2ebad", "--driver", "overlay"], ["--subnet", "overlay"], 2),
            (["network", "create", "e2ebad", "--gateway", "10.1.2.3.4"], ["--gateway", "10.1.2.3.4"], 2),
            (["network", "create", "e2ebad", "-o", "nokey"], ["-o", "nokey"], 2),
            (["network", "create", "e2ebad", "--aux-address", "x=10.9.9.9", "--subnet", "10.195.0.0/24"], ["--aux-address", "10.9.9.9"], 2),
            (["network", "create", "e2ebad", "--subnet", "10.195.0.0/24", "--ip-range", "10.195.0.0/99"], ["--ip-range", "10.195.0.0/99"], 2),
            (["network", "create", "e2ebad", "--subnet", "10.195.0.0/24", "--ip-range", "10.222.0.0/25"], ["--ip-range", "10.222.0.0/25"], 2),
            (["network", "create", "e2ebad", "--label", "nolabel"], ["--label", "nolabel"], 2),
            (["network", "create", "e2ebad", "-o", "com.docker.network.driver.mtu=9"], ["com.docker.network.driver.mtu", "\"9\""], 2),
            (["network", "create", "e2ebad", "-o", "com.docker.network.driver.mtu=lots"], ["com.docker.network.driver.mtu", "lots"], 2),
            (["network", "create", "e2ebad", "--driver", "macvlan", "--subnet", "10.195.0.0/24", "-o", "macvlan_mode=fast"], ["macvlan_mode", "fast"], 2),
            (["sandbox", "create", "e2ebad", "--network", "bridge"], ["--network", "bridge"], 2),
            (["connect", "nosuchnet", "nosuchsandbox"], ["nosuchnet"], 3),
            (["connect", "e2ebadnet", "nosuchsandbox"], ["nosuchsandbox"], 3),
            (["connect", "e2ebadnet", "e2ebadsb", "-p", "99999:80"], ["99999"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "-p", "8080:80/icmp"], ["icmp"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip", "10.1.0.1"], ["--ip", "10.1.0.1"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--mac", "zz:00:00:00:00:00"], ["--mac", "zz:00:00:00:00:00"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip", "fd00::1"], ["--ip", "fd00::1"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip6", "fd00::zz"], ["--ip6", "fd00::zz"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--ip6", "10.196.0.9"], ["--ip6", "10.196.0.9"], 2),
            (["connect", "e2ebadnet", "e2ebadsb", "--alias", "not_a_name"], ["--alias", "not_a_name"], 2),
            (["exec", "e2ebadsb"], ["<command>"], 64),
            (["exec", "e2ebadsb", "--"], ["<command>"], 64),
            (["exec", "/etc/hostname", "--", "true"], ["/etc/hostname", "not a network namespace"], 2), // setns: EINVAL
            (["exec", "/nonexistent/netns", "--", "true"], ["/nonexistent/netns"], 3),
            (["completion", "tcsh"], ["shell", "tcsh"], 2),
            (["network", "ls", "--format", "yaml"], ["yaml"], 64),
        ]
        #expect(try netctl("network", "create", "e2ebadnet", "--subnet", "10.196.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2ebadsb").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ebadsb"); _ = try? netctl("network", "rm", "-f", "e2ebadnet") }
        for (arguments, named, status) in cases {
            let output = try netctl(arguments)
            #expect(output.status == status, "\(arguments): \(output.status) \(output.stderr)")
            for name in named { #expect(output.stderr.contains(name), "\(arguments): \(output.stderr) should name \(name)") }
        }
        #expect(try netctl("network", "ls", "--format", "json").json?.arrayValue?.contains { $0["Name"] == "e2ebad" } == false)
        #expect(try netctl("sandbox", "ls", "--format", "json").json?.arrayValue?.contains { $0["Name"] == "e2ebad" } == false)
        #expect(try netctl("network", "inspect", "e2ebadnet", "--format", "json").json?.arrayValue?.first?["Containers"]?.arrayValue?.isEmpty == true)
    }

    @Test func whatExistsAlreadyIsExitFour() throws {
        #expect(try netctl("network", "create", "e2edup", "--subnet", "10.220.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2edup1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2edup1"); _ = try? netctl("network", "rm", "-f", "e2edup") }
        let network = try netctl("network", "create", "e2edup", "--subnet", "10.220.1.0/24")
        #expect(network.status == 4 && network.stderr.contains("e2edup") && network.stderr.contains("already exists"), "\(network)")
        let sandbox = try netctl("sandbox", "create", "e2edup1")
        #expect(sandbox.status == 4 && sandbox.stderr.contains("e2edup1") && sandbox.stderr.contains("already exists"), "\(sandbox)")
        #expect(try netctl("connect", "e2edup", "e2edup1").status == 0)
        let connect = try netctl("connect", "e2edup", "e2edup1")
        #expect(connect.status == 4 && connect.stderr.contains("already connected"), "\(connect)")
        #expect(try addresses(in: "e2edup1") == ["10.220.0.2"]) // the first connect's, untouched
        #expect(try leaseCount(network: "e2edup") == 1)
    }

    /// Runs in a host namespace (and state) of its own: flushing the ruleset of the shared
    /// one would break the isolation and ports the other tests check at the same moment.
    @Test func firewallReloadRestoresPublishedPortsAfterAFlush() throws {
        let host = try ScratchNamespace("reload-host")
        let state = NSTemporaryDirectory() + "netctl-reload-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        func hostNetctl(_ arguments: String...) throws -> (status: Int32, text: String) {
            // nsenter, not `ip netns exec`: that runs in a mount namespace of its own, where the
            // sandboxes netctl mounts under /run/netns would not outlive the command.
            try runCommand(["nsenter", "--net=\(host.path)", "env", "NETCTL_STATE_DIR=\(state)",
                            productsDirectory.appendingPathComponent("netctl").path] + arguments)
        }
        #expect(try runCommand(["ip", "-n", host.name, "link", "set", "lo", "up"]).status == 0)
        #expect(try hostNetctl("network", "create", "e2ereload", "--subnet", "10.197.0.0/24").status == 0)
        #expect(try hostNetctl("sandbox", "create", "e2ereload1").status == 0)
        defer { _ = try? hostNetctl("sandbox", "rm", "-f", "e2ereload1"); _ = try? hostNetctl("network", "rm", "-f", "e2ereload") }
        // 127.0.0.1:8591 only the proxy serves: no DNAT entry stands for it.
        #expect(try hostNetctl("connect", "e2ereload", "e2ereload1", "-p", "8590:80", "-p", "127.0.0.1:8591:80").status == 0)
        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2ereload1"), port: 80, body: "reloaded")
        defer { server.stop() }
        #expect(try fetch(from: host.name, "http://10.197.0.1:8590/") == "reloaded")
        #expect(try fetch(from: host.name, "http://127.0.0.1:8591/") == "reloaded")
        #expect(try runCommand(["ip", "netns", "exec", host.name, "nft", "flush", "ruleset"]).status == 0)
        #expect(try fetch(from: host.name, "http://10.197.0.1:8590/", timeout: 1) == nil)
        #expect(try hostNetctl("firewall", "reload").status == 0)
        #expect(try fetch(from: host.name, "http://10.197.0.1:8590/") == "reloaded")

        // A proxy that died is started again, for every port it served.
        let listed = try JSON(parsing: hostNetctl("port", "ls", "--format", "json").text)
        let pid = try #require(listed.arrayValue?.compactMap { $0["ProxyPID"]?.intValue }.first)
        kill(pid_t(pid), SIGKILL)
        #expect(try fetch(from: host.name, "http://127.0.0.1:8591/", timeout: 1) == nil)
        #expect(try hostNetctl("firewall", "reload").status == 0)
        #expect(try fetch(from: host.name, "http://127.0.0.1:8591/") == "reloaded")
        #expect(try fetch(from: host.name, "http://127.0.0.1:8590/") == "reloaded")
    }

    @Test func aCNIDriverNetworkRunsThePluginChainAndPublishesPorts() throws {
        let environment = ["CNI_PATH": pluginDirectory.path]
        let created = try netctl(["network", "create", "e2ecni", "--driver", "cni:bridge", "--subnet", "10.198.0.0/24",
                                  "-o", "bridge=e2ecni0", "-o", "isGateway=true", "-o", "isDefaultGateway=true", "-o", "hairpinMode=true"],
                                 environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try netctl("sandbox", "create", "e2ecni1").status == 0)
        #expect(try netctl("sandbox", "create", "e2ecni2").status == 0)
        defer {
            _ = try? netctl("sandbox", "rm", "-f", "e2ecni1", "e2ecni2")
            _ = try? netctl(["network", "rm", "-f", "e2ecni"], environment: environment)
        }
        #expect(try runCommand(["ip", "link", "show", "e2ecni0"]).status != 0) // the plugin makes it
        let connected = try netctl(["connect", "e2ecni", "e2ecni1", "-p", "8780:80", "--format", "json"], environment: environment)
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(connected.json?["Addresses"]?.arrayValue?.first == "10.198.0.2/24")
        let server = try HTTPServer(in: ScratchNamespace(adopting: "e2ecni1"), port: 80, body: "through a CNI chain")
        defer { server.stop() }
        #expect(try fetch(from: nil, "http://10.198.0.1:8780/") == "through a CNI chain")

        // --ip and --mac reach the plugin as the ips and mac capabilities.
        let fixed = try netctl(["connect", "e2ecni", "e2ecni2", "--ip", "10.198.0.50", "--mac", "02:00:00:19:80:50", "--format", "json"],
                               environment: environment)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(fixed.json?["Addresses"]?.arrayValue == ["10.198.0.50/24"])
        #expect(fixed.json?["MacAddress"] == "02:00:00:19:80:50")
        #expect(try addresses(in: "e2ecni2") == ["10.198.0.50"])
        #expect(try ipJSON(["-n", "e2ecni2", "link", "show", "eth0"]).first?["address"]?.stringValue == "02:00:00:19:80:50")
        // The list is named netctl-NAME, so its cached results, leases and GC are netctl's own
        // and never those of another runtime's network of the same name.
        let cachedWhileUp = (try? FileManager.default.contentsOfDirectory(atPath: "/var/lib/cni/results")) ?? []
        #expect(cachedWhileUp.filter { $0.hasPrefix("netctl-e2ecni-") }.count == 2, "\(cachedWhileUp)")
        #expect(!cachedWhileUp.contains { $0.hasPrefix("e2ecni-") }, "\(cachedWhileUp)")

        for _ in 0..<2 { #expect(try netctl(["disconnect", "e2ecni", "e2ecni1"], environment: environment).status == 0) }
        #expect(try runCommand(["ip", "-n", "e2ecni1", "link", "show", "eth0"]).status != 0)
        let busy = try netctl(["network", "rm", "e2ecni"], environment: environment)
        #expect(busy.status == 5 && busy.stderr.contains("e2ecni2"), "\(busy)")
        #expect(try netctl(["network", "rm", "-f", "e2ecni"], environment: environment).status == 0)
        // Everything the plugin made is gone: the container side, the bridge, the cached result.
        #expect(try runCommand(["ip", "-n", "e2ecni2", "link", "show", "eth0"]).status != 0)
        #expect(try runCommand(["ip", "link", "show", "e2ecni0"]).status != 0)
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: "/var/lib/cni/results")) ?? []
        #expect(!cached.contains { $0.hasPrefix("netctl-e2ecni-") }, "\(cached)")
        #expect(try netctl(["network", "rm", "e2ecni"], environment: environment).status == 0) // again: success

        let missing = try netctl(["network", "create", "e2ecni2", "--driver", "cni:nosuchplugin"], environment: environment)
        #expect(missing.status == 2 && missing.stderr.contains("nosuchplugin"), "\(missing.stderr)")
    }

    @Test func aBridgeThatWasThereBeforeACNINetworkOutlivesIt() throws {
        let environment = ["CNI_PATH": pluginDirectory.path]
        try runCommand(["ip", "link", "add", "e2ecnikeep0", "type", "bridge"])
        defer { _ = try? runCommand(["ip", "link", "delete", "e2ecnikeep0"]) }
        #expect(try netctl(["network", "create", "e2ecnikeep", "--driver", "cni:bridge", "--subnet", "10.221.0.0/24",
                            "-o", "bridge=e2ecnikeep0", "-o", "isGateway=true"], environment: environment).status == 0)
        #expect(try netctl("sandbox", "create", "e2ecnikeep1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ecnikeep1"); _ = try? netctl(["network", "rm", "-f", "e2ecnikeep"], environment: environment) }
        let connected = try netctl(["connect", "e2ecnikeep", "e2ecnikeep1"], environment: environment)
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(try netctl(["network", "rm", "-f", "e2ecnikeep"], environment: environment).status == 0)
        #expect(try runCommand(["ip", "link", "show", "e2ecnikeep0"]).status == 0) // not netctl's to delete
        #expect(try runCommand(["ip", "-n", "e2ecnikeep1", "link", "show", "eth0"]).status != 0)
    }
}
