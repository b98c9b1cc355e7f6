import Foundation
import NetCore
import Testing

/// `bridge` with in-process `host-local`, exec'd as a runtime does, with real traffic.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct BridgePluginTests {
    /// A bridge config with its own state directory, so tests never share leases.
    func config(bridge: String, subnet: String, version: String = "1.1.0", extra: String = "") -> String {
        let dataDir = NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)"
        return #"""
            {"cniVersion":"\#(version)","name":"net-\#(bridge)","type":"bridge","bridge":"\#(bridge)","isGateway":true,
             "isDefaultGateway":true,"hairpinMode":true\#(extra),
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"\#(subnet)"}]],
                     "routes":[{"dst":"10.123.0.0/16"}]}}
            """#
    }

    @Test func addGivesAddressesRoutesAndTrafficAndDeleteTwiceCleansUp() throws {
        let first = try ScratchNamespace("c1")
        let second = try ScratchNamespace("c2")
        let config = config(bridge: "e2ebr0", subnet: "10.120.0.0/24")
        let add1 = try execPlugin("bridge", command: "ADD", containerID: "c1", netns: first.path, config: config)
        #expect(add1.status == 0, "\(add1.stdout)")
        let add2 = try execPlugin("bridge", command: "ADD", containerID: "c2", netns: second.path, config: config)
        #expect(add2.status == 0, "\(add2.stdout)")

        let result = try #require(add1.json)
        #expect(result["cniVersion"] == "1.1.0")
        let interfaces = result["interfaces"]?.arrayValue ?? []
        #expect(interfaces.map { $0["name"]?.stringValue } .first == "e2ebr0")
        #expect(interfaces.last?["sandbox"]?.stringValue == first.path)
        #expect(result["ips"]?.arrayValue?.first?["address"] == "10.120.0.2/24")
        #expect(result["ips"]?.arrayValue?.first?["gateway"] == "10.120.0.1")
        #expect(result["ips"]?.arrayValue?.first?["interface"] == 2)
        #expect(add2.json?["ips"]?.arrayValue?.first?["address"] == "10.120.0.3/24")
        let routes = result["routes"]?.arrayValue?.compactMap { $0["dst"]?.stringValue } ?? []
        #expect(Set(routes) == ["10.123.0.0/16", "0.0.0.0/0"])

        let inside = try first.ip("route", "show")
        #expect(inside.contains { $0["dst"] as? String == "default" && $0["gateway"] as? String == "10.120.0.1" })
        #expect(inside.contains { $0["dst"] as? String == "10.123.0.0/16" })
        let ping = Process()
        ping.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ping.arguments = ["ip", "netns", "exec", first.name, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.120.0.3"]
        try ping.run()
        ping.waitUntilExit()
        #expect(ping.terminationStatus == 0)

        var check = config
        check.removeLast()
        check += #","prevResult":\#(add1.stdout)}"#
        #expect(try execPlugin("bridge", command: "CHECK", containerID: "c1", netns: first.path, config: check).status == 0)

        for _ in 0..<2 {
            let delete = try execPlugin("bridge", command: "DEL", containerID: "c1", netns: first.path, config: config)
            #expect(delete.status == 0, "\(delete.stdout)")
        }
        #expect(try first.ip("link", "show", "eth0").isEmpty)
        // The address went back to the pool, and a DEL without the namespace succeeds too.
        #expect(try execPlugin("bridge", command: "DEL", containerID: "c1", netns: nil, config: config).status == 0)
        #expect(try execPlugin("bridge", command: "CHECK", containerID: "c1", netns: first.path, config: check).status != 0)
    }

    /// DEL returns once the pair is gone from both namespaces, whether a grandchild waits out
    /// the kernel's reclaim (the default) or the plugin does (`NETCTL_RELEASE_IN_BACKGROUND=0`);
    /// the same container can be added again at once.
    @Test(arguments: ["1", "0"])
    func deleteReturnsWithThePairGoneAndTheContainerCanComeBackAtOnce(releaseInBackground: String) throws {
        let container = try ScratchNamespace("c1")
        let bridge = "e2ebrd" + releaseInBackground
        let config = config(bridge: bridge, subnet: releaseInBackground == "1" ? "10.134.0.0/24" : "10.135.0.0/24")
        let environment = ["NETCTL_RELEASE_IN_BACKGROUND": releaseInBackground]
        for round in 0..<3 {
            let add = try execPlugin("bridge", command: "ADD", containerID: "back", netns: container.path, config: config,
                                     extraEnvironment: environment)
            #expect(add.status == 0, "round \(round): \(add.stdout)")
            let delete = try execPlugin("bridge", command: "DEL", containerID: "back", netns: container.path, config: config,
                                        extraEnvironment: environment)
            #expect(delete.status == 0, "round \(round): \(delete.stdout)")
            #expect(try container.ip("link", "show", "eth0").isEmpty)
            #expect(try runCommand(["ip", "-o", "link", "show", "master", bridge]).text.isEmpty)
        }
    }

    @Test func addingTheSameInterfaceTwiceFailsAndLeavesTheFirstIntact() throws {
        let container = try ScratchNamespace("c1")
        let config = config(bridge: "e2ebr1", subnet: "10.121.0.0/24")
        #expect(try execPlugin("bridge", command: "ADD", containerID: "c1", netns: container.path, config: config).status == 0)
        let again = try execPlugin("bridge", command: "ADD", containerID: "c2", netns: container.path, config: config)
        #expect(again.status != 0)
        #expect(again.json?["msg"]?.stringValue?.contains("eth0") == true)
        #expect(try container.ip("addr", "show", "eth0").first != nil)
    }

    @Test func unimplementedOptionIsCode2AndOldVersionsConvert() throws {
        let container = try ScratchNamespace("c1")
        let vlan = try execPlugin("bridge", command: "ADD", netns: container.path, config: config(bridge: "e2ebr2", subnet: "10.122.0.0/24", extra: #","vlan":100"#))
        #expect(vlan.json?["code"] == 2)
        #expect(vlan.json?["msg"]?.stringValue?.contains("vlan") == true)
        #expect(try container.ip("link", "show", "eth0").isEmpty)

        let old = try execPlugin("bridge", command: "ADD", netns: container.path, config: config(bridge: "e2ebr2", subnet: "10.122.0.0/24", version: "0.4.0"))
        #expect(old.json?["cniVersion"] == "0.4.0")
        #expect(old.json?["ips"]?.arrayValue?.first?["version"] == "4")
    }

    @Test func gcRemovesHostEndsAndLeasesOfInvalidAttachments() throws {
        let kept = try ScratchNamespace("keep")
        let dropped = try ScratchNamespace("drop")
        let config = config(bridge: "e2ebr3", subnet: "10.124.0.0/24")
        #expect(try execPlugin("bridge", command: "ADD", containerID: "keep", netns: kept.path, config: config).status == 0)
        #expect(try execPlugin("bridge", command: "ADD", containerID: "drop", netns: dropped.path, config: config).status == 0)

        var gc = config
        gc.removeLast()
        gc += #","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]}"#
        let output = try execPlugin("bridge", command: "GC", containerID: nil, ifname: nil, config: gc)
        #expect(output.status == 0, "\(output.stdout)")
        #expect(try dropped.ip("link", "show", "eth0").isEmpty) // its veth pair is gone
        #expect(try kept.ip("link", "show", "eth0").first != nil)
        // The dropped address is free again: a new container gets .3 back after .4? Round robin
        // moves on, so ask for it explicitly.
        let again = try ScratchNamespace("again")
        let reuse = try execPlugin("bridge", command: "ADD", containerID: "again", netns: again.path, args: "IP=10.124.0.3", config: config)
        #expect(reuse.json?["ips"]?.arrayValue?.first?["address"] == "10.124.0.3/24", "\(reuse.stdout)")
    }

    /// The container interface announces itself when it comes up (`arp_notify`, as the
    /// reference sets it), so a reused address's new MAC reaches the neighbours at once.
    @Test func theContainerInterfaceHasARPNotifyOn() throws {
        let container = try ScratchNamespace("arp")
        let config = config(bridge: "e2ebr4", subnet: "10.125.0.0/24")
        #expect(try execPlugin("bridge", command: "ADD", containerID: "arp", netns: container.path, config: config).status == 0)
        let value = try runCommand(["ip", "netns", "exec", container.name, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"])
        #expect(value.text.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(value.text)")
        #expect(try execPlugin("bridge", command: "DEL", containerID: "arp", netns: container.path, config: config).status == 0)
    }

    /// CHECK finds a container interface that is not the peer of the attachment's host end,
    /// even when both have the right names.
    @Test func checkRefusesAContainerInterfaceThatIsNotTheHostEndsPeer() throws {
        let container = try ScratchNamespace("peer")
        let config = config(bridge: "e2ebr5", subnet: "10.126.0.0/24")
        let add = try execPlugin("bridge", command: "ADD", containerID: "peer", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        var check = config
        check.removeLast()
        check += #","prevResult":\#(add.stdout)}"#
        #expect(try execPlugin("bridge", command: "CHECK", containerID: "peer", netns: container.path, config: check).status == 0)
        // Swap the container end for an impostor of the same name, MAC and address.
        let mac = try container.ip("link", "show", "eth0").first?["address"] as? String ?? ""
        for command in [["ip", "-n", container.name, "link", "set", "eth0", "name", "old0"],
                        ["ip", "-n", container.name, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", "other0"],
                        ["ip", "-n", container.name, "addr", "add", "10.126.0.2/24", "dev", "eth0"],
                        ["ip", "-n", container.name, "link", "set", "eth0", "up"],
                        ["ip", "-n", container.name, "link", "set", "other0", "up"]] {
            #expect(try runCommand(command).status == 0, "\(command)")
        }
        let impostor = try execPlugin("bridge", command: "CHECK", containerID: "peer", netns: container.path, config: check)
        #expect(impostor.status != 0)
        #expect(impostor.json?["msg"]?.stringValue?.contains("not the veth peer") == true, "\(impostor.stdout)")
    }

    @Test func contradictoryOptionsAreRefusedBeforeAnythingIsMade() throws {
        let container = try ScratchNamespace("contra")
        let both = try execPlugin("bridge", command: "ADD", containerID: "contra", netns: container.path,
                                  config: config(bridge: "e2ebr6", subnet: "10.127.0.0/24", extra: #","promiscMode":true"#))
        #expect(both.json?["code"] == 7, "\(both.stdout)")
        #expect(both.json?["msg"]?.stringValue?.contains("hairpin") == true)
        let disabled = try execPlugin("bridge", command: "ADD", containerID: "contra", netns: container.path,
                                      config: config(bridge: "e2ebr6", subnet: "10.127.0.0/24", extra: #","disableContainerInterface":true"#))
        #expect(disabled.json?["code"] == 7, "\(disabled.stdout)")
        #expect(disabled.json?["msg"]?.stringValue?.contains("disableContainerInterface") == true)
        #expect(try container.ip("link", "show", "eth0").isEmpty)
        #expect(try runCommand(["ip", "link", "show", "e2ebr6"]).status != 0)
        // As with the reference, only ADD refuses them: the runtime's DEL after a failed ADD succeeds.
        let delete = try execPlugin("bridge", command: "DEL", containerID: "contra", netns: container.path,
                                    config: config(bridge: "e2ebr6", subnet: "10.127.0.0/24", extra: #","promiscMode":true"#))
        #expect(delete.status == 0, "\(delete.stdout)")
    }

    /// DEL is best effort: an `ipam` plugin it cannot find is reported, and the veth pair still goes.
    @Test func deleteWithAnIPAMPluginItCannotFindStillRemovesThePair() throws {
        let container = try ScratchNamespace("ipamgone")
        let good = config(bridge: "e2ebr7", subnet: "10.128.0.0/24")
        #expect(try execPlugin("bridge", command: "ADD", containerID: "ipamgone", netns: container.path, config: good).status == 0)
        let broken = good.replacingOccurrences(of: #""type":"host-local""#, with: #""type":"no-such-ipam""#)
        let delete = try execPlugin("bridge", command: "DEL", containerID: "ipamgone", netns: container.path, config: broken)
        #expect(delete.status != 0)
        #expect(delete.json?["msg"]?.stringValue?.contains("no-such-ipam") == true, "\(delete.stdout)")
        #expect(try container.ip("link", "show", "eth0").isEmpty)
        #expect(try execPlugin("bridge", command: "DEL", containerID: "ipamgone", netns: container.path, config: good).status == 0)
    }
}
