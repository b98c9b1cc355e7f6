import Foundation
import NetCore
import Testing

/// The loopback plugin and the protocol behaviour every plugin shares, exec'd as a runtime does.
@Suite struct ProtocolTests {
    let config = #"{"cniVersion":"1.0.0","name":"lo-net","type":"loopback"}"#

    @Test func versionPrintsSupportedVersions() throws {
        let output = try execPlugin("loopback", command: "VERSION", config: "")
        #expect(output.status == 0)
        #expect(output.json?["supportedVersions"]?.arrayValue?.count == 5)
    }

    @Test func missingVariableIsCode4OnStdout() throws {
        let output = try execPlugin("loopback", command: "ADD", netns: nil, config: config)
        #expect(output.status != 0)
        #expect(output.json?["code"] == 4)
        #expect(output.json?["msg"]?.stringValue?.contains("CNI_NETNS") == true)
    }

    @Test func missingNamespaceOnAddIsCode3() throws {
        let output = try execPlugin("loopback", command: "ADD", netns: "/run/netns/does-not-exist", config: config)
        #expect(output.json?["code"] == 3)
    }

    @Test func deleteWithAMissingNamespaceSucceeds() throws {
        let output = try execPlugin("loopback", command: "DEL", netns: "/run/netns/does-not-exist", config: config)
        #expect(output.status == 0)
        #expect(output.stdout.isEmpty)
    }

    @Test func badConfigIsCode6Or7() throws {
        #expect(try execPlugin("loopback", command: "ADD", netns: "/x", config: "{nope").json?["code"] == 6)
        #expect(try execPlugin("loopback", command: "ADD", netns: "/x", config: #"{"cniVersion":"1.0.0"}"#).json?["code"] == 7)
        #expect(try execPlugin("loopback", command: "ADD", netns: "/x", config: #"{"cniVersion":"9.9.9","name":"n"}"#).json?["code"] == 1)
    }
}

@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct LoopbackPluginTests {
    let config = #"{"cniVersion":"1.1.0","name":"lo-net","type":"loopback"}"#

    @Test func addBringsLoUpAndDeleteTwiceTakesItDown() throws {
        let namespace = try ScratchNamespace("lo")
        let add = try execPlugin("loopback", command: "ADD", netns: namespace.path, ifname: "lo", config: config)
        #expect(add.status == 0)
        #expect(add.json?["interfaces"]?.arrayValue?.first?["name"] == "lo")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "127.0.0.1/8")
        #expect((try namespace.ip("link", "show", "lo").first?["flags"] as? [String])?.contains("UP") == true)
        #expect(try execPlugin("loopback", command: "CHECK", netns: namespace.path, ifname: "lo", config: config).status == 0)

        for _ in 0..<2 {
            #expect(try execPlugin("loopback", command: "DEL", netns: namespace.path, ifname: "lo", config: config).status == 0)
        }
        #expect((try namespace.ip("link", "show", "lo").first?["flags"] as? [String])?.contains("UP") == false)
        #expect(try execPlugin("loopback", command: "CHECK", netns: namespace.path, ifname: "lo", config: config).status != 0)
    }

    @Test func olderVersionsGetTheirResultFormat() throws {
        let namespace = try ScratchNamespace("lo")
        let add = try execPlugin("loopback", command: "ADD", netns: namespace.path, ifname: "lo",
                                 config: #"{"cniVersion":"0.3.1","name":"lo-net","type":"loopback"}"#)
        #expect(add.json?["cniVersion"] == "0.3.1")
        #expect(add.json?["ips"]?.arrayValue?.first?["version"] == "4")
    }
}
