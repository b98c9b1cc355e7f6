import CNI
import Foundation
import NetCore
import Testing

/// The runtime against a fake invoker: what each plugin gets on stdin, in which order, and
/// what the result cache holds.
@Suite struct CNIRuntimeTests {
    static let listText = """
        {"cniVersion":"1.1.0","name":"net1","plugins":[
         {"type":"bridge","bridge":"br0"},
         {"type":"portmap","capabilities":{"portMappings":true}},
         {"type":"tuning","capabilities":{"mac":true,"bandwidth":false}}]}
        """
    static let mappings = #"[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]"#
    /// The bridge's fake result as the runtime hands it on (converted to the list's version).
    static let bridgeResult: String = {
        let output: JSON? = try? FakeInvoker.passThrough("bridge", .add, ["cniVersion": "1.1.0"])
        return ((try? CNIResult(json: output ?? .null))?.json(version: CNIVersion(1, 1, 0)) ?? .null).serialized()
    }()

    let list: NetworkConfigList
    let cacheDirectory: String
    let fake = FakeInvoker(plugins: ["bridge", "portmap", "tuning"])
    let runtime: CNIRuntime
    let attachment: NetworkAttachment

    init() throws {
        list = try NetworkConfigList(parsing: bytes(Self.listText))
        cacheDirectory = try temporaryDirectory("cache")
        runtime = CNIRuntime(pluginDirectories: ["/opt/a", "/opt/b"], cacheDirectory: cacheDirectory, invoker: fake)
        let capabilities = try #require(try JSON(parsing: #"{"portMappings":\#(Self.mappings),"mac":"02:00:00:00:00:01","bandwidth":{"ingressRate":1}}"#).objectValue)
        attachment = NetworkAttachment(containerID: "c1", netns: "/run/netns/x", ifName: "eth0",
                                args: [("IgnoreUnknown", "1"), ("K", "V")], capabilityArgs: capabilities)
    }

    @Test func addChainsPrevResultAndGivesEachPluginOnlyItsDeclaredCapabilities() throws {
        let result = try runtime.add(list, attachment)
        #expect(result.ips.map(\.address.description) == ["10.1.0.2/24"])
        let calls = fake.calls
        #expect(calls.map(\.type) == ["bridge", "portmap", "tuning"])
        #expect(calls.allSatisfy { $0.command == .add })
        #expect(calls.map(\.stdin) == [
            #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0"}"#,
            #"{"cniVersion":"1.1.0","name":"net1","type":"portmap","runtimeConfig":{"portMappings":\#(Self.mappings)},"prevResult":\#(Self.bridgeResult)}"#,
            #"{"cniVersion":"1.1.0","name":"net1","type":"tuning","runtimeConfig":{"mac":"02:00:00:00:00:01"},"prevResult":\#(Self.bridgeResult)}"#,
        ])
        #expect(calls[0].environment == ["CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0",
                                         "CNI_ARGS": "IgnoreUnknown=1;K=V", "CNI_PATH": "/opt/a:/opt/b"])
    }

    @Test func addCachesLikeLibcni() throws {
        try runtime.add(list, attachment)
        let path = cacheDirectory + "/results/net1-c1-eth0"
        #expect(runtime.cache.path(network: "net1", containerID: "c1", ifName: "eth0") == path)
        let cached = try JSON(parsing: bytes(String(contentsOfFile: path, encoding: .utf8)))
        #expect(cached["kind"] == "cniCacheV1")
        #expect(cached["containerId"] == "c1")
        #expect(cached["ifName"] == "eth0")
        #expect(cached["networkName"] == "net1")
        #expect(cached["netns"] == "/run/netns/x")
        #expect(cached["cniArgs"] == [["IgnoreUnknown", "1"], ["K", "V"]])
        #expect(cached["capabilityArgs"] == .object(attachment.capabilityArgs))
        #expect(cached["result"]?.serialized() == Self.bridgeResult)
        // Go's []byte: base64 of the list's JSON.
        let config = try #require(cached["config"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        #expect(try JSON(parsing: [UInt8](config)) == .object(list.raw))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheDirectory + "/results") == ["net1-c1-eth0"])
    }

    @Test func delRunsInReverseWithTheCachedResultThenRemovesTheCacheAndWorksWithoutOne() throws {
        try runtime.add(list, attachment)
        fake.reset()
        try runtime.delete(list, attachment)
        var calls = fake.calls
        #expect(calls.map(\.type) == ["tuning", "portmap", "bridge"])
        #expect(calls.allSatisfy { $0.command == .delete })
        #expect(calls.map(\.stdin) == [
            #"{"cniVersion":"1.1.0","name":"net1","type":"tuning","runtimeConfig":{"mac":"02:00:00:00:00:01"},"prevResult":\#(Self.bridgeResult)}"#,
            #"{"cniVersion":"1.1.0","name":"net1","type":"portmap","runtimeConfig":{"portMappings":\#(Self.mappings)},"prevResult":\#(Self.bridgeResult)}"#,
            #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0","prevResult":\#(Self.bridgeResult)}"#,
        ])
        #expect(try runtime.cache.load(network: "net1", containerID: "c1", ifName: "eth0") == nil)

        fake.reset()
        try runtime.delete(list, attachment) // again, with no cache: no prevResult
        calls = fake.calls
        #expect(calls.map(\.type) == ["tuning", "portmap", "bridge"])
        #expect(calls.allSatisfy { $0.config["prevResult"] == nil })
    }

    @Test func anUnreadableCacheEntryDoesNotBlockDelete() throws {
        try FileManager.default.createDirectory(atPath: cacheDirectory + "/results", withIntermediateDirectories: true)
        try "{truncated".write(toFile: cacheDirectory + "/results/net1-c1-eth0", atomically: true, encoding: .utf8)
        try runtime.delete(list, attachment)
        #expect(fake.calls.map(\.type) == ["tuning", "portmap", "bridge"])
        #expect(fake.calls.allSatisfy { $0.config["prevResult"] == nil })
        #expect(!FileManager.default.fileExists(atPath: cacheDirectory + "/results/net1-c1-eth0"))
    }

    @Test func delBefore040GetsNoPrevResult() throws {
        let old = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"0.3.1","name":"net1","plugins":[{"type":"bridge"}]}"#))
        try runtime.add(old, attachment)
        fake.reset()
        try runtime.delete(old, attachment)
        #expect(fake.calls.map(\.command) == [.delete])
        #expect(fake.calls.allSatisfy { $0.config["prevResult"] == nil })
        #expect(try runtime.cache.load(network: "net1", containerID: "c1", ifName: "eth0") == nil)
    }

    @Test func checkNeedsTheCachedResultAndPassesItInOrder() throws {
        #expect {
            try runtime.check(list, attachment)
        } throws: { error in
            (error as? CNIError)?.code == .invalidConfig && "\(error)".contains("no cached result")
        }
        #expect(fake.calls.isEmpty)
        try runtime.add(list, attachment)
        fake.reset()
        try runtime.check(list, attachment)
        #expect(fake.calls.map(\.type) == ["bridge", "portmap", "tuning"])
        #expect(fake.calls.allSatisfy { $0.command == .check && $0.config["prevResult"]?.serialized() == Self.bridgeResult })
    }

    @Test func disableCheckSkipsCheck() throws {
        let disabled = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"1.1.0","name":"n","disableCheck":true,"plugins":[{"type":"bridge"}]}"#))
        try runtime.check(disabled, attachment)
        #expect(fake.calls.isEmpty)
    }

    @Test func gcDeletesStaleCachedAttachmentsAndSendsTheValidListToEveryPlugin() throws {
        let kept = attachment
        var stale = attachment
        stale.containerID = "c2"
        try runtime.add(list, kept)
        try runtime.add(list, stale)
        fake.reset()
        try runtime.gc(list, validAttachments: [GCAttachment(containerID: "c1", interface: "eth0")])
        let calls = fake.calls
        #expect(calls.map { "\($0.command.rawValue) \($0.type)" } == [
            "DEL tuning", "DEL portmap", "DEL bridge", "GC bridge", "GC portmap", "GC tuning",
        ])
        #expect(calls[0].environment["CNI_CONTAINERID"] == "c2")
        let valid = #"[{"containerID":"c1","ifname":"eth0"}]"#
        #expect(calls[3].stdin == #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0","cni.dev/valid-attachments":\#(valid),"cni.dev/attachments":\#(valid)}"#)
        #expect(calls[4].stdin == #"{"cniVersion":"1.1.0","name":"net1","type":"portmap","cni.dev/valid-attachments":\#(valid),"cni.dev/attachments":\#(valid)}"#)
        #expect(calls[3].environment == ["CNI_PATH": "/opt/a:/opt/b"])
        #expect(try runtime.cache.load(network: "net1", containerID: "c1", ifName: "eth0") != nil)
        #expect(try runtime.cache.load(network: "net1", containerID: "c2", ifName: "eth0") == nil)
    }

    @Test func disableGCSkipsGC() throws {
        let disabled = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"1.1.0","name":"net1","disableGC":true,"plugins":[{"type":"bridge"}]}"#))
        try runtime.add(list, attachment)
        fake.reset()
        try runtime.gc(disabled, validAttachments: [])
        #expect(fake.calls.isEmpty)
        #expect(try runtime.cache.load(network: "net1", containerID: "c1", ifName: "eth0") != nil)
    }

    @Test func statusAsksEachPluginAndThrowsTheFirstError() throws {
        let failing = FakeInvoker(plugins: ["bridge", "portmap", "tuning"]) { type, command, _ in
            if type == "portmap", command == .status { throw CNIError(.notAvailable, "no nftables", details: "probe failed") }
            return nil
        }
        let runtime = CNIRuntime(pluginDirectories: ["/opt/a"], cacheDirectory: cacheDirectory, invoker: failing)
        #expect {
            try runtime.status(list)
        } throws: { error in
            let error = error as? CNIError
            return error?.code == .notAvailable && error?.message == "no nftables" && error?.details == "probe failed"
        }
        #expect(failing.calls.map(\.type) == ["bridge", "portmap"])
        #expect(failing.calls[0].stdin == #"{"cniVersion":"1.1.0","name":"net1","type":"bridge","bridge":"br0"}"#)
    }

    @Test func aPluginErrorKeepsItsCodeAndNothingIsCached() throws {
        let failing = FakeInvoker(plugins: ["bridge", "portmap", "tuning"]) { type, command, config in
            if type == "portmap" { throw CNIError(.tryAgainLater, "locked", details: "try later") }
            return try FakeInvoker.passThrough(type, command, config)
        }
        let runtime = CNIRuntime(pluginDirectories: ["/opt/a"], cacheDirectory: cacheDirectory, invoker: failing)
        #expect {
            try runtime.add(list, attachment)
        } throws: { error in
            let error = error as? CNIError
            return error?.code == .tryAgainLater && error?.message == "locked" && error?.details == "try later"
        }
        #expect(try runtime.cache.load(network: "net1", containerID: "c1", ifName: "eth0") == nil)
    }

    @Test func aMissingPluginIsNamedWithTheSearchedDirectories() throws {
        let list = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"1.1.0","name":"n","plugins":[{"type":"nosuch"}]}"#))
        #expect {
            try runtime.add(list, attachment)
        } throws: { error in
            "\(error)".contains("\"nosuch\"") && "\(error)".contains("/opt/a:/opt/b")
        }
    }

    @Test func badContainerIDOrInterfaceIsCode4() {
        var bad = attachment
        bad.containerID = "-x"
        #expect(throws: CNIError.self) { try runtime.add(list, bad) }
        bad = attachment
        bad.ifName = "eth0:1"
        #expect(throws: CNIError.self) { try runtime.delete(list, bad) }
        #expect(fake.calls.isEmpty)
    }

    @Test func versionAsksOnePlugin() throws {
        let fake = FakeInvoker(plugins: ["bridge"]) { _, command, _ in
            command == .version ? ["cniVersion": "1.1.0", "supportedVersions": ["1.0.0", "1.1.0"]] : nil
        }
        let info = try CNIRuntime(pluginDirectories: ["/opt/a"], invoker: fake).version(ofPlugin: "bridge")
        #expect(info.cniVersion == "1.1.0" && info.supportedVersions == ["1.0.0", "1.1.0"])
        #expect(fake.calls.first?.stdin == #"{"cniVersion":"1.1.0"}"#)
    }
}
