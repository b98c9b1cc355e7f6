import Drivers
import Foundation
import NetCore
import Testing

/// CHECK against real state: right after ADD it passes; with one thing taken away (a route,
/// a lease, an nftables element, a MAC, an address) it fails naming what is missing.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct CheckTests {
    func dataDir() -> String { NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)" }

    /// Asserts that `output` failed with a message (or details) containing every one of `words`.
    func expectFailure(_ output: PluginOutput, naming words: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(output.status != 0, "CHECK passed: \(words)", sourceLocation: sourceLocation)
        let text = (output.json?["msg"]?.stringValue ?? "") + " " + (output.json?["details"]?.stringValue ?? "")
        for word in words {
            #expect(text.contains(word), "\(output.stdout) does not name \(word)", sourceLocation: sourceLocation)
        }
    }

    @Test func bridgeChecksRoutesLeasesMasqueradeAndMACGuardInTheLiveState() throws {
        let host = try PrivateHost("chk")
        let container = try ScratchNamespace("chk")
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"chknet","type":"bridge","bridge":"chkbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.158.0.0/24"}]],
                     "routes":[{"dst":"0.0.0.0/0"},{"dst":"10.159.0.0/16"}]}}
            """#
        let add = try host.plugin("bridge", command: "ADD", containerID: "chk1", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        let check = adding(#""prevResult":\#(add.stdout)"#, to: config)
        func runCheck() throws -> PluginOutput {
            try host.plugin("bridge", command: "CHECK", containerID: "chk1", netns: container.path, config: check)
        }
        let first = try runCheck()
        #expect(first.status == 0, "\(first.stdout)")

        // CHECK looks at routes, then leases, then masquerade, then the MAC guard: each step
        // below breaks one that is looked at before the ones already broken.
        let port = AttachmentID(network: "chknet", containerID: "chk1", interface: try InterfaceName("eth0")).hostInterfaceName.rawValue
        #expect(try host.namespace.exec("nft", "delete", "element", "bridge", "netctl", "guarded-ports", "{ \(port) }").status == 0)
        expectFailure(try runCheck(), naming: "macspoofchk", port, "guarded-ports")

        #expect(try host.namespace.exec("nft", "delete", "element", "inet", "netctl", "masquerade4", "{ 10.158.0.0/24 }").status == 0)
        expectFailure(try runCheck(), naming: "masquerade", "10.158.0.0/24", "masquerade4")

        try runCommand(["sqlite3", "-cmd", ".timeout 10000", dataDir + "/netctl.db", "DELETE FROM ipam_leases WHERE container_id = 'chk1'"])
        expectFailure(try runCheck(), naming: "10.158.0.2", "leased")

        #expect(try container.exec("ip", "route", "del", "10.159.0.0/16").status == 0)
        expectFailure(try runCheck(), naming: "10.159.0.0/16 via 10.158.0.1")

        #expect(try container.exec("ip", "route", "del", "default").status == 0)
        expectFailure(try runCheck(), naming: "default via 10.158.0.1")

        #expect(try host.plugin("bridge", command: "DEL", containerID: "chk1", netns: container.path, config: config).status == 0)
    }

    @Test func bridgeChecksThatTheMasqueradeTableExists() throws {
        let host = try PrivateHost("chkt")
        let container = try ScratchNamespace("chkt")
        let config = #"""
            {"cniVersion":"1.1.0","name":"chktab","type":"bridge","bridge":"chkbr1","isGateway":true,"ipMasq":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.178.0.0/24"}]]}}
            """#
        let add = try host.plugin("bridge", command: "ADD", containerID: "chkt", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        #expect(try host.namespace.exec("nft", "flush", "chain", "inet", "netctl", "postrouting").status == 0)
        let check = adding(#""prevResult":\#(add.stdout)"#, to: config)
        expectFailure(try host.plugin("bridge", command: "CHECK", containerID: "chkt", netns: container.path, config: check), naming: "postrouting")
        #expect(try host.namespace.exec("nft", "delete", "table", "inet", "netctl").status == 0)
        expectFailure(try host.plugin("bridge", command: "CHECK", containerID: "chkt", netns: container.path, config: check),
                      naming: "table inet netctl does not exist")
    }

    @Test func macvlanChecksItsMACAndRoutes() throws {
        let link = try ParentLink("e2echkmv")
        defer { withExtendedLifetime(link) {} }
        let container = try ScratchNamespace("chkmv")
        let config = #"""
            {"cniVersion":"1.1.0","name":"chkmv","type":"macvlan","master":"\#(link.name)",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.161.0.0/24","gateway":"10.161.0.254"}]],
                     "routes":[{"dst":"0.0.0.0/0"}]}}
            """#
        let add = try execPlugin("macvlan", command: "ADD", containerID: "mv1", netns: container.path, args: "MAC=02:00:00:00:16:01", config: config)
        #expect(add.status == 0, "\(add.stdout)")
        let check = adding(#""prevResult":\#(add.stdout)"#, to: config)
        #expect(try execPlugin("macvlan", command: "CHECK", containerID: "mv1", netns: container.path, config: check).status == 0)

        #expect(try container.exec("ip", "route", "del", "default").status == 0)
        expectFailure(try execPlugin("macvlan", command: "CHECK", containerID: "mv1", netns: container.path, config: check),
                      naming: "default via 10.161.0.254")
        try container.exec("ip", "link", "set", "eth0", "address", "02:00:00:00:16:02")
        expectFailure(try execPlugin("macvlan", command: "CHECK", containerID: "mv1", netns: container.path, config: check),
                      naming: "MAC", "02:00:00:00:16:02", "02:00:00:00:16:01")
    }

    @Test func portmapChecksTheDNATElementsInTheLiveRuleset() throws {
        let host = try PrivateHost("chkpm")
        let container = try ScratchNamespace("chkpm")
        let bridge = #"""
            {"cniVersion":"1.1.0","name":"chkpm","type":"bridge","bridge":"chkpm0","isGateway":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.162.0.0/24"}]]}}
            """#
        let add = try host.plugin("bridge", command: "ADD", containerID: "pm1", netns: container.path, config: bridge)
        #expect(add.status == 0, "\(add.stdout)")
        let portmap = #"""
            {"cniVersion":"1.1.0","name":"chkpm","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":8111,"containerPort":80,"protocol":"tcp"}]},
             "prevResult":\#(add.stdout)}
            """#
        #expect(try host.plugin("portmap", command: "ADD", containerID: "pm1", netns: container.path, config: portmap).status == 0)
        #expect(try host.plugin("portmap", command: "CHECK", containerID: "pm1", netns: container.path, config: portmap).status == 0)

        #expect(try host.namespace.exec("nft", "delete", "element", "inet", "netctl", "dnat4_any_addr", "{ tcp . 8111 }").status == 0)
        expectFailure(try host.plugin("portmap", command: "CHECK", containerID: "pm1", netns: container.path, config: portmap),
                      naming: "8111", "dnat4_any_addr")
        #expect(try host.namespace.exec("nft", "delete", "table", "inet", "netctl").status == 0)
        expectFailure(try host.plugin("portmap", command: "CHECK", containerID: "pm1", netns: container.path, config: portmap),
                      naming: "table inet netctl does not exist")
        // The store's record is looked at too: without it the mapping is not published at all.
        #expect(try host.plugin("portmap", command: "DEL", containerID: "pm1", netns: container.path, config: portmap).status == 0)
        expectFailure(try host.plugin("portmap", command: "CHECK", containerID: "pm1", netns: container.path, config: portmap),
                      naming: "not published", "8111")
    }

    @Test func loopbackChecksThatLoIsUpWithItsAddresses() throws {
        let namespace = try ScratchNamespace("chklo")
        let config = #"{"cniVersion":"1.1.0","name":"chklo","type":"loopback"}"#
        let add = try execPlugin("loopback", command: "ADD", netns: namespace.path, ifname: "lo", config: config)
        #expect(add.status == 0, "\(add.stdout)")
        let check = adding(#""prevResult":\#(add.stdout)"#, to: config)
        #expect(try execPlugin("loopback", command: "CHECK", netns: namespace.path, ifname: "lo", config: check).status == 0)
        #expect(try namespace.exec("ip", "addr", "del", "127.0.0.1/8", "dev", "lo").status == 0)
        expectFailure(try execPlugin("loopback", command: "CHECK", netns: namespace.path, ifname: "lo", config: check), naming: "127.0.0.1/8")
        try namespace.exec("ip", "link", "set", "lo", "down")
        expectFailure(try execPlugin("loopback", command: "CHECK", netns: namespace.path, ifname: "lo", config: check), naming: "lo is not up")
    }

    /// The MAC guard fails after the masquerade record was made: ADD fails, and leaves no
    /// record, no rules, no lease and no link behind.
    @Test func aBridgeAddThatFailsAtTheMACGuardUndoesTheMasqueradeRecord() throws {
        let host = try PrivateHost("fail")
        // A `prerouting` chain on another hook: the guard's table cannot be set up.
        #expect(try host.namespace.exec("nft", "add", "table", "bridge", "netctl").status == 0)
        #expect(try host.namespace.exec("nft", "add chain bridge netctl prerouting { type filter hook input priority 0 ; }").status == 0)
        let container = try ScratchNamespace("fail")
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"failnet","type":"bridge","bridge":"failbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.163.0.0/24"}]]}}
            """#
        let add = try host.plugin("bridge", command: "ADD", containerID: "fail1", netns: container.path, config: config)
        #expect(add.status != 0)
        #expect(add.json?["msg"]?.stringValue?.contains("MAC") == true, "\(add.stdout)")
        #expect(try host.firewallRecords("bridge:failnet").isEmpty)
        #expect(try leaseHolders(in: dataDir, network: "failnet").isEmpty)
        #expect(try container.ip("link", "show", "eth0").isEmpty)
        #expect(try host.namespace.ip("link", "show", "master", "failbr0").isEmpty)
        let table = try host.namespace.nftTable() ?? ""
        #expect(!table.contains("10.163.0.") && !table.contains("failbr0"), "\(table)")
    }
}
