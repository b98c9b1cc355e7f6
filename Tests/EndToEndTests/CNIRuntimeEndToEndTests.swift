import CNI
import Foundation
import NetCore
import Testing

/// The CNI runtime driving our plugins as a container engine would: a bridge + host-local +
/// portmap list, ADD, CHECK, DEL twice, and nothing left behind.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct CNIRuntimeEndToEndTests {
    @Test func bridgeAndPortmapListThroughTheRuntime() throws {
        let container = try ScratchNamespace("rt")
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let cacheDir = NSTemporaryDirectory() + "e2e-cnicache-\(UUID().uuidString)"
        let list = try NetworkConfigList(parsing: Array(#"""
            {"cniVersion":"1.1.0","name":"rtnet","plugins":[
             {"type":"bridge","bridge":"rtbr0","isGateway":true,"ipMasq":true,"hairpinMode":true,
              "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.180.0.0/24","rangeStart":"10.180.0.2","rangeEnd":"10.180.0.2"}]]}},
             {"type":"portmap","capabilities":{"portMappings":true}}]}
            """#.utf8))
        let runtime = CNIRuntime(pluginDirectories: [pluginDirectory.path], cacheDirectory: cacheDir)
        let attachment = NetworkAttachment(containerID: "rt1", netns: container.path, ifName: "eth0",
                                           capabilityArgs: ["portMappings": [["hostPort": 8480, "containerPort": 80, "protocol": "tcp"]]])

        let result = try runtime.add(list, attachment)
        #expect(result.ips.map(\.address.description) == ["10.180.0.2/24"])
        let addresses = try container.ip("addr", "show", "eth0").flatMap { ($0["addr_info"] as? [[String: Any]]) ?? [] }
        #expect(addresses.contains { $0["local"] as? String == "10.180.0.2" })
        #expect(try nftTable()?.contains("8480") == true)
        #expect(try runtime.cache.load(network: "rtnet", containerID: "rt1", ifName: "eth0")?.result != nil)

        try runtime.check(list, attachment)

        try runtime.delete(list, attachment)
        try runtime.delete(list, attachment) // DEL is idempotent, and works without the cache
        #expect(try container.ip("link", "show", "eth0").isEmpty)
        #expect(try runtime.cache.load(network: "rtnet", containerID: "rt1", ifName: "eth0") == nil)
        // The range holds one address: only a released lease lets another container have it.
        var next = attachment
        next.containerID = "rt2"
        #expect(try runtime.add(list, next).ips.map(\.address.description) == ["10.180.0.2/24"])
        try runtime.delete(list, next)
        // Other tests share the sandbox's ruleset: nothing of this network may be left in it.
        let table = try nftTable() ?? ""
        #expect(!table.contains("8480") && !table.contains("rtbr0") && !table.contains("10.180.0."))
        #expect { try runtime.check(list, attachment) } throws: { ($0 as? CNIError)?.code == .invalidConfig }
    }
}
