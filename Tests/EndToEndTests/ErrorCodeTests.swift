import Foundation
import NetCore
import Testing

/// The spec's error codes as the exec'd plugins print them: 1, 2, 4, 5, 11, 50 and 51, each
/// where the code produces it, with messages that name what is at fault.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct ErrorCodeTests {
    func dataDir() -> String { NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)" }

    func hostLocal(_ dataDir: String, name: String = "codes", version: String = "1.1.0", subnet: String = "10.164.0.0/24") -> String {
        #"{"cniVersion":"\#(version)","name":"\#(name)","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(subnet)"}]]}}"#
    }

    func expect(_ output: PluginOutput, code: Int64, naming words: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(output.status != 0, "\(output.stdout)", sourceLocation: sourceLocation)
        #expect(output.json?["code"] == .int(code), "\(output.stdout)", sourceLocation: sourceLocation)
        let message = output.json?["msg"]?.stringValue ?? ""
        for word in words {
            #expect(message.contains(word), "\(output.stdout) does not name \(word)", sourceLocation: sourceLocation)
        }
    }

    // MARK: 1, 4

    @Test(arguments: ["GC", "STATUS"])
    func gcAndStatusBelow110AreCode1(command: String) throws {
        let config = adding(#""cni.dev/valid-attachments":[]"#, to: hostLocal(dataDir(), version: "1.0.0"))
        for plugin in ["host-local", "bridge", "macvlan", "portmap", "loopback"] {
            expect(try execPlugin(plugin, command: command, containerID: nil, ifname: nil, config: config), code: 1, naming: [command, "1.0.0"])
        }
        #expect(try execPlugin("host-local", command: command, containerID: nil, ifname: nil,
                               config: adding(#""cni.dev/valid-attachments":[]"#, to: hostLocal(dataDir()))).status == 0)
    }

    @Test func gcWithoutCNIPathIsCode4NamingIt() throws {
        let config = adding(#""cni.dev/valid-attachments":[]"#, to: hostLocal(dataDir()))
        let output = try execPlugin("host-local", command: "GC", containerID: nil, ifname: nil, config: config, extraEnvironment: ["CNI_PATH": ""])
        expect(output, code: 4, naming: ["CNI_PATH"])
        // STATUS does not need it.
        #expect(try execPlugin("host-local", command: "STATUS", containerID: nil, ifname: nil, config: config, extraEnvironment: ["CNI_PATH": ""]).status == 0)
    }

    // MARK: 2

    @Test func unsupportedFieldsAreCode2NamingKeyAndValue() throws {
        let link = try ParentLink("e2ecode")
        defer { withExtendedLifetime(link) {} }
        let container = try ScratchNamespace("code2")
        let macvlan = #"{"cniVersion":"1.1.0","name":"code2","type":"macvlan","master":"\#(link.name)","bcqueuelen":100}"#
        expect(try execPlugin("macvlan", command: "ADD", netns: container.path, config: macvlan), code: 2, naming: ["bcqueuelen", "100"])

        let plain = #"{"cniVersion":"1.1.0","name":"code2","type":"macvlan","master":"\#(link.name)"}"#
        expect(try execPlugin("macvlan", command: "ADD", netns: container.path, args: "FOO=bar", config: plain), code: 2, naming: ["FOO", "bar"])
        let bridge = #"{"cniVersion":"1.1.0","name":"code2","type":"bridge","bridge":"code2br0"}"#
        expect(try execPlugin("bridge", command: "ADD", netns: container.path, args: "K8S_POD_NAME=web;FOO=bar", config: bridge), code: 2, naming: ["FOO", "bar"])
        #expect(try container.ip("link", "show", "eth0").isEmpty)
        // IgnoreUnknown lets the key through.
        let ignored = try execPlugin("macvlan", command: "ADD", netns: container.path, args: "IgnoreUnknown=1;FOO=bar", config: plain)
        #expect(ignored.status == 0, "\(ignored.stdout)")
        #expect(try execPlugin("macvlan", command: "DEL", netns: container.path, args: "IgnoreUnknown=1;FOO=bar", config: plain).status == 0)

        for value in [#""iptables""#, #""nft""#, "true"] {
            expect(try execPlugin("bridge", command: "ADD", netns: container.path, config: adding(#""ipMasq":true,"ipMasqBackend":\#(value)"#, to: bridge)),
                   code: 2, naming: ["ipMasqBackend", value])
            expect(try execPlugin("portmap", command: "ADD", netns: container.path,
                                  config: adding(#""backend":\#(value),"prevResult":{"cniVersion":"1.1.0"}"#, to: #"{"cniVersion":"1.1.0","name":"code2","type":"portmap"}"#)),
                   code: 2, naming: ["backend", value])
        }
        #expect(try container.ip("link", "show", "eth0").isEmpty)
    }

    @Test func theNftablesBackendNamedExplicitlyIsAccepted() throws {
        let host = try PrivateHost("nftb")
        let container = try ScratchNamespace("nftb")
        let bridge = #"""
            {"cniVersion":"1.1.0","name":"nftb","type":"bridge","bridge":"nftbbr0","isGateway":true,"ipMasq":true,"ipMasqBackend":"nftables",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.165.0.0/24"}]]}}
            """#
        let add = try host.plugin("bridge", command: "ADD", containerID: "nftb", netns: container.path, config: bridge)
        #expect(add.status == 0, "\(add.stdout)")
        let portmap = #"""
            {"cniVersion":"1.1.0","name":"nftb","type":"portmap","backend":"nftables",
             "runtimeConfig":{"portMappings":[{"hostPort":8121,"containerPort":80}]},"prevResult":\#(add.stdout)}
            """#
        let mapped = try host.plugin("portmap", command: "ADD", containerID: "nftb", netns: container.path, config: portmap)
        #expect(mapped.status == 0, "\(mapped.stdout)")
        #expect(try host.namespace.nftTable()?.contains("8121") == true)
    }

    // MARK: 5

    @Test func anUnreadableResolvConfOrAStoreThatCannotBeOpenedIsCode5() throws {
        var config = hostLocal(dataDir())
        config = config.replacingOccurrences(of: #""type":"host-local","dataDir""#, with: #""type":"host-local","resolvConf":"/nonexistent/resolv.conf","dataDir""#)
        expect(try execPlugin("host-local", command: "ADD", netns: "/run/netns/unused", config: config), code: 5, naming: ["/nonexistent/resolv.conf"])
        expect(try execPlugin("host-local", command: "ADD", netns: "/run/netns/unused", config: hostLocal("/proc/version/ipam")),
               code: 5, naming: ["/proc/version/ipam"])
    }

    // MARK: 11

    @Test func aStoreLockedLongerThanTheBusyTimeoutIsCode11() throws {
        let dataDir = dataDir()
        let config = hostLocal(dataDir, name: "busy", subnet: "10.166.0.0/24")
        #expect(try execPlugin("host-local", command: "ADD", containerID: "first", netns: "/run/netns/unused", config: config).status == 0)
        // Another process holds the write lock (and answers once it has it).
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.read()
            db.execute("ROLLBACK")
            """, dataDir + "/netctl.db"]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        let answer = output.fileHandleForReading.availableData
        #expect(String(decoding: answer, as: UTF8.self).contains("locked"))

        let started = Date()
        let busy = try execPlugin("host-local", command: "ADD", containerID: "second", netns: "/run/netns/unused", config: config)
        expect(busy, code: 11, naming: ["busy"])
        #expect(Date().timeIntervalSince(started) >= 9) // it waited the busy timeout first

        try input.fileHandleForWriting.close()
        holder.waitUntilExit()
        #expect(try execPlugin("host-local", command: "ADD", containerID: "second", netns: "/run/netns/unused", config: config).status == 0)
        #expect(try leaseHolders(in: dataDir, network: "busy") == ["first/eth0", "second/eth0"])
    }

    // MARK: 50, 51

    @Test func aStoreThatCannotBeUsedIsCode50() throws {
        let broken = ["NETCTL_STATE_DIR": "/proc/version/state"]
        let configs = [
            ("host-local", hostLocal("/proc/version/ipam")),
            ("bridge", #"{"cniVersion":"1.1.0","name":"s50","type":"bridge","ipam":{"type":"host-local","dataDir":"/proc/version/ipam","ranges":[[{"subnet":"10.167.0.0/24"}]]}}"#),
            ("bridge", #"{"cniVersion":"1.1.0","name":"s50","type":"bridge","ipMasq":true}"#),
            ("macvlan", #"{"cniVersion":"1.1.0","name":"s50","type":"macvlan","ipam":{"type":"host-local","dataDir":"/proc/version/ipam","ranges":[[{"subnet":"10.167.0.0/24"}]]}}"#),
            ("portmap", #"{"cniVersion":"1.1.0","name":"s50","type":"portmap"}"#),
        ]
        for (plugin, config) in configs {
            expect(try execPlugin(plugin, command: "STATUS", containerID: nil, ifname: nil, config: config, extraEnvironment: broken), code: 50)
        }
    }

    @Test func nftablesThatCannotBeUsedIsCode51ForThePluginsThatNeedIt() throws {
        // Without CAP_NET_ADMIN libnftables cannot even list the ruleset; the store still opens.
        let noNetAdmin = ["setpriv", "--bounding-set=-net_admin", "--"]
        let ipam = #""ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.168.0.0/24"}]]}"#
        for config in [#"{"cniVersion":"1.1.0","name":"s51","type":"portmap"}"#,
                       #"{"cniVersion":"1.1.0","name":"s51","type":"bridge","ipMasq":true,\#(ipam)}"#,
                       #"{"cniVersion":"1.1.0","name":"s51","type":"bridge","macspoofchk":true,\#(ipam)}"#] {
            let plugin = config.contains("portmap") ? "portmap" : "bridge"
            expect(try execPlugin(plugin, command: "STATUS", containerID: nil, ifname: nil, config: config, launcher: noNetAdmin),
                   code: 51, naming: ["nftables"])
            #expect(try execPlugin(plugin, command: "STATUS", containerID: nil, ifname: nil, config: config).status == 0)
        }
        // A bridge without ipMasq and macspoofchk does not need nftables.
        let plain = try execPlugin("bridge", command: "STATUS", containerID: nil, ifname: nil,
                                   config: #"{"cniVersion":"1.1.0","name":"s51","type":"bridge",\#(ipam)}"#, launcher: noNetAdmin)
        #expect(plain.status == 0, "\(plain.stdout)")
    }
}
