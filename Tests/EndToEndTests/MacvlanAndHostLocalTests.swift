import Foundation
import NetCore
import Testing

/// Runs `ip ARGS` in the test's own (sandbox) namespace.
@discardableResult
func hostIP(_ arguments: String...) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip"] + arguments
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct MacvlanPluginTests {
    @Test func siblingsOnOneParentReachEachOtherAndDeleteIsIdempotent() throws {
        let parent = "e2emv\(UInt16.random(in: 0...9999))"
        try hostIP("link", "add", parent, "type", "veth", "peer", "name", parent + "p")
        defer { _ = try? hostIP("link", "del", parent) }
        try hostIP("link", "set", parent, "up")
        try hostIP("link", "set", parent + "p", "up")
        let dataDir = NSTemporaryDirectory() + "e2e-mv-\(UUID().uuidString)"
        let config = #"""
            {"cniVersion":"1.0.0","name":"mvnet","type":"macvlan","master":"\#(parent)","mode":"bridge",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.125.0.0/24","rangeStart":"10.125.0.50"}]]}}
            """#
        let first = try ScratchNamespace("m1")
        let second = try ScratchNamespace("m2")
        let add1 = try execPlugin("macvlan", command: "ADD", containerID: "m1", netns: first.path, args: "MAC=02:00:00:12:34:56", config: config)
        #expect(add1.status == 0, "\(add1.stdout)")
        #expect(add1.json?["interfaces"]?.arrayValue?.first?["mac"] == "02:00:00:12:34:56")
        #expect(add1.json?["ips"]?.arrayValue?.first?["address"] == "10.125.0.50/24")
        #expect(try execPlugin("macvlan", command: "ADD", containerID: "m2", netns: second.path, config: config).status == 0)
        let ping = Process()
        ping.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ping.arguments = ["ip", "netns", "exec", first.name, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.125.0.51"]
        try ping.run()
        ping.waitUntilExit()
        #expect(ping.terminationStatus == 0)
        for _ in 0..<2 {
            #expect(try execPlugin("macvlan", command: "DEL", containerID: "m1", netns: first.path, config: config).status == 0)
        }
        #expect(try first.ip("link", "show", "eth0").isEmpty)
    }

    @Test func missingMasterIsAnErrorNamingIt() throws {
        let container = try ScratchNamespace("m1")
        let config = #"{"cniVersion":"1.0.0","name":"mvnet","type":"macvlan","master":"nosuch0"}"#
        let output = try execPlugin("macvlan", command: "ADD", netns: container.path, config: config)
        #expect(output.status != 0)
        #expect(output.json?["msg"]?.stringValue?.contains("nosuch0") == true)
    }
}

/// `host-local` on its own, exec'd: addresses, requested IPs, DEL, GC, exhaustion.
@Suite struct HostLocalPluginTests {
    func config(_ ranges: String, dataDir: String = NSTemporaryDirectory() + "e2e-hl-\(UUID().uuidString)") -> String {
        #"{"cniVersion":"1.1.0","name":"hl","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":\#(ranges)}}"#
    }

    @Test func dualStackIsOneCallAndRepeatingAddGivesTheSameLease() throws {
        let config = config(#"[[{"subnet":"10.126.0.0/24"}],[{"subnet":"fd12::/64","rangeStart":"fd12::10"}]]"#)
        let first = try execPlugin("host-local", command: "ADD", netns: "/run/netns/unused", config: config)
        #expect(first.status == 0, "\(first.stdout)")
        let addresses = first.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue }
        #expect(addresses == ["10.126.0.2/24", "fd12::10/64"])
        #expect(first.json?["interfaces"] == nil) // IPAM results name no interfaces
        #expect(try execPlugin("host-local", command: "ADD", netns: "/run/netns/unused", config: config).json?["ips"] == first.json?["ips"])
    }

    @Test func requestedAddressFromRuntimeConfigIsHonouredOrRefused() throws {
        let dataDir = NSTemporaryDirectory() + "e2e-hl-\(UUID().uuidString)"
        var config = config(#"[[{"subnet":"10.127.0.0/24"}]]"#, dataDir: dataDir)
        config.removeLast()
        config += #","runtimeConfig":{"ips":["10.127.0.77/24"]}}"#
        #expect(try execPlugin("host-local", command: "ADD", containerID: "a", netns: "/run/netns/unused", config: config).json?["ips"]?.arrayValue?.first?["address"] == "10.127.0.77/24")
        let taken = try execPlugin("host-local", command: "ADD", containerID: "b", netns: "/run/netns/unused", config: config)
        #expect(taken.status != 0)
        #expect(taken.json?["msg"]?.stringValue?.contains("10.127.0.77") == true)
    }

    @Test func fullPoolSaysSoAndDeleteFreesAnAddress() throws {
        let dataDir = NSTemporaryDirectory() + "e2e-hl-\(UUID().uuidString)"
        let config = config(#"[[{"subnet":"10.128.0.0/30"}]]"#, dataDir: dataDir) // one usable address
        #expect(try execPlugin("host-local", command: "ADD", containerID: "a", netns: "/run/netns/unused", config: config).status == 0)
        let full = try execPlugin("host-local", command: "ADD", containerID: "b", netns: "/run/netns/unused", config: config)
        #expect(full.status != 0)
        #expect(full.json?["msg"]?.stringValue?.contains("hl") == true)
        for _ in 0..<2 { #expect(try execPlugin("host-local", command: "DEL", containerID: "a", config: config).status == 0) }
        #expect(try execPlugin("host-local", command: "ADD", containerID: "b", netns: "/run/netns/unused", config: config).status == 0)
    }

    @Test func rangeOutsideItsSubnetIsRejectedNamingTheField() throws {
        let output = try execPlugin("host-local", command: "ADD", netns: "/run/netns/unused", config: config(#"[[{"subnet":"10.129.0.0/24","rangeStart":"10.130.0.5"}]]"#))
        #expect(output.status != 0)
        #expect(output.json?["msg"]?.stringValue?.contains("rangeStart") == true)
    }
}
