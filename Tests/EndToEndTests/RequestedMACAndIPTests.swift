import Foundation
import NetCore
import Testing

/// What a runtime may ask for: a MAC (runtimeConfig.mac, args.cni.mac, CNI_ARGS MAC and
/// macvlan's `mac` key), addresses (CNI_ARGS IP, args.cni.ips, runtimeConfig.ips, merged), and
/// that an ADD failing after IPAM gives its addresses back.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct RequestedMACAndIPTests {
    func dataDir() -> String { NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)" }

    func mac(of namespace: ScratchNamespace) throws -> String? {
        try namespace.ip("link", "show", "eth0").first?["address"] as? String
    }

    /// Each source on its own, then all of them: runtimeConfig, then args, then CNI_ARGS,
    /// then (macvlan) the config key.
    @Test(arguments: ["bridge", "macvlan"])
    func theMACComesFromEachSourceInTheReferenceOrder(plugin: String) throws {
        let link = try ParentLink("e2emac")
        defer { withExtendedLifetime(link) {} }
        let dataDir = dataDir()
        let base = #"""
            {"cniVersion":"1.1.0","name":"mac-\#(plugin)","type":"\#(plugin)","bridge":"macbr0","master":"\#(link.name)",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(plugin == "bridge" ? "10.169.0.0/24" : "10.179.0.0/24")"}]]}}
            """#
        var cases: [(members: String?, args: String?, expected: String)] = [
            (#""runtimeConfig":{"mac":"02:00:00:00:aa:01"}"#, nil, "02:00:00:00:aa:01"),
            (#""args":{"cni":{"mac":"02:00:00:00:aa:02"}}"#, nil, "02:00:00:00:aa:02"),
            (nil, "MAC=02:00:00:00:aa:03", "02:00:00:00:aa:03"),
            (#""runtimeConfig":{"mac":"02:00:00:00:aa:01"},"args":{"cni":{"mac":"02:00:00:00:aa:02"}}"#, "MAC=02:00:00:00:aa:03", "02:00:00:00:aa:01"),
            (#""args":{"cni":{"mac":"02:00:00:00:aa:02"}}"#, "MAC=02:00:00:00:aa:03", "02:00:00:00:aa:02"),
        ]
        if plugin == "macvlan" {
            cases.append((#""mac":"02:00:00:00:aa:04""#, nil, "02:00:00:00:aa:04"))
            cases.append((#""mac":"02:00:00:00:aa:04""#, "MAC=02:00:00:00:aa:03", "02:00:00:00:aa:03"))
        }
        for (index, item) in cases.enumerated() {
            let container = try ScratchNamespace("mac")
            let config = item.members.map { adding($0, to: base) } ?? base
            let add = try execPlugin(plugin, command: "ADD", containerID: "mac\(index)", netns: container.path, args: item.args, config: config)
            #expect(add.status == 0, "\(add.stdout)")
            #expect(try mac(of: container) == item.expected, "case \(index)")
            #expect(add.json?["interfaces"]?.arrayValue?.last?["mac"] == .string(item.expected), "case \(index)")
            let check = try execPlugin(plugin, command: "CHECK", containerID: "mac\(index)", netns: container.path, args: item.args,
                                       config: adding(#""prevResult":\#(add.stdout)"#, to: config))
            #expect(check.status == 0, "\(check.stdout)")
            #expect(try execPlugin(plugin, command: "DEL", containerID: "mac\(index)", netns: container.path, args: item.args, config: config).status == 0)
        }
        let other = try ScratchNamespace("mac")
        let bad = try execPlugin(plugin, command: "ADD", containerID: "badmac", netns: other.path,
                                 config: adding(#""runtimeConfig":{"mac":"02:00:zz"}"#, to: base))
        #expect(bad.json?["code"] == 7)
        #expect(bad.json?["msg"]?.stringValue?.contains("runtimeConfig.mac") == true, "\(bad.stdout)")
    }

    @Test func bridgeTakesARequestedAddressFromArgsCniIPs() throws {
        let container = try ScratchNamespace("ipargs")
        let config = #"""
            {"cniVersion":"1.1.0","name":"ipargs","type":"bridge","bridge":"ipargsbr0","isGateway":true,
             "args":{"cni":{"ips":["10.171.0.77"]}},
             "ipam":{"type":"host-local","dataDir":"\#(dataDir())","ranges":[[{"subnet":"10.171.0.0/24"}]]}}
            """#
        let add = try execPlugin("bridge", command: "ADD", containerID: "ipargs", netns: container.path, config: config)
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "10.171.0.77/24", "\(add.stdout)")
        let addresses = try container.ip("-4", "addr", "show", "eth0").first?["addr_info"] as? [[String: Any]]
        #expect(addresses?.first?["local"] as? String == "10.171.0.77")
        #expect(try execPlugin("bridge", command: "DEL", containerID: "ipargs", netns: container.path, config: config).status == 0)
    }

    @Test func hostLocalMergesTheThreeSourcesOfRequestedAddresses() throws {
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"merge","type":"host-local",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.172.0.0/24"}],[{"subnet":"fd72::/64"}]]}}
            """#
        func add(_ id: String, args: String?, _ members: String) throws -> PluginOutput {
            try execPlugin("host-local", command: "ADD", containerID: id, netns: "/run/netns/unused", args: args, config: adding(members, to: config))
        }
        func addresses(_ output: PluginOutput) -> [String] {
            output.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
        }
        // An IPv4 from CNI_ARGS and an IPv6 from runtimeConfig combine.
        let one = try add("one", args: "IP=10.172.0.10", #""runtimeConfig":{"ips":["fd72::10/64"]}"#)
        #expect(addresses(one) == ["10.172.0.10/24", "fd72::10/64"], "\(one.stdout)")
        // args.cni.ips with runtimeConfig.ips; the same address twice is one request.
        let two = try add("two", args: nil, #""args":{"cni":{"ips":["fd72::20"]}},"runtimeConfig":{"ips":["10.172.0.20","fd72::20"]}"#)
        #expect(addresses(two) == ["10.172.0.20/24", "fd72::20/64"], "\(two.stdout)")
        // All three.
        let three = try add("three", args: "IP=10.172.0.30", #""args":{"cni":{"ips":["fd72::30"]}},"runtimeConfig":{"ips":[]}"#)
        #expect(addresses(three) == ["10.172.0.30/24", "fd72::30/64"], "\(three.stdout)")
        // Two different IPv4 addresses for the one IPv4 range set cannot both be had.
        let clash = try add("four", args: "IP=10.172.0.40", #""runtimeConfig":{"ips":["10.172.0.41"]}"#)
        #expect(clash.json?["code"] == 7, "\(clash.stdout)")
        #expect(clash.json?["msg"]?.stringValue?.contains("10.172.0.4") == true, "\(clash.stdout)")
        #expect(try leaseHolders(in: dataDir, network: "merge") == ["one/eth0", "one/eth0", "three/eth0", "three/eth0", "two/eth0", "two/eth0"])
    }

    /// ADD fails after IPAM leased an address (eth0 exists in the namespace already): the
    /// lease is released before the error goes back, and the first interface is untouched.
    @Test(arguments: ["bridge", "macvlan"])
    func anAddThatFailsAfterIPAMReleasesTheAddress(plugin: String) throws {
        let link = try ParentLink("e2erel")
        defer { withExtendedLifetime(link) {} }
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"rel-\#(plugin)","type":"\#(plugin)","bridge":"relbr0","master":"\#(link.name)",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(plugin == "bridge" ? "10.173.0.0/24" : "10.174.0.0/24")"}]]}}
            """#
        let container = try ScratchNamespace("rel")
        #expect(try execPlugin(plugin, command: "ADD", containerID: "first", netns: container.path, config: config).status == 0)
        let again = try execPlugin(plugin, command: "ADD", containerID: "second", netns: container.path, config: config)
        #expect(again.status != 0)
        #expect(again.json?["msg"]?.stringValue?.contains("eth0") == true, "\(again.stdout)")
        #expect(try leaseHolders(in: dataDir, network: "rel-\(plugin)") == ["first/eth0"])
        #expect(try container.ip("addr", "show", "eth0").first != nil)
    }
}
