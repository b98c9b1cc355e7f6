import Foundation
import Namespaces
import NetCore
@testable import Netlink
import CNetlink
import Testing

/// Every link operation on real kernel objects, each checked independently with `ip -j`.
@Suite(.enabled(if: Sandbox.isAvailable, Sandbox.reason))
struct LinkTests {
    @Test func vethPeerIsCreatedDirectlyInTheTargetNamespace() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        try host.socket.addLink(LinkSpec(
            name: InterfaceName("vh0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace,
                                                    mac: try MACAddress(parsing: "02:42:0a:00:00:09"))),
            mtu: 1400, up: true))
        let hostSide = try host.ipLink("vh0")
        #expect(linkInfo(hostSide)["info_kind"] as? String == "veth")
        #expect(hostSide?["mtu"] as? Int == 1400)
        #expect(flags(hostSide).contains("UP"))
        let peer = try container.ipLink("eth0")
        #expect(peer?["mtu"] as? Int == 1400)
        #expect(peer?["address"] as? String == "02:42:0a:00:00:09")
        #expect(try host.ipLink("eth0") == nil)
        // One queue each way on both ends, as made: the kernel then has none to take away
        // under the RTNL lock (a grace period per end).
        for end in [hostSide, peer] {
            #expect(end?["num_tx_queues"] as? Int == 1 && end?["num_rx_queues"] as? Int == 1, "\(String(describing: end))")
        }
    }

    @Test func bridgeWithMTUAndMAC() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, mtu: 9000, mac: try MACAddress(parsing: "02:00:00:aa:bb:cc")))
        let bridge = try host.ipLink("br0")
        #expect(linkInfo(bridge)["info_kind"] as? String == "bridge")
        #expect(bridge?["mtu"] as? Int == 9000)
        #expect(bridge?["address"] as? String == "02:00:00:aa:bb:cc")
        #expect(!flags(bridge).contains("UP"))
    }

    @Test func getByNameByIndexAndDumpAgreeWithIp() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0")))))
        let bridge = try #require(try host.socket.link(named: InterfaceName("br0")))
        #expect(bridge.kind == "bridge")
        #expect(try host.socket.link(index: bridge.index)?.name == "br0")
        #expect(try host.socket.link(named: InterfaceName("nosuch0")) == nil)

        let ours = try host.socket.links().map(\.name).sorted()
        let theirs = try host.ipJSON("link", "show").compactMap { $0["ifname"] as? String }.sorted()
        #expect(ours == theirs)
        #expect(ours == ["br0", "lo", "va0", "vb0"])
        let veth = try #require(try host.socket.link(named: InterfaceName("va0")))
        #expect(veth.parentIndex == (try host.socket.link(named: InterfaceName("vb0")))?.index)
    }

    @Test func deleteRemovesBothVethEndsAndIsIdempotent() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0")))))
        try host.socket.deleteLink("va0")
        #expect(try host.ipLink("va0") == nil)
        #expect(try host.ipLink("vb0") == nil)
        try host.socket.deleteLink("va0")
        try host.socket.deleteLink(.index(99999))
    }

    /// The grandchild deletes the pair; by the time the call returns both ends (the peer in
    /// another namespace) are gone, their names are free, and the grandchild has given up
    /// every descriptor of ours it inherited.
    @Test func aDeletionLeftToAChildReturnsWithThePairGoneAndNamesFree() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        func addPair() throws {
            try host.socket.addLink(LinkSpec(name: InterfaceName("vh0"),
                                             kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: container.namespace))))
        }
        try addPair()
        var witness: [Int32] = [-1, -1]
        #expect(cnetlink_pipe_cloexec(&witness) == 0)
        defer { close(witness[0]); close(witness[1]) }

        #expect(try host.socket.deleteLinkInChild("vh0") == true, "the grandchild did not delete it")
        #expect(try host.ipLink("vh0") == nil)
        #expect(try container.ipLink("eth0") == nil)
        // The grandchild is still waiting out the kernel's reclaim. It is the only process in
        // the host namespace; forks made meanwhile by other tests of this process live elsewhere
        // and may briefly hold the pipe too, so they are not counted.
        #expect(try processes(inNamespace: host.name, holding: witness[1]).isEmpty,
                "the grandchild still holds a descriptor of ours")

        try addPair()
        #expect(try container.ipLink("eth0") != nil)
        try host.socket.deleteLink("vh0", .leavingReclaimToAChild)
        #expect(try host.ipLink("vh0") == nil)
        // Gone already: success, whichever way.
        try host.socket.deleteLink("vh0", .leavingReclaimToAChild)
        try host.socket.deleteLink(.index(99999), .leavingReclaimToAChild)
    }

    /// A refusal is not taken for a deletion: the grandchild reports it, and the request made
    /// again on the caller's socket gives it with the kernel's own words.
    @Test func aDeletionTheKernelRefusesIsReported() throws {
        let host = try TestNamespace("host")
        #expect(try host.socket.deleteLinkInChild("lo") == nil) // not done by the grandchild
        #expect {
            try host.socket.deleteLink("lo", .leavingReclaimToAChild)
        } throws: { error in
            (error as? NetlinkError)?.errno == .notSupported
        }
        #expect(try host.ipLink("lo") != nil)
    }

    @Test func setUpDownMTUAndMAC() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        try host.socket.setLink("br0", up: true)
        #expect(flags(try host.ipLink("br0")).contains("UP"))
        try host.socket.setLink("br0", up: false)
        #expect(!flags(try host.ipLink("br0")).contains("UP"))
        try host.socket.setMTU("br0", 1280)
        #expect(try host.ipLink("br0")?["mtu"] as? Int == 1280)
        try host.socket.setMAC("br0", try MACAddress(parsing: "02:11:22:33:44:55"))
        #expect(try host.ipLink("br0")?["address"] as? String == "02:11:22:33:44:55")
        #expect(throws: NetworkError.self) { try host.socket.setLink("nosuch0", up: true) }
    }

    @Test func setMasterAndReleaseFromBridge() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0")))))
        try host.socket.setMaster("va0", "br0")
        #expect(try host.ipLink("va0")?["master"] as? String == "br0")
        try host.socket.setMaster("va0", nil)
        #expect(try host.ipLink("va0")?["master"] == nil)
        do {
            try host.socket.setMaster("va0", "nobridge0")
            Issue.record("expected an error")
        } catch let error as NetworkError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("nobridge0"))
        }
    }

    @Test func hairpinOnABridgePortAndPromiscuousBridge() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0"))), master: "br0"))
        try host.socket.setHairpin("va0", true)
        let port = try host.ipJSON("-d", "link", "show", "dev", "va0").first?["linkinfo"] as? [String: Any]
        #expect((port?["info_slave_data"] as? [String: Any])?["hairpin"] as? Bool == true)
        try host.socket.setHairpin("va0", false)
        let after = try host.ipJSON("-d", "link", "show", "dev", "va0").first?["linkinfo"] as? [String: Any]
        #expect((after?["info_slave_data"] as? [String: Any])?["hairpin"] as? Bool == false)

        try host.socket.setPromiscuous("br0", true)
        #expect(flags(try host.ipLink("br0")).contains("PROMISC"))
        #expect(try host.socket.link(named: InterfaceName("br0"))?.isPromiscuous == true)
        #expect(try host.socket.link(named: InterfaceName("br0"))?.isUp == true) // untouched
        try host.socket.setPromiscuous("br0", false)
        #expect(!flags(try host.ipLink("br0")).contains("PROMISC"))
    }

    @Test func aliasIsSetReadBackAndCleared() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        try host.socket.setAlias("br0", "netctl:net1")
        #expect(try host.ipLink("br0")?["ifalias"] as? String == "netctl:net1")
        #expect(try host.socket.link(named: InterfaceName("br0"))?.alias == "netctl:net1")
        #expect(try host.socket.links().first { $0.name == "br0" }?.alias == "netctl:net1")
        try host.socket.setAlias("br0", nil)
        #expect(try host.ipLink("br0")?["ifalias"] == nil)
        #expect(try host.socket.link(named: InterfaceName("br0"))?.alias == nil)
    }

    @Test func masterAndUpCanBeSetAtCreation() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, up: true))
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0"))), master: "br0", up: true))
        let port = try host.ipLink("va0")
        #expect(port?["master"] as? String == "br0")
        #expect(flags(port).contains("UP"))
    }

    @Test func renameAndMoveToANamespaceWithANewName() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        try host.socket.addLink(LinkSpec(name: InterfaceName("va0"), kind: .veth(peer: VethPeer(name: InterfaceName("vb0")))))
        try host.socket.renameLink("va0", to: InterfaceName("vc0"))
        #expect(try host.ipLink("va0") == nil)
        #expect(try host.ipLink("vc0") != nil)
        try host.socket.moveLink("vb0", to: container.namespace, renamingTo: InterfaceName("eth1"))
        #expect(try host.ipLink("vb0") == nil)
        #expect(try container.ipLink("eth1") != nil)
        try host.socket.moveLink("vc0", to: container.namespace)
        #expect(try container.ipLink("vc0") != nil)
    }

    @Test func existingNameIsAlreadyExistsNamingIt() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        do {
            try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
            Issue.record("expected an error")
        } catch let error as NetworkError {
            #expect(error.code == .alreadyExists)
            #expect(error.message.contains("br0"))
            #expect(Errno.fileExists ~= error)
        }
    }

    @Test func macvlanOnAParentWithMode() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("up0"), kind: .veth(peer: VethPeer(name: InterfaceName("up1"))), up: true))
        for mode in MacvlanMode.allCases where mode != .passthru {
            let name = "mv-\(mode.rawValue.prefix(4))"
            try host.socket.addLink(LinkSpec(name: try InterfaceName(name), kind: .macvlan(parent: "up0", mode: mode)))
            let link = try host.ipLink(name)
            #expect(linkInfo(link)["info_kind"] as? String == "macvlan")
            #expect(infoData(link)["mode"] as? String == mode.rawValue)
            #expect(link?["link"] as? String == "up0")
        }
        try host.socket.addLink(LinkSpec(name: InterfaceName("pt0"), kind: .macvlan(parent: "up1", mode: .passthru)))
        #expect(infoData(try host.ipLink("pt0"))["mode"] as? String == "passthru")
    }

    @Test func macvlanWithAMissingParentIsNotFoundNamingTheParent() throws {
        let host = try TestNamespace("host")
        do {
            try host.socket.addLink(LinkSpec(name: InterfaceName("mv0"), kind: .macvlan(parent: "nosuch0", mode: .bridge)))
            Issue.record("expected an error")
        } catch let error as NetworkError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("nosuch0"))
        }
        #expect(try host.ipLink("mv0") == nil)
    }

    @Test func vxlanWithVNILocalRemotePortAndUnderlay() throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("ul0"), kind: .veth(peer: VethPeer(name: InterfaceName("ul1")))))
        let options = VXLANOptions(vni: 4242, local: IPAddress("10.254.1.1"), remote: IPAddress("10.254.1.2"), port: 8472, underlay: "ul0")
        try host.socket.addLink(LinkSpec(name: InterfaceName("vx0"), kind: .vxlan(options)))
        let data = infoData(try host.ipLink("vx0"))
        #expect(data["id"] as? Int == 4242)
        #expect(data["local"] as? String == "10.254.1.1")
        #expect(data["remote"] as? String == "10.254.1.2")
        #expect(data["port"] as? Int == 8472)
        #expect(data["link"] as? String == "ul0")

        let group = VXLANOptions(vni: 7, group: IPAddress("239.1.1.1"), underlay: "ul0")
        try host.socket.addLink(LinkSpec(name: InterfaceName("vx1"), kind: .vxlan(group)))
        #expect(infoData(try host.ipLink("vx1"))["group"] as? String == "239.1.1.1")

        let bad = VXLANOptions(vni: 1 << 24)
        #expect(throws: NetworkError.self) { try host.socket.addLink(LinkSpec(name: InterfaceName("vx2"), kind: .vxlan(bad))) }
        #expect(try host.ipLink("vx2") == nil)
    }

    @Test func linksCanBeCreatedDirectlyInAnotherNamespace() throws {
        let host = try TestNamespace("host")
        let container = try TestNamespace("ctr")
        try host.socket.addLink(LinkSpec(name: InterfaceName("up0"), kind: .veth(peer: VethPeer(name: InterfaceName("up1"))), up: true))
        try host.socket.addLink(LinkSpec(name: InterfaceName("mv0"), kind: .macvlan(parent: "up0", mode: .bridge), namespace: container.namespace))
        #expect(try host.ipLink("mv0") == nil)
        #expect(linkInfo(try container.ipLink("mv0"))["info_kind"] as? String == "macvlan")
    }

    @Test func oneSocketServesManyThreadsAtOnce() async throws {
        let host = try TestNamespace("host")
        try host.socket.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge))
        let socket = host.socket
        try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<64 { group.addTask { try socket.link(named: InterfaceName("br0"))?.name } }
            for try await name in group { #expect(name == "br0") }
        }
    }
}

/// The PIDs of processes in named namespace `namespace` that hold the file `descriptor` of ours
/// refers to.
private func processes(inNamespace namespace: String, holding descriptor: Int32) throws -> [Int32] {
    func inode(_ path: String) -> (dev_t, ino_t)? {
        var info = stat()
        return stat(path, &info) == 0 ? (info.st_dev, info.st_ino) : nil
    }
    var target = stat()
    guard fstat(descriptor, &target) == 0, let space = inode("/run/netns/\(namespace)") else {
        throw Errno.current
    }
    return try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let netns = inode("/proc/\(entry)/ns/net"),
              netns == space else { return nil }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd")) ?? []
        let holds = fds.contains { fd in
            inode("/proc/\(entry)/fd/\(fd)").map { $0 == (target.st_dev, target.st_ino) } ?? false
        }
        return holds ? pid : nil
    }
}
