import Foundation
import NetCore
import Testing

/// `netctl network rm` of a `cni:` network against a connect that comes while the plugins
/// collect, `netctl gc` past what it cannot remove, and the MAC a `cni:` endpoint records.
/// Each test has a state directory of its own; subnets 10.241-10.242.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct NetctlTeardownTests {
    /// A state directory and a plugin directory of the test's own, removed by the caller.
    final class Scratch {
        let state = NSTemporaryDirectory() + "netctl-e2e-state-\(UUID().uuidString)"
        let plugins = NSTemporaryDirectory() + "netctl-e2e-plugins-\(UUID().uuidString)"

        init() throws {
            for directory in [state, plugins] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        }

        deinit { for directory in [state, plugins] { try? FileManager.default.removeItem(atPath: directory) } }

        /// `NETCTL_STATE_DIR` and a `CNI_PATH` of this test's plugins, then netctl's own.
        var environment: [String: String] { ["NETCTL_STATE_DIR": state, "CNI_PATH": plugins + ":" + pluginDirectory.path] }

        func netctl(_ arguments: String...) throws -> NetctlOutput { try EndToEndTests.netctl(arguments, environment: environment) }

        /// An executable plugin `type` in the plugin directory.
        func plugin(_ type: String, _ script: String) throws {
            let path = plugins + "/" + type
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }

        func sql(_ statement: String) throws -> String {
            let output = try runCommand(["sqlite3", "-cmd", ".timeout 10000", state + "/netctl.db", statement])
            #expect(output.status == 0, "\(statement)")
            return output.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func sandboxID(_ name: String) throws -> String {
            try #require(try netctl("sandbox", "inspect", name).json?.arrayValue?.first?["Id"]?.stringValue)
        }
    }

    /// The plugins' GC runs outside the store transaction; a connect that comes meanwhile
    /// (here: made by the plugin's GC itself, so it lands exactly in that gap) is refused,
    /// instead of reserving an endpoint whose veth and lease the GC would take.
    @Test func aConnectWhileNetworkRmCollectsIsRefusedAndTheNetworkGoes() throws {
        let scratch = try Scratch()
        let netctlPath = productsDirectory.appendingPathComponent("netctl").path
        try scratch.plugin("e2egap", """
            #!/bin/sh
            cat > /dev/null
            case "$CNI_COMMAND" in
            ADD) printf '{"cniVersion":"1.1.0","interfaces":[],"ips":[]}' ;;
            VERSION) printf '{"cniVersion":"1.1.0","supportedVersions":["1.1.0"]}' ;;
            GC) "\(netctlPath)" connect e2ecnigap e2ecnigap1 > "\(scratch.plugins)/connect.out" 2>&1
                echo $? > "\(scratch.plugins)/connect.status" ;;
            esac
            exit 0
            """)
        #expect(try scratch.netctl("network", "create", "e2ecnigap", "--driver", "cni:e2egap").status == 0)
        #expect(try scratch.netctl("sandbox", "create", "e2ecnigap1").status == 0)
        defer { _ = try? scratch.netctl("sandbox", "rm", "-f", "e2ecnigap1"); _ = try? scratch.netctl("network", "rm", "-f", "e2ecnigap") }

        let removed = try scratch.netctl("network", "rm", "e2ecnigap")
        #expect(removed.status == 0, "\(removed.stderr)")
        let status = try String(contentsOfFile: scratch.plugins + "/connect.status", encoding: .utf8)
        let message = try String(contentsOfFile: scratch.plugins + "/connect.out", encoding: .utf8)
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "5", "\(message)")
        #expect(message.contains("e2ecnigap") && message.contains("being removed"), "\(message)")
        #expect(try scratch.netctl("network", "ls", "--format", "json").json == [])
        #expect(try scratch.netctl("sandbox", "inspect", "e2ecnigap1").json?.arrayValue?.first?["Endpoints"] == [])
    }

    /// One firewall record that cannot be removed (its proxy PID is one `stop` refuses) fails
    /// only itself: the network's other stale state and the next network's still go, and the
    /// exit status and message name it. Its lease stays with it; the next GC takes both.
    @Test func gcGoesOnPastWhatItCannotRemoveAndNamesEachFailure() throws {
        let scratch = try Scratch()
        for arguments in [["network", "create", "e2egca", "--subnet", "10.241.0.0/24", "-o", "com.docker.network.bridge.name=e2egca0"],
                          ["network", "create", "e2egcb", "--subnet", "10.241.1.0/24", "-o", "com.docker.network.bridge.name=e2egcb0"],
                          ["sandbox", "create", "e2egca1"], ["sandbox", "create", "e2egca2"], ["sandbox", "create", "e2egcb1"],
                          ["connect", "e2egca", "e2egca1", "-p", "8611:80"], ["connect", "e2egca", "e2egca2", "-p", "8612:80"],
                          ["connect", "e2egcb", "e2egcb1", "-p", "8613:80"]] {
            let output = try EndToEndTests.netctl(arguments, environment: scratch.environment)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
        }
        defer {
            _ = try? scratch.netctl("sandbox", "rm", "-f", "e2egca1", "e2egca2", "e2egcb1")
            _ = try? scratch.netctl("network", "rm", "-f", "e2egca", "e2egcb")
        }
        let (a1, a2, b1) = (try scratch.sandboxID("e2egca1"), try scratch.sandboxID("e2egca2"), try scratch.sandboxID("e2egcb1"))
        // Every endpoint forgotten behind netctl's back: its record and lease are stale.
        _ = try scratch.sql("DELETE FROM endpoints")
        let stuck = "container_id = '\(a1)' AND network = 'netctl:e2egca'"
        let proxy = try scratch.sql("SELECT ifnull(proxy_pid, 'NULL') FROM firewall_attachments WHERE \(stuck)")
        _ = try scratch.sql("UPDATE firewall_attachments SET proxy_pid = -1 WHERE \(stuck)")

        let report = try scratch.netctl("gc", "--format", "json")
        #expect(report.status == 1, "\(report)")
        #expect(report.stderr.contains("gc left 1 thing(s) in place") && report.stderr.contains("netctl:e2egca/\(a1)/eth0"), "\(report.stderr)")
        #expect(report.json?["failures"]?.arrayValue?.count == 1, "\(report.stdout)")
        #expect(report.json?["failures"]?.arrayValue?.first?.stringValue?.contains("netctl:e2egca/\(a1)/eth0") == true, "\(report.stdout)")
        let records = Set(report.json?["firewall"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        #expect(records == ["netctl:e2egca/\(a2)/eth0", "netctl:e2egcb/\(b1)/eth0"], "\(report.stdout)")
        #expect(report.json?["leases"]?.arrayValue?.count == 2, "\(report.stdout)")
        #expect(try leaseCount(network: "e2egca", containerID: a1, stateDirectory: scratch.state) == 1)
        #expect(try leaseCount(network: "e2egca", containerID: a2, stateDirectory: scratch.state) == 0)
        #expect(try leaseCount(network: "e2egcb", stateDirectory: scratch.state) == 0)
        #expect(try scratch.sql("SELECT container_id FROM firewall_attachments WHERE container_id != '' ORDER BY 1") == a1)

        _ = try scratch.sql("UPDATE firewall_attachments SET proxy_pid = \(proxy) WHERE \(stuck)")
        let again = try scratch.netctl("gc", "--format", "json")
        #expect(again.status == 0, "\(again)")
        #expect(again.json?["firewall"] == [.string("netctl:e2egca/\(a1)/eth0")], "\(again.stdout)")
        #expect(again.json?["failures"] == [])
        #expect(try leaseCount(network: "e2egca", stateDirectory: scratch.state) == 0)
    }

    /// A plugin whose ADD result lists no MAC: the endpoint records the MAC the interface has
    /// in the namespace, and a `--mac` the plugin ignored fails the connect (exit 7) instead of
    /// being recorded as applied.
    @Test func aCNIEndpointRecordsTheMACItsInterfaceHasWhenTheResultListsNone() throws {
        let scratch = try Scratch()
        // `bridge` with the `mac` capability dropped from its config and the MACs from its result.
        try scratch.plugin("e2enomac", """
            #!/usr/bin/env python3
            import json, os, subprocess, sys
            text = sys.stdin.read()
            add = os.environ.get("CNI_COMMAND") == "ADD"
            if add:
                config = json.loads(text)
                config.get("runtimeConfig", {}).pop("mac", None)
                text = json.dumps(config)
            run = subprocess.run(["\(pluginDirectory.path)/bridge"], input=text.encode(), stdout=subprocess.PIPE)
            out = run.stdout
            if add and run.returncode == 0:
                result = json.loads(out)
                for interface in result.get("interfaces", []):
                    interface.pop("mac", None)
                out = json.dumps(result).encode()
            sys.stdout.buffer.write(out)
            sys.exit(run.returncode)
            """)
        #expect(try scratch.netctl("network", "create", "e2enomac", "--driver", "cni:e2enomac", "--subnet", "10.242.0.0/24",
                                   "-o", "bridge=e2enomac0", "-o", "isGateway=true").status == 0)
        #expect(try scratch.netctl("sandbox", "create", "e2enomac1").status == 0)
        #expect(try scratch.netctl("sandbox", "create", "e2enomac2").status == 0)
        defer {
            _ = try? scratch.netctl("sandbox", "rm", "-f", "e2enomac1", "e2enomac2")
            _ = try? scratch.netctl("network", "rm", "-f", "e2enomac")
        }

        let plain = try scratch.netctl("connect", "e2enomac", "e2enomac1", "--format", "json")
        #expect(plain.status == 0, "\(plain.stderr)")
        let actual = try #require(try ipJSON(["-n", "e2enomac1", "link", "show", "eth0"]).first?["address"]?.stringValue)
        #expect(plain.json?["MacAddress"]?.stringValue == actual, "\(plain.stdout)")

        let ignored = try scratch.netctl("connect", "e2enomac", "e2enomac2", "--mac", "02:00:00:24:20:02")
        #expect(ignored.status == 7, "\(ignored)")
        #expect(ignored.stderr.contains("--mac 02:00:00:24:20:02") && ignored.stderr.contains("does not honour"), "\(ignored.stderr)")
        #expect(try scratch.netctl("sandbox", "inspect", "e2enomac2").json?.arrayValue?.first?["Endpoints"] == [])
        #expect(try runCommand(["ip", "-n", "e2enomac2", "link", "show", "eth0"]).status != 0) // DEL'd
    }
}
