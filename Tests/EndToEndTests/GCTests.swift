import Drivers
import Foundation
import NetCore
import Testing

/// GC of every plugin, exec'd as a runtime does, with the valid set under the spec's key and
/// under the legacy key libcni also sends: what is not valid goes, what is valid stays.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct GCTests {
    static let keys = ["cni.dev/valid-attachments", "cni.dev/attachments"]

    /// `config` for GC: `key` holding the attachments of `containers` on eth0.
    func gcConfig(_ config: String, key: String, valid containers: [String], ifname: String = "eth0") -> String {
        let list = containers.map { #"{"containerID":"\#($0)","ifname":"\#(ifname)"}"# }.joined(separator: ",")
        return adding(#""\#(key)":[\#(list)]"#, to: config)
    }

    func dataDir() -> String { NSTemporaryDirectory() + "e2e-ipam-\(UUID().uuidString)" }

    func hostInterface(_ network: String, _ container: String) throws -> String {
        AttachmentID(network: network, containerID: container, interface: try InterfaceName("eth0")).hostInterfaceName.rawValue
    }

    /// Bridge with ipMasq and macspoofchk in a host namespace of its own: `drop` still has its
    /// namespace, `gone` lost it (and its veth with it) before GC.
    @Test(arguments: keys)
    func bridgeCollectsLinksGuardsRecordsAndLeasesOfInvalidAttachments(key: String) throws {
        let host = try PrivateHost("gch")
        let network = key == Self.keys[0] ? "gcbr-valid" : "gcbr-legacy"
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"\#(network)","type":"bridge","bridge":"gcbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.153.0.0/24"}]]}}
            """#
        let keep = try ScratchNamespace("keep")
        let drop = try ScratchNamespace("drop")
        var gone: ScratchNamespace? = try ScratchNamespace("gone")
        var results: [String: String] = [:]
        for (id, path) in [("keep", keep.path), ("drop", drop.path), ("gone", gone?.path ?? "")] {
            let add = try host.plugin("bridge", command: "ADD", containerID: id, netns: path, config: config)
            #expect(add.status == 0, "\(add.stdout)")
            results[id] = add.stdout
        }
        let goneVeth = try hostInterface(network, "gone")
        #expect(try host.namespace.nftTable("bridge")?.contains("port-" + goneVeth) == true)
        gone = nil // the namespace goes, and the veth pair with it (asynchronously)
        for _ in 0..<50 where try host.namespace.ip("link", "show", goneVeth).first != nil { usleep(100_000) }
        #expect(try host.namespace.ip("link", "show", goneVeth).isEmpty)

        let gc = try host.plugin("bridge", command: "GC", containerID: nil, ifname: nil,
                                config: gcConfig(config, key: key, valid: ["keep"]))
        #expect(gc.status == 0, "\(gc.stdout)")

        let guardTable = try host.namespace.nftTable("bridge") ?? ""
        #expect(!guardTable.contains("port-" + goneVeth), "\(guardTable)") // no leaked chain
        #expect(!guardTable.contains("port-" + (try hostInterface(network, "drop"))))
        #expect(guardTable.contains("port-" + (try hostInterface(network, "keep"))))
        #expect(try drop.ip("link", "show", "eth0").isEmpty) // its veth pair went
        #expect(try keep.ip("link", "show", "eth0").first != nil)
        #expect(try leaseHolders(in: dataDir, network: network) == ["keep/eth0"])
        #expect(try host.firewallRecords("bridge:" + network) == ["keep"])
        let check = try host.plugin("bridge", command: "CHECK", containerID: "keep", netns: keep.path,
                                   config: adding(#""prevResult":\#(results["keep"] ?? "")"#, to: config))
        #expect(check.status == 0, "\(check.stdout)")
        #expect(try host.plugin("bridge", command: "DEL", containerID: "keep", netns: keep.path, config: config).status == 0)
    }

    /// A host end that GC cannot delete is still there, so it keeps its MAC guard, its
    /// masquerade record and its lease, and GC fails naming it. (Its alias is moved to `lo`,
    /// which RTM_DELLINK refuses; the veth itself gets another alias, so GC does not find it.)
    @Test func bridgeKeepsTheGuardRecordAndLeaseOfAHostEndItCannotDelete() throws {
        let host = try PrivateHost("gck")
        let network = "gcbr-stuck"
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"\#(network)","type":"bridge","bridge":"gcst0","isGateway":true,"ipMasq":true,"macspoofchk":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.243.0.0/24"}]]}}
            """#
        let container = try ScratchNamespace("stuck")
        let add = try host.plugin("bridge", command: "ADD", containerID: "stuck", netns: container.path, config: config)
        #expect(add.status == 0, "\(add.stdout)")
        let veth = try hostInterface(network, "stuck")
        let alias = try #require(try host.namespace.ip("link", "show", veth).first?["ifalias"] as? String)
        #expect(try host.namespace.exec("ip", "link", "set", veth, "alias", "moved").status == 0)
        #expect(try host.namespace.exec("ip", "link", "set", "lo", "alias", alias).status == 0)

        let gc = try host.plugin("bridge", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: Self.keys[0], valid: []))
        #expect(gc.status != 0 && gc.json?["code"] != nil, "\(gc.stdout)")
        #expect(try host.namespace.ip("link", "show", veth).first != nil)
        #expect(try host.namespace.nftTable("bridge")?.contains("port-" + veth) == true) // its guard stays
        #expect(try host.firewallRecords("bridge:" + network) == ["stuck"])
        #expect(try leaseHolders(in: dataDir, network: network) == ["stuck/eth0"])

        // With the alias back where it belongs, the next GC takes all of it.
        #expect(try host.namespace.exec("ip", "link", "set", "lo", "alias", "").status == 0)
        #expect(try host.namespace.exec("ip", "link", "set", veth, "alias", alias).status == 0)
        let again = try host.plugin("bridge", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: Self.keys[0], valid: []))
        #expect(again.status == 0, "\(again.stdout)")
        #expect(try host.namespace.ip("link", "show", veth).isEmpty)
        #expect(!(try host.namespace.nftTable("bridge") ?? "").contains("port-" + veth))
        #expect(try host.firewallRecords("bridge:" + network).isEmpty)
        #expect(try leaseHolders(in: dataDir, network: network).isEmpty)
    }

    @Test(arguments: keys)
    func macvlanReleasesTheLeasesOfInvalidAttachments(key: String) throws {
        let link = try ParentLink("e2egcmv")
        defer { withExtendedLifetime(link) {} }
        let parent = link.name
        let network = key == Self.keys[0] ? "gcmv-valid" : "gcmv-legacy"
        let dataDir = dataDir()
        let config = #"""
            {"cniVersion":"1.1.0","name":"\#(network)","type":"macvlan","master":"\#(parent)",
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.154.0.0/24"}]]}}
            """#
        let keep = try ScratchNamespace("keep")
        let drop = try ScratchNamespace("drop")
        for (id, path) in [("keep", keep.path), ("drop", drop.path)] {
            #expect(try execPlugin("macvlan", command: "ADD", containerID: id, netns: path, config: config).status == 0)
        }
        let gc = try execPlugin("macvlan", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: key, valid: ["keep"]))
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(try leaseHolders(in: dataDir, network: network) == ["keep/eth0"])
        #expect(try keep.ip("link", "show", "eth0").first != nil)
    }

    @Test(arguments: keys)
    func hostLocalReleasesTheLeasesOfInvalidAttachmentsAndAnEmptyListReleasesAll(key: String) throws {
        let dataDir = dataDir()
        let config = #"{"cniVersion":"1.1.0","name":"gchl","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.155.0.0/24"}]]}}"#
        for id in ["keep", "drop"] {
            #expect(try execPlugin("host-local", command: "ADD", containerID: id, netns: "/run/netns/unused", config: config).status == 0)
        }
        // Another interface of the valid container is not valid.
        #expect(try execPlugin("host-local", command: "ADD", containerID: "keep", netns: "/run/netns/unused", ifname: "net1", config: config).status == 0)
        let gc = try execPlugin("host-local", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: key, valid: ["keep"]))
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(try leaseHolders(in: dataDir, network: "gchl") == ["keep/eth0"])

        let all = try execPlugin("host-local", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: key, valid: []))
        #expect(all.status == 0, "\(all.stdout)")
        #expect(try leaseHolders(in: dataDir, network: "gchl").isEmpty)
    }

    @Test(arguments: keys)
    func portmapUnpublishesThePortsOfInvalidAttachments(key: String) throws {
        let host = try PrivateHost("gcp")
        let network = key == Self.keys[0] ? "gcpm-valid" : "gcpm-legacy"
        let dataDir = dataDir()
        let bridge = #"""
            {"cniVersion":"1.1.0","name":"\#(network)","type":"bridge","bridge":"gcpm0","isGateway":true,
             "ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.156.0.0/24"}]]}}
            """#
        func portmap(_ port: Int) -> String {
            #"{"cniVersion":"1.1.0","name":"\#(network)","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":\#(port),"containerPort":80,"protocol":"tcp"}]}}"#
        }
        let keep = try ScratchNamespace("keep")
        let drop = try ScratchNamespace("drop")
        var previous: [String: String] = [:]
        for (id, path, port) in [("keep", keep.path, 8101), ("drop", drop.path, 8102)] {
            let add = try host.plugin("bridge", command: "ADD", containerID: id, netns: path, config: bridge)
            #expect(add.status == 0, "\(add.stdout)")
            previous[id] = add.stdout
            let mapped = try host.plugin("portmap", command: "ADD", containerID: id, netns: path,
                                        config: adding(#""prevResult":\#(add.stdout)"#, to: portmap(port)))
            #expect(mapped.status == 0, "\(mapped.stdout)")
        }
        #expect(try host.namespace.nftTable()?.contains("8102") == true)
        let gc = try host.plugin("portmap", command: "GC", containerID: nil, ifname: nil,
                                config: gcConfig(portmap(0), key: key, valid: ["keep"]))
        #expect(gc.status == 0, "\(gc.stdout)")
        let table = try host.namespace.nftTable() ?? ""
        #expect(!table.contains("8102") && table.contains("8101"), "\(table)")
        #expect(try host.firewallRecords("portmap:" + network) == ["keep"])
        let check = try host.plugin("portmap", command: "CHECK", containerID: "keep", netns: keep.path,
                                   config: adding(#""prevResult":\#(previous["keep"] ?? "")"#, to: portmap(8101)))
        #expect(check.status == 0, "\(check.stdout)")
    }

    @Test(arguments: keys)
    func loopbackHasNothingToCollectAndLeavesEveryNamespaceAlone(key: String) throws {
        let config = #"{"cniVersion":"1.1.0","name":"gclo","type":"loopback"}"#
        let keep = try ScratchNamespace("keep")
        let drop = try ScratchNamespace("drop")
        for (id, path) in [("keep", keep.path), ("drop", drop.path)] {
            #expect(try execPlugin("loopback", command: "ADD", containerID: id, netns: path, ifname: "lo", config: config).status == 0)
        }
        let gc = try execPlugin("loopback", command: "GC", containerID: nil, ifname: nil, config: gcConfig(config, key: key, valid: ["keep"], ifname: "lo"))
        #expect(gc.status == 0, "\(gc.stdout)")
        for namespace in [keep, drop] {
            #expect((try namespace.ip("link", "show", "lo").first?["flags"] as? [String])?.contains("UP") == true)
        }
        #expect(try execPlugin("loopback", command: "CHECK", containerID: "keep", netns: keep.path, ifname: "lo", config: config).status == 0)
    }

    @Test func gcWithoutAValidSetIsCode7AndCollectsNothing() throws {
        let dataDir = dataDir()
        let config = #"{"cniVersion":"1.1.0","name":"gcnone","type":"host-local","ipam":{"type":"host-local","dataDir":"\#(dataDir)","ranges":[[{"subnet":"10.157.0.0/24"}]]}}"#
        #expect(try execPlugin("host-local", command: "ADD", containerID: "a", netns: "/run/netns/unused", config: config).status == 0)
        for plugin in ["host-local", "bridge", "macvlan", "portmap", "loopback"] {
            let gc = try execPlugin(plugin, command: "GC", containerID: nil, ifname: nil, config: config)
            #expect(gc.json?["code"] == 7, "\(plugin): \(gc.stdout)")
            #expect(gc.json?["msg"]?.stringValue?.contains("cni.dev/valid-attachments") == true, "\(plugin): \(gc.stdout)")
        }
        #expect(try leaseHolders(in: dataDir, network: "gcnone") == ["a/eth0"])
    }
}
