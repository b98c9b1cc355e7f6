import CNI
import Foundation
import NetCore
import Testing

/// IPAM routes without a gateway go via the gateway of their family (as the reference
/// plugins' ConfigureIface), macvlan installs only IPAM's routes, and the config's `dns` key.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct RouteAndDNSTests {
    /// `ip -j route` in `namespace`: the default route's gateway, or `nil`.
    func defaultGateway(_ namespace: ScratchNamespace, _ family: String = "-4") throws -> String? {
        try namespace.ip(family, "route", "show").first { $0["dst"] as? String == "default" }?["gateway"] as? String
    }

    @Test func aDefaultRouteWithoutGatewayGoesViaTheGatewayAndReachesBeyondTheSubnet() throws {
        // "far": a namespace outside the container's subnet, routed through the sandbox (the host).
        let far = try ScratchNamespace("far")
        let suffix = String(UInt16.random(in: 0...9999))
        try runCommand(["ip", "link", "add", "e2efar" + suffix, "type", "veth", "peer", "name", "eth0", "netns", far.name])
        defer { _ = try? runCommand(["ip", "link", "delete", "e2efar" + suffix]) }
        for command in [["ip", "addr", "add", "203.0.113.1/24", "dev", "e2efar" + suffix],
                        ["ip", "link", "set", "e2efar" + suffix, "up"],
                        ["ip", "-n", far.name, "addr", "add", "203.0.113.2/24", "dev", "eth0"],
                        ["ip", "-n", far.name, "link", "set", "eth0", "up"],
                        ["ip", "-n", far.name, "route", "add", "default", "via", "203.0.113.1"]] {
            #expect(try runCommand(command).status == 0, "\(command)")
        }
        let container = try ScratchNamespace("gw")
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let config = #"""
            {"cniVersion":"1.1.0","name":"gwnet","type":"bridge","bridge":"gwbr0","isGateway":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.175.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
            """#
        let add = try execPlugin("bridge", command: "ADD", containerID: "gw1", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        defer { _ = try? execPlugin("bridge", command: "DEL", containerID: "gw1", netns: container.path, config: config) }
        #expect(try defaultGateway(container) == "10.175.0.1")
        let route = try container.ip("-4", "route", "show", "default").first
        #expect(route?["dev"] as? String == "eth0")
        #expect((route?["scope"] as? String).map { $0 != "link" } ?? true) // not on-link
        // The result keeps IPAM's route as it was given.
        #expect(add.json?["routes"] == [["dst": "0.0.0.0/0"]])
        #expect(try container.exec("ping", "-c", "2", "-i", "0.2", "-W", "1", "203.0.113.2").status == 0)

        let check = try execPlugin("bridge", command: "CHECK", containerID: "gw1", netns: container.path,
                                   config: adding(#""prevResult":\#(add.stdout)"#, to: config))
        #expect(check.status == 0, "\(check.stdout)")
    }

    @Test func macvlanWithTheExampleConflistsRoutesSucceedsAndRoutesViaItsGateway() throws {
        let link = try ParentLink("e2emvr")
        defer { withExtendedLifetime(link) {} }
        let parent = link.name
        // conf/macvlan.conflist with our parent and a state directory of its own.
        let path = ExampleConf.directory + "/macvlan.conflist"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: #""master": "eth0""#, with: #""master": "\#(parent)""#)
        text = text.replacingOccurrences(of: #""type": "host-local","#,
                                         with: #""type": "host-local", "dataDir": "\#(NSTemporaryDirectory())e2e-ipam-\#(UUID().uuidString)","#)
        let list = try NetworkConfigList(parsing: Array(text.utf8))
        #expect(list.plugins.first?["ipam"]?["routes"] == [["dst": "0.0.0.0/0"]])
        let runtime = CNIRuntime(pluginDirectories: [pluginDirectory.path], cacheDirectory: NSTemporaryDirectory() + "e2e-cache-\(UUID().uuidString)")
        let container = try ScratchNamespace("mvr")
        let attachment = NetworkAttachment(containerID: "mvr1", netns: container.path, ifName: "eth0")
        let result = try runtime.add(list, attachment)
        #expect(result.ips.map(\.address.description) == ["192.168.50.100/24"])
        #expect(try defaultGateway(container) == "192.168.50.1")
        // Only IPAM's one route: no second default route of the driver's own.
        #expect(try container.ip("-4", "route", "show", "default").count == 1)
        try runtime.check(list, attachment)
        try runtime.delete(list, attachment)
        try runtime.delete(list, attachment)
        #expect(try container.ip("link", "show", "eth0").isEmpty)
    }

    @Test(arguments: ["bridge", "macvlan"])
    func theConfigsDNSKeyWinsOverIPAMsAndIPAMsIsUsedWithoutIt(plugin: String) throws {
        let link = try ParentLink("e2edns")
        defer { withExtendedLifetime(link) {} }
        let parent = link.name
        let resolvConf = NSTemporaryDirectory() + "e2e-resolv-\(UUID().uuidString)"
        try "nameserver 192.0.2.53\nsearch ipam.example\n".write(toFile: resolvConf, atomically: true, encoding: .utf8)
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        let subnet = plugin == "bridge" ? "10.176.0.0/24" : "10.177.0.0/24"
        let base = #"""
            {"cniVersion":"1.1.0","name":"dns-\#(plugin)","type":"\#(plugin)","bridge":"dnsbr0","master":"\#(parent)",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","resolvConf":"\#(resolvConf)","ranges":[[{"subnet":"\#(subnet)"}]]}}
            """#
        let container = try ScratchNamespace("dns")
        let fromIPAM = try execPlugin(plugin, command: "ADD", containerID: "dns1", netns: container.path, config: base)
        #expect(fromIPAM.status == 0, "\(fromIPAM.stdout)")
        #expect(fromIPAM.json?["dns"] == ["nameservers": ["192.0.2.53"], "search": ["ipam.example"]])
        #expect(try execPlugin(plugin, command: "DEL", containerID: "dns1", netns: container.path, config: base).status == 0)

        let configured = adding(#""dns":{"nameservers":["10.0.0.53"],"domain":"conf.example","search":["a.example"],"options":["ndots:2"]}"#, to: base)
        let fromConfig = try execPlugin(plugin, command: "ADD", containerID: "dns1", netns: container.path, config: configured)
        #expect(fromConfig.status == 0, "\(fromConfig.stdout)")
        #expect(fromConfig.json?["dns"] == ["nameservers": ["10.0.0.53"], "domain": "conf.example", "search": ["a.example"], "options": ["ndots:2"]])
        #expect(try execPlugin(plugin, command: "DEL", containerID: "dns1", netns: container.path, config: configured).status == 0)

        let bad = try execPlugin(plugin, command: "ADD", containerID: "dns1", netns: container.path,
                                 config: adding(#""dns":{"nameservers":"10.0.0.53"}"#, to: base))
        #expect(bad.json?["code"] == 7)
        #expect(bad.json?["msg"]?.stringValue?.contains("dns.nameservers") == true)
    }
}

/// Where conf/ is, for tests that run its examples.
enum ExampleConf {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../conf").standardized.path
}
