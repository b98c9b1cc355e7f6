import Foundation
import NetCore
import Testing

/// The rest of `netctl` end to end: the host and null drivers, concurrent connects of one
/// sandbox, the listing and inspecting commands, prune and GC, IPv6, internal networks,
/// address ranges, and teardown of what is gone or forced. Names and subnets are each test's
/// own (10.210-10.239, fd21::/16); prune and GC run on a state directory of their own, as
/// they act on every network and sandbox of a store.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetctlEndToEndCoverageTests {
    init() throws { try runCommand(["sysctl", "-qw", "net.ipv4.ip_forward=1"]) }

    /// The ID netctl gave sandbox `name`.
    func sandboxID(_ name: String, environment: [String: String] = [:]) throws -> String? {
        try netctl(["sandbox", "inspect", name, "--format", "json"], environment: environment).json?.arrayValue?.first?["Id"]?.stringValue
    }

    /// A state directory of its own, removed by the caller.
    func privateState() throws -> (environment: [String: String], path: String) {
        let path = NSTemporaryDirectory() + "netctl-e2e-state-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return (["NETCTL_STATE_DIR": path], path)
    }

    // MARK: Host and null

    @Test func aHostSandboxIsTheNamespaceNetctlRunsInAndGetsNoInterface() throws {
        // A link only this namespace has: the machine's own namespace (PID 1's) does not.
        try runCommand(["ip", "link", "add", "e2ehostmark", "type", "bridge"])
        defer { _ = try? runCommand(["ip", "link", "delete", "e2ehostmark"]) }
        let created = try netctl("sandbox", "create", "e2ehost", "--network", "host")
        #expect(created.status == 0 && created.stdout == "/proc/self/ns/net", "\(created)")
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ehost"); _ = try? netctl("network", "rm", "-f", "e2ehostbr", "e2ehostnet", "e2ehostmv") }

        let own = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let joined = try netctl("exec", "e2ehost", "--", "readlink", "/proc/self/ns/net")
        #expect(joined.status == 0 && joined.stdout == own, "\(joined) != \(own)")
        // The same links as here; other tests add and remove theirs meanwhile, so a few tries.
        var same = false
        for _ in 0..<5 where !same {
            let listed = try netctl("exec", "e2ehost", "--", "ip", "-j", "link")
            let inside = Set((try? JSON(parsing: listed.stdout))?.arrayValue?.compactMap { $0["ifname"]?.stringValue } ?? [])
            #expect(inside.contains("e2ehostmark"), "\(inside)")
            same = inside == (try linkNames())
        }
        #expect(same)

        // An interface of a bridge or macvlan network would land in this namespace: refused.
        #expect(try netctl("network", "create", "e2ehostbr", "--subnet", "10.210.0.0/24", "-o", "com.docker.network.bridge.name=e2ehostbr0").status == 0)
        #expect(try netctl("network", "create", "e2ehostmv", "--driver", "macvlan", "--subnet", "10.210.1.0/24", "-o", "parent=e2ehostmark").status == 0)
        let before = try linkNames()
        for (network, target) in [("e2ehostbr", "e2ehost"), ("e2ehostmv", "e2ehost"), ("e2ehostbr", "/proc/self/ns/net"), ("e2ehostbr", "/proc/\(getpid())/ns/net")] {
            let refused = try netctl("connect", network, target)
            #expect(refused.status == 7, "\(network) \(target): \(refused)")
            #expect(refused.stderr.contains("host"), "\(refused.stderr)")
        }
        let after = try linkNames()
        #expect(!after.contains("eth0") && !after.contains("e2ehostbr0"), "\(after.subtracting(before))")
        #expect(try netctl("network", "inspect", "e2ehostbr", "--format", "json").json?.arrayValue?.first?["Containers"]?.arrayValue?.isEmpty == true)
        #expect(try netctl("sandbox", "ls", "--format", "json").json?.arrayValue?.contains { $0["Path"]?.stringValue?.hasPrefix("/proc/\(getpid())") == true } == false)

        // The host driver is the other way round: only a host sandbox joins it.
        #expect(try netctl("network", "create", "e2ehostnet", "--driver", "host").status == 0)
        #expect(try netctl("connect", "e2ehostnet", "e2ehost").status == 0)
        #expect(try netctl("sandbox", "create", "e2ehostown").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ehostown") }
        let own2 = try netctl("connect", "e2ehostnet", "e2ehostown")
        #expect(own2.status == 2 && own2.stderr.contains("e2ehostown"), "\(own2)")
        #expect(try netctl("disconnect", "e2ehostnet", "e2ehost").status == 0)
        for _ in 0..<2 { #expect(try netctl("sandbox", "rm", "e2ehost").status == 0) }
        #expect(try runCommand(["ip", "link", "show", "e2ehostmark"]).status == 0) // removing it removed nothing here
    }

    @Test func aNullNetworkAddsNoInterface() throws {
        #expect(try netctl("network", "create", "e2enull", "--driver", "null").status == 0)
        #expect(try netctl("sandbox", "create", "e2enull1").status == 0)
        defer {
            _ = try? netctl("sandbox", "rm", "-f", "e2enull1")
            for network in ["e2enull", "e2enullbr"] { _ = try? netctl("network", "rm", "-f", network) }
        }
        let connected = try netctl("connect", "e2enull", "e2enull1")
        #expect(connected.status == 0 && connected.stdout.isEmpty, "\(connected)")
        #expect(try linkNames(in: "e2enull1") == ["lo"])
        // It takes no interface name: a bridge network connected next gets eth0.
        #expect(try netctl("network", "create", "e2enullbr", "--subnet", "10.224.0.0/24").status == 0)
        let bridged = try netctl("connect", "e2enullbr", "e2enull1")
        #expect(bridged.status == 0 && bridged.stdout.hasPrefix("eth0 10.224.0."), "\(bridged)")
        let endpoints = try netctl("sandbox", "inspect", "e2enull1").json?.arrayValue?.first?["Endpoints"]?.arrayValue ?? []
        #expect(endpoints.first { $0["Network"] == "e2enull" }?["Interface"] == "", "\(endpoints)")
        #expect(try netctl("disconnect", "e2enullbr", "e2enull1").status == 0)
        let address = try netctl("connect", "e2enull", "e2enull1", "--ip", "10.0.0.1")
        #expect(address.status != 0)
        let subnet = try netctl("network", "create", "e2enull2", "--driver", "null", "--subnet", "10.211.9.0/24")
        #expect(subnet.status == 2 && subnet.stderr.contains("null"), "\(subnet)")
        #expect(try netctl("sandbox", "inspect", "e2enull1", "--format", "json").json?.arrayValue?.first?["Endpoints"]?.arrayValue?.count == 1)
        #expect(try netctl("disconnect", "e2enull", "e2enull1").status == 0)
        #expect(try netctl("network", "rm", "e2enull").status == 0)
    }

    // MARK: Concurrency

    @Test func concurrentConnectsOfOneSandboxGetDistinctInterfaces() throws {
        let networks = (0..<4).map { "e2efan\($0)" }
        for (index, network) in networks.enumerated() {
            #expect(try netctl("network", "create", network, "--subnet", "10.211.\(index).0/24").status == 0)
        }
        #expect(try netctl("sandbox", "create", "e2efan").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2efan"); _ = try? netctl(["network", "rm", "-f"] + networks) }
        let running = try networks.map { try RunningNetctl(["connect", $0, "e2efan", "--format", "json"]) }
        let outputs = running.map { $0.wait() }
        for output in outputs { #expect(output.status == 0, "\(output.stderr)") }
        let interfaces = outputs.compactMap { $0.json?["Interface"]?.stringValue }
        #expect(Set(interfaces) == ["eth0", "eth1", "eth2", "eth3"], "\(interfaces)")
        #expect(try linkNames(in: "e2efan").isSuperset(of: ["eth0", "eth1", "eth2", "eth3"]))
        for (index, output) in outputs.enumerated() {
            guard let interface = output.json?["Interface"]?.stringValue else { continue }
            #expect(try addresses(in: "e2efan", interface) == ["10.211.\(index).2"], "\(interface)")
        }
        // One default route, the first endpoint's: the others' would have clashed with it.
        let defaults = try ipJSON(["-n", "e2efan", "-4", "route", "show", "default"])
        #expect(defaults.count == 1, "\(defaults)")
        #expect(defaults.first?["gateway"]?.stringValue?.hasPrefix("10.211.") == true)
    }

    @Test func twoConcurrentConnectsOfOneSandboxToOneNetworkHaveOneWinner() throws {
        #expect(try netctl("network", "create", "e2erace", "--subnet", "10.212.0.0/24").status == 0)
        defer { _ = try? netctl("network", "rm", "-f", "e2erace") }
        for round in 0..<3 {
            let sandbox = "e2erace\(round)"
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            defer { _ = try? netctl("sandbox", "rm", "-f", sandbox) }
            let running = try (0..<2).map { _ in try RunningNetctl(["connect", "e2erace", sandbox, "--format", "json"]) }
            let outputs = running.map { $0.wait() }
            let winners = outputs.filter { $0.status == 0 }
            let losers = outputs.filter { $0.status != 0 }
            #expect(winners.count == 1 && losers.count == 1, "\(outputs)")
            guard let winner = winners.first, let loser = losers.first else { continue }
            #expect(loser.status == 4 && loser.stderr.contains("already connected"), "\(loser)")
            let address = try #require(winner.json?["Addresses"]?.arrayValue?.first?.stringValue)
            let bare = String(address.prefix { $0 != "/" })
            // The winner's address stays configured and leased: the loser undid nothing of it.
            #expect(try addresses(in: sandbox) == [bare])
            let id = try #require(try sandboxID(sandbox))
            #expect(try leaseCount(network: "e2erace", containerID: id) == 1)
            #expect(try netctl("network", "inspect", "e2erace", "--format", "json").json?.arrayValue?.first?["Containers"]?.arrayValue?
                .filter { $0["Sandbox"]?.stringValue == sandbox }.count == 1)
            #expect(try netctl("disconnect", "e2erace", sandbox).status == 0)
            #expect(try leaseCount(network: "e2erace", containerID: id) == 0)
        }
    }

    /// A host port one endpoint publishes is refused to another, naming who has it, on the
    /// same network or another, for loopback only too; the refused connect leaves nothing.
    @Test func aPublishedHostPortIsRefusedToAnotherEndpointNamingItsHolder() throws {
        for (index, network) in ["e2etaken1", "e2etaken2"].enumerated() {
            #expect(try netctl("network", "create", network, "--subnet", "10.223.\(index).0/24").status == 0)
        }
        for sandbox in ["e2etakensb1", "e2etakensb2"] { #expect(try netctl("sandbox", "create", sandbox).status == 0) }
        defer {
            for sandbox in ["e2etakensb1", "e2etakensb2"] { _ = try? netctl("sandbox", "rm", "-f", sandbox) }
            for network in ["e2etaken1", "e2etaken2"] { _ = try? netctl("network", "rm", "-f", network) }
        }
        let first = try netctl("connect", "e2etaken1", "e2etakensb1", "-p", "8620-8622:80-82")
        #expect(first.status == 0, "\(first.stderr)")
        for (network, spec) in [("e2etaken1", "8621:80"), ("e2etaken2", "127.0.0.1:8622:80"), ("e2etaken2", "[::1]:8620:80")] {
            let refused = try netctl("connect", network, "e2etakensb2", "-p", spec)
            #expect(refused.status == 4, "\(network) \(spec): \(refused)")
            #expect(refused.stderr.contains("sandbox \"e2etakensb1\" on network \"e2etaken1\" (8620-8622:80-82/tcp)"), "\(refused.stderr)")
            #expect(try ipJSON(["-n", "e2etakensb2", "link", "show"]).count == 1, "only lo") // nothing half made
        }
        let inspected = try netctl("sandbox", "inspect", "e2etakensb2").json?.arrayValue?.first
        #expect(inspected?["Endpoints"]?.arrayValue?.isEmpty == true, "\(String(describing: inspected))")
        // Another protocol is another port.
        let udp = try netctl("connect", "e2etaken2", "e2etakensb2", "-p", "8621:80/udp")
        #expect(udp.status == 0, "\(udp.stderr)")
        // Once the holder lets go, the port is free.
        #expect(try netctl("disconnect", "e2etaken1", "e2etakensb1").status == 0)
        let again = try netctl("connect", "e2etaken1", "e2etakensb1", "-p", "8621:80")
        #expect(again.status == 0, "\(again.stderr)")
    }

    /// One namespace reached by two paths (its sandbox name and a bind mount a runtime might
    /// hand over) is two sandbox records; concurrent connects through both still get
    /// distinct interfaces, as its links and the endpoints of both are one namespace's.
    @Test func connectsThroughTwoPathsOfOneNamespaceGetDistinctInterfaces() throws {
        let networks = ["e2epaths0", "e2epaths1"]
        for (index, network) in networks.enumerated() {
            #expect(try netctl("network", "create", network, "--subnet", "10.225.\(index).0/24").status == 0)
        }
        #expect(try netctl("sandbox", "create", "e2epaths").status == 0)
        let alias = "/run/netns/e2epaths-alias"
        #expect(FileManager.default.createFile(atPath: alias, contents: nil))
        #expect(try runCommand(["mount", "--bind", "/run/netns/e2epaths", alias]).status == 0)
        defer {
            for network in networks { _ = try? netctl("disconnect", "-f", network, alias) }
            _ = try? runCommand(["umount", alias])
            try? FileManager.default.removeItem(atPath: alias)
            _ = try? netctl("sandbox", "rm", "-f", "e2epaths")
            _ = try? netctl(["network", "rm", "-f"] + networks)
        }
        for round in 0..<3 {
            let running = [try RunningNetctl(["connect", networks[0], "e2epaths", "--format", "json"]),
                           try RunningNetctl(["connect", networks[1], alias, "--format", "json"])]
            let outputs = running.map { $0.wait() }
            for output in outputs { #expect(output.status == 0, "round \(round): \(output.stderr)") }
            let interfaces = outputs.compactMap { $0.json?["Interface"]?.stringValue }
            #expect(Set(interfaces) == ["eth0", "eth1"], "round \(round): \(interfaces)")
            #expect(try linkNames(in: "e2epaths") == ["lo", "eth0", "eth1"])
            #expect(try netctl("disconnect", networks[0], "e2epaths").status == 0)
            #expect(try netctl("disconnect", networks[1], alias).status == 0)
            #expect(try linkNames(in: "e2epaths") == ["lo"])
        }
    }

    // MARK: Listing and inspecting

    @Test func inspectListAndPortsInTablesAndJSON() throws {
        #expect(try netctl("network", "create", "e2einsp", "--subnet", "10.213.0.0/24", "--label", "tier=web", "--label", "team=net",
                           "-o", "com.docker.network.bridge.name=e2einsp0").status == 0)
        #expect(try netctl("sandbox", "create", "e2einsp1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2einsp1"); _ = try? netctl("network", "rm", "-f", "e2einsp") }
        let connected = try netctl("connect", "e2einsp", "e2einsp1", "-p", "8593:80", "--alias", "web", "--alias", "www.e2e",
                                   "--mac", "02:00:00:21:30:01", "--format", "json")
        #expect(connected.status == 0, "\(connected.stderr)")
        #expect(connected.json?["Aliases"] == ["web", "www.e2e"])
        #expect(try ipJSON(["-n", "e2einsp1", "link", "show", "eth0"]).first?["address"]?.stringValue == "02:00:00:21:30:01")

        let table = try netctl("network", "inspect", "e2einsp", "--format", "table")
        #expect(table.status == 0)
        #expect(table.json == nil, "table is not JSON: \(table.stdout)")
        for text in ["Name:", "e2einsp", "Driver:", "bridge", "Bridge:", "e2einsp0", "10.213.0.0/24", "gateway 10.213.0.1",
                     "team=net", "tier=web", "Internal:", "e2einsp1", "10.213.0.2/24", "02:00:00:21:30:01", "web,www.e2e", "8593:80/tcp"] {
            #expect(table.stdout.contains(text), "\(text) in \(table.stdout)")
        }
        // JSON by default, as `docker network inspect` prints it for jq.
        #expect(try netctl("network", "inspect", "e2einsp").json == (try netctl("network", "inspect", "e2einsp", "--format", "json").json))
        let json = try #require(try netctl("network", "inspect", "e2einsp").json?.arrayValue?.first)
        #expect(json["Labels"] == ["team": "net", "tier": "web"])
        #expect(json["Bridge"] == "e2einsp0")
        #expect(json["Containers"]?.arrayValue?.first?["Aliases"] == ["web", "www.e2e"])
        #expect(try netctl("network", "inspect", "e2einsp", "nosuchnetwork").status == 3)

        let list = try netctl("sandbox", "ls")
        #expect(list.stdout.split(separator: "\n").contains { $0.contains("e2einsp1") && $0.contains("/run/netns/e2einsp1") && $0.contains("e2einsp") })
        #expect(try netctl("sandbox", "ls", "--format", "json").json?.arrayValue?.contains { $0["Name"] == "e2einsp1" && $0["Path"] == "/run/netns/e2einsp1" } == true)
        let sandbox = try netctl("sandbox", "inspect", "e2einsp1", "--format", "table")
        #expect(sandbox.json == nil)
        for text in ["Path:", "/run/netns/e2einsp1", "Owned:", "yes", "NETWORK", "e2einsp", "eth0", "02:00:00:21:30:01"] {
            #expect(sandbox.stdout.contains(text), "\(text) in \(sandbox.stdout)")
        }
        let sandboxJSON = try #require(try netctl("sandbox", "inspect", "e2einsp1").json?.arrayValue?.first)
        #expect(sandboxJSON["Endpoints"]?.arrayValue?.first?["MacAddress"] == "02:00:00:21:30:01")
        #expect(sandboxJSON["Owned"] == true)

        let ports = try #require(try netctl("port", "ls", "--format", "json").json?.arrayValue)
        let port = try #require(ports.first { $0["Network"] == "e2einsp" })
        #expect(port["Sandbox"] == "e2einsp1" && port["Port"] == "8593:80/tcp" && port["Container"] == "10.213.0.2", "\(port)")
        #expect(port["ProxyPID"]?.intValue.map { $0 > 0 } == true, "\(port)")

        #expect(try netctl("network", "ls").stdout.split(separator: "\n").contains { $0.contains("e2einsp") && $0.contains("10.213.0.0/24") })
        #expect(try netctl("disconnect", "e2einsp", "e2einsp1").status == 0)
        for _ in 0..<2 { #expect(try netctl("sandbox", "rm", "e2einsp1").status == 0) } // twice: success
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/e2einsp1"))
        #expect(try netctl("sandbox", "inspect", "e2einsp1").status == 3)
    }

    @Test func versionAndCompletionScripts() throws {
        let version = try netctl("version")
        #expect(version.status == 0 && version.stdout.hasPrefix("netctl ") && version.stdout.count > "netctl ".count, "\(version)")
        let json = try netctl("version", "--format", "json")
        #expect(json.json?["Version"]?.stringValue.map { version.stdout.hasSuffix($0) } == true, "\(json)")
        let marks = ["bash": "complete", "zsh": "#compdef netctl", "fish": "complete -c 'netctl'"]
        for (shell, mark) in marks {
            let script = try netctl("completion", shell)
            #expect(script.status == 0, "\(shell): \(script.stderr)")
            #expect(script.stdout.contains(mark), "\(shell)")
            for word in ["network", "sandbox", "connect", "disconnect", "exec"] { #expect(script.stdout.contains(word), "\(shell): \(word)") }
        }
    }

    // MARK: Prune and GC (a store of their own)

    @Test func pruneRemovesOnlyNetworksWithoutEndpoints() throws {
        let (environment, path) = try privateState()
        defer { try? FileManager.default.removeItem(atPath: path) }
        for arguments in [["network", "create", "e2eprune1", "--driver", "null"],
                          ["network", "create", "e2eprune2", "--driver", "macvlan", "--subnet", "10.214.0.0/24", "-o", "parent=e2enoparent"],
                          ["network", "create", "e2eprune3", "--driver", "null"],
                          ["sandbox", "create", "e2eprunesb"], ["connect", "e2eprune3", "e2eprunesb"]] {
            let output = try netctl(arguments, environment: environment)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
        }
        defer { _ = try? netctl(["sandbox", "rm", "-f", "e2eprunesb"], environment: environment) }
        let pruned = try netctl(["network", "prune", "--format", "json"], environment: environment)
        #expect(pruned.status == 0)
        #expect(pruned.json == ["e2eprune1", "e2eprune2"], "\(pruned)")
        #expect(try netctl(["network", "ls", "--format", "json"], environment: environment).json?.arrayValue?.compactMap { $0["Name"]?.stringValue } == ["e2eprune3"])
        #expect(try netctl(["network", "prune"], environment: environment).stdout.isEmpty) // nothing more
        #expect(try netctl(["disconnect", "e2eprune3", "e2eprunesb"], environment: environment).status == 0)
        #expect(try netctl(["network", "prune"], environment: environment).stdout == "e2eprune3")
    }

    @Test func gcRemovesEndpointsAndSandboxesWhoseNamespaceIsGone() throws {
        let (environment, path) = try privateState()
        defer { try? FileManager.default.removeItem(atPath: path) }
        for arguments in [["network", "create", "e2egc", "--driver", "null"], ["sandbox", "create", "e2egc1"], ["sandbox", "create", "e2egc2"],
                          ["connect", "e2egc", "e2egc1"], ["connect", "e2egc", "e2egc2"]] {
            let output = try netctl(arguments, environment: environment)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
        }
        defer { _ = try? netctl(["sandbox", "rm", "-f", "e2egc1", "e2egc2"], environment: environment) }
        try runCommand(["ip", "netns", "delete", "e2egc1"]) // gone behind netctl's back
        let report = try netctl(["gc", "--format", "json"], environment: environment)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.json?["endpoints"] == ["e2egc/e2egc1"], "\(report.stdout)")
        #expect(report.json?["sandboxes"] == ["e2egc1"], "\(report.stdout)")
        let names = try netctl(["sandbox", "ls", "--format", "json"], environment: environment).json?.arrayValue?.compactMap { $0["Name"]?.stringValue }
        #expect(names == ["e2egc2"])
        #expect(try netctl(["network", "inspect", "e2egc", "--format", "json"], environment: environment).json?.arrayValue?.first?["Containers"]?.arrayValue?
            .compactMap { $0["Sandbox"]?.stringValue } == ["e2egc2"])
        let again = try netctl(["gc"], environment: environment)
        #expect(again.status == 0 && again.stdout.contains("sandboxes: none") && again.stdout.contains("endpoints: none"), "\(again.stdout)")
    }

    // MARK: Teardown

    /// A connect killed outright (SIGKILL, the OOM killer) cannot finish; the next connect of
    /// the same pair, or `gc`, takes down what it left, and then nothing of it stays behind.
    @Test func whatAKilledConnectLeftIsTakenDownByTheNextConnectOrGC() throws {
        #expect(try netctl("network", "create", "e2ekill", "--subnet", "10.227.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2ekill1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ekill1"); _ = try? netctl("network", "rm", "-f", "e2ekill") }
        func endpoint() throws -> JSON? {
            try netctl("sandbox", "inspect", "e2ekill1").json?.arrayValue?.first?["Endpoints"]?.arrayValue?.first
        }
        func leftovers() throws -> [String] {
            let veths = try ipJSON(["link", "show"]).compactMap { $0["ifalias"]?.stringValue }.filter { $0.hasPrefix("netctl:netctl:e2ekill/") }
            let listeners = try runCommand(["ss", "-ltnH", "sport = :8631"]).text.split(separator: "\n").map(String.init)
            let dnat = try runCommand(["nft", "list", "table", "inet", "netctl"]).text.contains(" 8631 ") ? ["a DNAT entry"] : []
            return veths + listeners + dnat + (try linkNames(in: "e2ekill1").subtracting(["lo"]).sorted())
                + (try leaseCount(network: "e2ekill") == 0 ? [] : ["a lease"]) + (try endpoint() == nil ? [] : ["the endpoint"])
        }
        var abandoned = 0
        for attempt in 0..<16 {
            let running = try RunningNetctl(["connect", "e2ekill", "e2ekill1", "-p", "8631:80"], defaultSignals: true)
            usleep(20_000 + UInt32(attempt % 8) * 2_500)
            running.signal(SIGKILL)
            _ = running.wait()
            let wasAbandoned = try endpoint()?["ReservedBy"] != nil
            if wasAbandoned { abandoned += 1 }
            if attempt % 2 == 0 {
                let again = try netctl("connect", "e2ekill", "e2ekill1", "-p", "8631:80")
                #expect(again.status == 0 || (again.status == 4 && !wasAbandoned), "attempt \(attempt): \(again)")
                let healed = try #require(try endpoint(), "attempt \(attempt): \(again)")
                #expect(healed["ReservedBy"] == nil && healed["Addresses"]?.arrayValue?.count == 1, "attempt \(attempt): \(healed)")
                #expect(try netctl("disconnect", "e2ekill", "e2ekill1").status == 0)
            } else {
                let gc = try netctl("gc")
                #expect(gc.status == 0, "attempt \(attempt): \(gc)")
                #expect(gc.stdout.contains("e2ekill/e2ekill1") == wasAbandoned, "attempt \(attempt): \(gc.stdout)")
                #expect(try endpoint()?["ReservedBy"] == nil, "attempt \(attempt)")
                _ = try netctl("disconnect", "e2ekill", "e2ekill1")
            }
            let left = try leftovers()
            #expect(left.isEmpty, "attempt \(attempt): \(left)")
        }
        print("killed connects: \(abandoned) of 16 left a reservation")

        // The worst moment, made on purpose, since the kills above may miss it: the proxy gone,
        // the firewall record never committed (its DNAT entries in place), the row reserved
        // by a process that has gone. Each way of healing must take all of it down.
        var ownPIDNamespace = stat()
        #expect(stat("/proc/self/ns/pid", &ownPIDNamespace) == 0)
        let sandbox = try #require(try sandboxID("e2ekill1"))
        for healer in [["connect", "e2ekill", "e2ekill1", "-p", "8631:80"], ["gc"]] {
            #expect(try netctl("connect", "e2ekill", "e2ekill1", "-p", "8631:80").status == 0)
            let proxy = try netctl("port", "ls", "--format", "json").json?.arrayValue?
                .first { $0["Network"] == "e2ekill" }?["ProxyPID"]?.intValue.flatMap(Int32.init(exactly:))
            kill(try #require(proxy), SIGKILL)
            for _ in 0..<100 where !(try runCommand(["ss", "-ltnH", "sport = :8631"]).text.isEmpty) { usleep(20_000) }
            let reservedBy = #"{"Pid":2147483647,"StartTime":1,"PidNamespace":\#(ownPIDNamespace.st_ino)}"#
            for sql in ["DELETE FROM firewall_attachments WHERE container_id = '\(sandbox)'",
                        "UPDATE endpoints SET definition = json_set(definition, '$.ReservedBy', json('\(reservedBy)')) WHERE sandbox = 'e2ekill1'"] {
                #expect(try runCommand(["sqlite3", "-cmd", ".timeout 10000", "/var/lib/netctl/netctl.db", sql]).status == 0)
            }
            #expect(try endpoint()?["ReservedBy"] != nil)
            let healed = try netctl(healer)
            #expect(healed.status == 0, "\(healer): \(healed)")
            if healer == ["gc"] {
                #expect(healed.stdout.contains("e2ekill/e2ekill1"), "\(healed.stdout)")
            } else {
                #expect(try endpoint()?["ReservedBy"] == nil && netctl("disconnect", "e2ekill", "e2ekill1").status == 0)
            }
            let left = try leftovers()
            #expect(left.isEmpty, "\(healer): \(left)")
        }
    }

    /// A connect that SIGTERM or SIGINT interrupts (a runtime's timeout, a Ctrl-C) finishes
    /// what it started before the signal ends it: the sandbox is connected whole or not at
    /// all, never half (a veth, a lease or a reserved row without the rest).
    @Test func anInterruptedConnectLeavesAWholeEndpointOrNone() throws {
        #expect(try netctl("network", "create", "e2esig", "--subnet", "10.226.0.0/24").status == 0)
        #expect(try netctl("sandbox", "create", "e2esig1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2esig1"); _ = try? netctl("network", "rm", "-f", "e2esig") }
        func hostVeths() throws -> [String] {
            try ipJSON(["link", "show"]).compactMap { $0["ifalias"]?.stringValue }.filter { $0.hasPrefix("netctl:netctl:e2esig/") }
        }
        var outcomes: [String] = []
        for attempt in 0..<24 {
            let running = try RunningNetctl(["connect", "e2esig", "e2esig1", "-p", "8630:80"], defaultSignals: true)
            usleep(20_000 + UInt32(attempt % 12) * 2_000) // python's start-up, then before, during and after the work
            running.signal(attempt % 2 == 0 ? SIGTERM : SIGINT)
            _ = running.wait()
            let endpoints = try netctl("sandbox", "inspect", "e2esig1").json?.arrayValue?.first?["Endpoints"]?.arrayValue ?? []
            if let endpoint = endpoints.first {
                outcomes.append("whole")
                let address = endpoint["Addresses"]?.arrayValue?.first?.stringValue?.split(separator: "/").first.map(String.init)
                #expect(address != nil, "attempt \(attempt): a reserved row without addresses: \(endpoint)")
                #expect(try addresses(in: "e2esig1") == address.map { [$0] } ?? [], "attempt \(attempt)")
                #expect(try hostVeths().count == 1, "attempt \(attempt)")
                #expect(try leaseCount(network: "e2esig") == 1, "attempt \(attempt)")
            } else {
                outcomes.append("none")
                #expect(try linkNames(in: "e2esig1") == ["lo"], "attempt \(attempt): an interface without an endpoint")
                #expect(try hostVeths().isEmpty, "attempt \(attempt): a host veth without an endpoint")
                #expect(try leaseCount(network: "e2esig") == 0, "attempt \(attempt): a lease without an endpoint")
            }
            let disconnected = try netctl("disconnect", "e2esig", "e2esig1")
            #expect(disconnected.status == 0, "attempt \(attempt): \(disconnected)")
            #expect(try linkNames(in: "e2esig1") == ["lo"] && hostVeths().isEmpty && leaseCount(network: "e2esig") == 0)
        }
        // Outcomes vary with the machine's speed; what counts is that none was half.
        print("interrupted connects: \(outcomes.filter { $0 == "whole" }.count) whole, \(outcomes.filter { $0 == "none" }.count) none")
    }

    @Test func disconnectForceWhenTheNamespaceIsAlreadyGone() throws {
        #expect(try netctl("network", "create", "e2egone", "--subnet", "10.215.0.0/24", "-o", "com.docker.network.bridge.name=e2egone0").status == 0)
        #expect(try netctl("sandbox", "create", "e2egone1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2egone1"); _ = try? netctl("network", "rm", "-f", "e2egone") }
        #expect(try netctl("connect", "e2egone", "e2egone1", "-p", "8594:80").status == 0)
        let id = try #require(try sandboxID("e2egone1"))
        #expect(try leaseCount(network: "e2egone", containerID: id) == 1)
        try runCommand(["ip", "netns", "delete", "e2egone1"])
        let forced = try netctl("disconnect", "-f", "e2egone", "e2egone1")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try netctl("network", "inspect", "e2egone", "--format", "json").json?.arrayValue?.first?["Containers"]?.arrayValue?.isEmpty == true)
        #expect(try leaseCount(network: "e2egone", containerID: id) == 0)
        #expect(try netctl("port", "ls", "--format", "json").json?.arrayValue?.contains { $0["Network"] == "e2egone" } == false)
        #expect(try fetch(from: nil, "http://127.0.0.1:8594/", timeout: 1) == nil) // no proxy left
        #expect(try netctl("disconnect", "-f", "e2egone", "e2egone1").status == 0) // again: success
        for _ in 0..<2 { #expect(try netctl("sandbox", "rm", "e2egone1").status == 0) }
    }

    /// The default route comes from the first network connected; when that one goes, the
    /// sandbox keeps a way out through the other (IPv4 and IPv6 alike), as under Docker.
    @Test func disconnectingTheNetworkOfTheDefaultRouteHandsItToAnother() throws {
        for (name, subnet, v6) in [("e2edefa", "10.222.0.0/24", "fd21:222::/64"), ("e2edefb", "10.222.1.0/24", "fd21:223::/64")] {
            let created = try netctl("network", "create", name, "--ipv6", "--subnet", subnet, "--subnet", v6,
                                     "-o", "com.docker.network.bridge.name=\(name)0")
            #expect(created.status == 0, "\(created.stderr)")
        }
        #expect(try netctl("sandbox", "create", "e2edef1").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2edef1"); _ = try? netctl("network", "rm", "-f", "e2edefa", "e2edefb") }
        #expect(try netctl("connect", "e2edefa", "e2edef1").status == 0)
        #expect(try netctl("connect", "e2edefb", "e2edef1").status == 0)
        func defaults(_ family: String) throws -> [(gateway: String?, device: String?)] {
            try ipJSON(["-n", "e2edef1", family, "route", "show", "default"]).map { ($0["gateway"]?.stringValue, $0["dev"]?.stringValue) }
        }
        #expect(try defaults("-4").map(\.gateway) == ["10.222.0.1"])
        #expect(try defaults("-6").map(\.gateway) == ["fd21:222::1"])

        #expect(try netctl("disconnect", "e2edefa", "e2edef1").status == 0)
        #expect(try defaults("-4").map(\.gateway) == ["10.222.1.1"])
        #expect(try defaults("-4").map(\.device) == ["eth1"])
        #expect(try defaults("-6").map(\.gateway) == ["fd21:223::1"])
        // Disconnecting a network that did not give the route leaves it alone.
        #expect(try netctl("connect", "e2edefa", "e2edef1").status == 0)
        #expect(try netctl("disconnect", "e2edefa", "e2edef1").status == 0)
        #expect(try defaults("-4").map(\.gateway) == ["10.222.1.1"])
        #expect(try netctl("disconnect", "e2edefb", "e2edef1").status == 0)
        #expect(try defaults("-4").isEmpty)
    }

    @Test func networkRmForceTearsDownEveryEndpoint() throws {
        #expect(try netctl("network", "create", "e2eforce", "--subnet", "10.216.0.0/24", "-o", "com.docker.network.bridge.name=e2eforce0").status == 0)
        let sandboxes = ["e2eforce1", "e2eforce2"]
        defer { _ = try? netctl(["sandbox", "rm", "-f"] + sandboxes); _ = try? netctl("network", "rm", "-f", "e2eforce") }
        for (index, sandbox) in sandboxes.enumerated() {
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            #expect(try netctl("connect", "e2eforce", sandbox, "-p", "\(8595 + index):80").status == 0)
        }
        let ports = try ipJSON(["link", "show", "master", "e2eforce0"]).compactMap { $0["ifname"]?.stringValue }
        #expect(ports.count == 2, "\(ports)")
        let refused = try netctl("network", "rm", "e2eforce")
        #expect(refused.status == 5)
        let forced = try netctl("network", "rm", "-f", "e2eforce")
        #expect(forced.status == 0, "\(forced.stderr)")
        for sandbox in sandboxes {
            #expect(try linkNames(in: sandbox) == ["lo"], "\(sandbox)")
            #expect(try netctl("sandbox", "inspect", sandbox, "--format", "json").json?.arrayValue?.first?["Endpoints"]?.arrayValue?.isEmpty == true)
        }
        let left = try linkNames()
        for port in ports { #expect(!left.contains(port), "\(port)") }
        #expect(!left.contains("e2eforce0"))
        #expect(try leaseCount(network: "e2eforce") == 0)
        #expect(!(try nftTable() ?? "").contains("e2eforce0"))
        #expect(try netctl("port", "ls", "--format", "json").json?.arrayValue?.contains { $0["Network"] == "e2eforce" } == false)
        #expect(try netctl("network", "inspect", "e2eforce").status == 3)
    }

    // MARK: Addresses

    @Test func addressesComeFromTheIPRangeAndNeverAnAuxAddress() throws {
        // 10.217.0.128/30 is .128-.131; .129 is reserved: .128, .130 and .131 are all there is.
        #expect(try netctl("network", "create", "e2erange", "--subnet", "10.217.0.0/24", "--ip-range", "10.217.0.128/30",
                           "--aux-address", "router=10.217.0.129").status == 0)
        let sandboxes = (1...4).map { "e2erange\($0)" }
        defer { _ = try? netctl(["sandbox", "rm", "-f"] + sandboxes); _ = try? netctl("network", "rm", "-f", "e2erange") }
        var given: [String] = []
        for sandbox in sandboxes.prefix(3) {
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            let connected = try netctl("connect", "e2erange", sandbox, "--format", "json")
            #expect(connected.status == 0, "\(connected.stderr)")
            given += try addresses(in: sandbox)
        }
        #expect(Set(given) == ["10.217.0.128", "10.217.0.130", "10.217.0.131"], "\(given)")
        #expect(try netctl("sandbox", "create", sandboxes[3]).status == 0)
        let full = try netctl("connect", "e2erange", sandboxes[3])
        #expect(full.status == 6, "\(full)") // no addresses left: .129 stays reserved
        let reserved = try netctl("connect", "e2erange", sandboxes[3], "--ip", "10.217.0.129")
        #expect(reserved.status != 0 && reserved.stderr.contains("10.217.0.129"), "\(reserved)")
        let json = try netctl("network", "inspect", "e2erange", "--format", "json").json?.arrayValue?.first
        #expect(json?["IPAM"]?["Config"]?.arrayValue?.first?["IPRange"] == "10.217.0.128/30")
        #expect(json?["AuxiliaryAddresses"] == ["router": "10.217.0.129"])
    }

    @Test func anIPv6NetworkGivesBothFamiliesAndHonoursIP6() throws {
        #expect(try netctl("network", "create", "e2ev6", "--ipv6", "--subnet", "10.218.0.0/24", "--subnet", "fd21:218::/64").status == 0)
        #expect(try netctl("network", "create", "e2ev6auto", "--ipv6", "--subnet", "10.218.1.0/24").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2ev61", "e2ev62"); _ = try? netctl("network", "rm", "-f", "e2ev6", "e2ev6auto") }
        #expect(try netctl("sandbox", "create", "e2ev61").status == 0)
        #expect(try netctl("sandbox", "create", "e2ev62").status == 0)
        let fixed = try netctl("connect", "e2ev6", "e2ev61", "--ip6", "fd21:218::77", "--format", "json")
        #expect(fixed.status == 0, "\(fixed.stderr)")
        let given = fixed.json?["Addresses"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(given.contains("fd21:218::77/64") && given.contains { $0.hasPrefix("10.218.0.") }, "\(given)")
        #expect(try addresses(in: "e2ev61", family: 6) == ["fd21:218::77"])
        #expect(try addresses(in: "e2ev61").first?.hasPrefix("10.218.0.") == true)
        // Without an IPv6 subnet, a unique local /64 of the network's own.
        let auto = try netctl("network", "inspect", "e2ev6auto", "--format", "json").json?.arrayValue?.first
        let v6 = try #require(auto?["IPAM"]?["Config"]?.arrayValue?.compactMap { $0["Subnet"]?.stringValue }.first { $0.hasPrefix("fd") })
        #expect(v6.hasSuffix("::/64"), "\(v6)")
        #expect(try netctl("connect", "e2ev6auto", "e2ev62").status == 0)
        let autoAddress = try #require(try addresses(in: "e2ev62", family: 6).first)
        #expect(autoAddress.hasPrefix(String(v6.dropLast("::/64".count))), "\(autoAddress) in \(v6)")
        let v6Without = try netctl("network", "create", "e2ev6no", "--subnet", "fd21:219::/64")
        #expect(v6Without.status == 2 && v6Without.stderr.contains("--ipv6"), "\(v6Without)")
    }

    @Test func anInternalNetworkHasNoRouteOutAndNoMasquerade() throws {
        #expect(try netctl("network", "create", "e2eint", "--internal", "--subnet", "10.219.0.0/24", "-o", "com.docker.network.bridge.name=e2eint0").status == 0)
        #expect(try netctl("network", "create", "e2eext", "--subnet", "10.219.1.0/24", "-o", "com.docker.network.bridge.name=e2eext0").status == 0)
        defer { _ = try? netctl("sandbox", "rm", "-f", "e2eint1", "e2eext1"); _ = try? netctl("network", "rm", "-f", "e2eint", "e2eext") }
        for (sandbox, network) in [("e2eint1", "e2eint"), ("e2eext1", "e2eext")] {
            #expect(try netctl("sandbox", "create", sandbox).status == 0)
            #expect(try netctl("connect", network, sandbox).status == 0)
        }
        let internalRoutes = try ipJSON(["-n", "e2eint1", "-4", "route", "show"]).compactMap { $0["dst"]?.stringValue }
        #expect(!internalRoutes.contains("default"), "\(internalRoutes)")
        #expect(internalRoutes.contains("10.219.0.0/24"))
        #expect(try ipJSON(["-n", "e2eext1", "-4", "route", "show"]).contains { $0["dst"] == "default" && $0["gateway"] == "10.219.1.1" })
        // Masquerade is by set membership: the external subnet is in it, the internal one never.
        let masquerade = try runCommand(["nft", "-j", "list", "set", "inet", "netctl", "masquerade4"])
        #expect(masquerade.status == 0)
        #expect(masquerade.text.contains("10.219.1.0"), "\(masquerade.text)")
        #expect(!masquerade.text.contains("10.219.0.0"), "\(masquerade.text)")
        let ping = ["ping", "-c", "1", "-W", "1"]
        #expect(try runCommand(["ip", "netns", "exec", "e2eint1"] + ping + ["10.219.0.1"]).status == 0) // its own bridge
        #expect(try runCommand(["ip", "netns", "exec", "e2eint1"] + ping + ["10.219.1.2"]).status != 0) // nothing beyond it
        let published = try netctl("connect", "e2eint", "e2eext1", "-p", "8599:80")
        #expect(published.status == 2 && published.stderr.contains("internal"), "\(published)")
    }
}
