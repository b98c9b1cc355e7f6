import CNI
import Foundation
import NetCore
import Testing

/// The runtime exec'ing real (shell-script) plugins found in CNI_PATH.
@Suite struct ScriptPluginRuntimeTests {
    /// Writes an executable script plugin.
    func plugin(_ name: String, in directory: String, _ body: String) throws {
        let path = directory + "/" + name
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    @Test func addCheckDelThroughScriptPlugins() throws {
        let pluginDir = try temporaryDirectory("plugins")
        let logDir = try temporaryDirectory("log")
        // Each call saves its command, container ID and stdin; `first` answers ADD with a result,
        // `second` passes prevResult on (with sed: the result is the rest of the config).
        try plugin("first", in: pluginDir, #"""
            cat > "\#(logDir)/$CNI_COMMAND-first"
            [ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.9.0.5/24","interface":0}]}' "$CNI_IFNAME" "$CNI_NETNS"
            exit 0
            """#)
        try plugin("second", in: pluginDir, #"""
            input=$(cat); printf '%s' "$input" > "\#(logDir)/$CNI_COMMAND-second"
            [ "$CNI_COMMAND" = ADD ] && printf '%s' "$input" | sed 's/.*"prevResult"://; s/}$//'
            [ "$CNI_COMMAND" = CHECK ] && [ "$CNI_CONTAINERID" != script1 ] && { echo '{"code":3,"msg":"unknown container"}'; exit 1; }
            exit 0
            """#)
        let list = try NetworkConfigList(parsing: bytes(#"{"cniVersion":"1.0.0","name":"scripted","plugins":[{"type":"first"},{"type":"second","capabilities":{"portMappings":true}}]}"#))
        let runtime = CNIRuntime(pluginDirectories: ["/nonexistent", pluginDir], cacheDirectory: try temporaryDirectory("cache"))
        let attachment = NetworkAttachment(containerID: "script1", netns: "/run/netns/s1", ifName: "eth7",
                                    capabilityArgs: ["portMappings": [["hostPort": 1, "containerPort": 2, "protocol": "tcp"]]])

        let result = try runtime.add(list, attachment)
        #expect(result.interfaces.map(\.name) == ["eth7"])
        #expect(result.interfaces.first?.sandbox == "/run/netns/s1")
        #expect(result.ips.map(\.address.description) == ["10.9.0.5/24"])
        let second = try JSON(parsing: bytes(String(contentsOfFile: logDir + "/ADD-second", encoding: .utf8)))
        #expect(second["runtimeConfig"] == ["portMappings": [["hostPort": 1, "containerPort": 2, "protocol": "tcp"]]])
        #expect(second["prevResult"]?["ips"]?[0]?["address"] == "10.9.0.5/24")

        try runtime.check(list, attachment)
        var other = attachment
        other.containerID = "script2"
        try runtime.add(list, other)
        #expect { try runtime.check(list, other) } throws: { ($0 as? CNIError)?.code == .unknownContainer }

        try runtime.delete(list, attachment)
        let deleted = try JSON(parsing: bytes(String(contentsOfFile: logDir + "/DEL-first", encoding: .utf8)))
        #expect(deleted["prevResult"]?["interfaces"]?[0]?["name"] == "eth7")
        #expect(try runtime.cache.load(network: "scripted", containerID: "script1", ifName: "eth7") == nil)
        try runtime.delete(list, attachment)
    }
}

extension JSON {
    /// Array element access for test readability.
    subscript(index: Int) -> JSON? { arrayValue.flatMap { index < $0.count ? $0[index] : nil } }
}
