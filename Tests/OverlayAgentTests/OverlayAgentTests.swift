import Cluster
import NetCore
@testable import NetctlModel
@testable import OverlayAgent
import Testing

/// The agent's pure parts: the key layout, the choice of a share, the values kept in etcd.
struct OverlayKeysTests {
    let keys = OverlayKeys(prefix: "/netctl/v1/")

    @Test func keysAreLaidOutUnderOnePrefix() {
        #expect(keys.root == "/netctl/v1/")
        #expect(keys.host("abc") == "/netctl/v1/hosts/abc")
        #expect(keys.config("ov1") == "/netctl/v1/networks/ov1/config")
        #expect(keys.vni(4096) == "/netctl/v1/vni/4096")
        let share = OverlayShare(subnet: CIDR("10.200.3.0/24")!, hostID: "h", hostName: "h", underlay: IPAddress("10.99.0.3")!,
                                 vtepMAC: MACAddress("02:00:00:00:00:03")!)
        #expect(keys.share("ov1", share) == "/netctl/v1/networks/ov1/subnets/10.200.3.0-24")
    }

    @Test func everyKeyIsToldApart() {
        #expect(keys.kind(of: "/netctl/v1/hosts/abc") == .host(id: "abc"))
        #expect(keys.kind(of: "/netctl/v1/networks/ov1/config") == .config(network: "ov1"))
        #expect(keys.kind(of: "/netctl/v1/networks/ov1/subnets/10.200.3.0-24") == .share(network: "ov1"))
        #expect(keys.kind(of: "/netctl/v1/vni/4096") == .vni(4096))
        #expect(keys.kind(of: "/netctl/v1/vni/x") == .other)
        #expect(keys.kind(of: "/netctl/v1/networks/ov1") == .other)
        #expect(keys.kind(of: "/other/hosts/abc") == .other)
        #expect(keys.kind(of: "/netctl/v1/networks/ov1/subnets/a/b") == .other)
    }
}

struct ShareSelectionTests {
    let subnet = CIDR("10.200.0.0/16")!

    @Test func thePreviousShareComesFirstWhenFree() {
        let previous = CIDR("10.200.7.0/24")!
        let candidates = ShareSelection.candidates(subnet: subnet, shareLength: 24, taken: [CIDR("10.200.1.0/24")!], preferred: previous)
        #expect(candidates.first == previous)
        #expect(candidates.count == 64)
        #expect(Set(candidates).count == candidates.count)
        #expect(!candidates.contains(CIDR("10.200.1.0/24")!))
        #expect(candidates.allSatisfy { $0.prefixLength == 24 && subnet.contains($0.networkAddress) && $0.address == $0.networkAddress })
    }

    @Test func aTakenOrForeignPreferenceIsSkipped() {
        let taken = CIDR("10.200.7.0/24")!
        #expect(ShareSelection.candidates(subnet: subnet, shareLength: 24, taken: [taken], preferred: taken).first != taken)
        #expect(!ShareSelection.candidates(subnet: subnet, shareLength: 24, taken: [], preferred: CIDR("10.201.0.0/24")!)
            .contains(CIDR("10.201.0.0/24")!))
    }

    @Test func aSmallNetworkRunsOutOfShares() {
        let small = CIDR("10.9.0.0/26")!
        let all = ShareSelection.candidates(subnet: small, shareLength: 28, taken: [], preferred: nil)
        #expect(Set(all) == Set(["10.9.0.0/28", "10.9.0.16/28", "10.9.0.32/28", "10.9.0.48/28"].compactMap(CIDR.init)))
        #expect(ShareSelection.candidates(subnet: small, shareLength: 28, taken: Set(all), preferred: nil).isEmpty)
        #expect(ShareSelection.candidates(subnet: small, shareLength: 26, taken: [], preferred: nil).isEmpty)
    }
}

struct OverlayValuesTests {
    @Test func configAndShareRoundTripThroughTheirJSON() throws {
        let config = OverlayNetworkConfig(id: "abc", subnet: CIDR("10.200.0.0/16")!, shareLength: 24, vni: 4096, port: 4789, mtu: 1400,
                                          isInternal: true, labels: ["team": "a"], created: 7)
        #expect(try OverlayNetworkConfig(json: JSON(parsing: config.json.serialized())) == config)
        let share = OverlayShare(subnet: CIDR("10.200.3.0/24")!, hostID: "h3", hostName: "node3", underlay: IPAddress("10.99.0.3")!,
                                 vtepMAC: MACAddress("02:00:00:00:00:03")!, endpoints: 2)
        #expect(try OverlayShare(json: JSON(parsing: share.json.serialized())) == share)
        #expect(share.tunnelAddress == IPAddress("10.200.3.0"))
        #expect(throws: NetworkError.self) { try OverlayShare(json: JSON(parsing: #"{"Subnet": "10.200.3.0/24"}"#)) }
    }

    @Test func defaultShareLengthLeavesRoomForHosts() {
        #expect(OverlayNetworkConfig.defaultShareLength(for: CIDR("10.200.0.0/16")!) == 24)
        #expect(OverlayNetworkConfig.defaultShareLength(for: CIDR("10.200.0.0/22")!) == 24)
        #expect(OverlayNetworkConfig.defaultShareLength(for: CIDR("10.200.0.0/24")!) == 26)
    }

    @Test func theVTEPMACIsStableLocalAndUnicast() {
        let mac = Netctl.vtepMAC(hostID: "0123456789abcdef", vni: 4096)
        #expect(mac == Netctl.vtepMAC(hostID: "0123456789abcdef", vni: 4096))
        #expect(mac != Netctl.vtepMAC(hostID: "0123456789abcdef", vni: 4097))
        #expect(mac != Netctl.vtepMAC(hostID: "fedcba9876543210", vni: 4096))
        let first = UInt8(mac.description.prefix(2), radix: 16) ?? 0
        #expect(first & 0x02 == 0x02 && first & 0x01 == 0)
        #expect(Netctl.tunnelName(networkID: "0123456789abcdef0123").count == 15)
    }
}

/// The agent's copy of etcd: kept by events, read as networks, shares and allowed sources.
struct OverlaySnapshotTests {
    let keys = OverlayKeys()

    func share(_ subnet: String, host: String, underlay: String) -> OverlayShare {
        OverlayShare(subnet: CIDR(subnet)!, hostID: host, hostName: host, underlay: IPAddress(underlay)!,
                     vtepMAC: Netctl.vtepMAC(hostID: host, vni: 7))
    }

    @Test func eventsKeepTheNetworksSharesAndAllowedSources() throws {
        var snapshot = OverlaySnapshot(keys: keys)
        let config = OverlayNetworkConfig(id: "id1", subnet: CIDR("10.200.0.0/16")!, shareLength: 24, vni: 7)
        let a = share("10.200.1.0/24", host: "a", underlay: "10.99.0.1"), b = share("10.200.2.0/24", host: "b", underlay: "10.99.0.2")
        snapshot.replace(with: [EtcdKeyValue(key: keys.config("ov1"), value: config.json.serialized()),
                                EtcdKeyValue(key: keys.share("ov1", a), value: a.json.serialized(), lease: 1)])
        snapshot.apply([EtcdEvent(kind: .put, kv: EtcdKeyValue(key: keys.share("ov1", b), value: b.json.serialized(), lease: 2), previous: nil),
                        EtcdEvent(kind: .put, kv: EtcdKeyValue(key: keys.host("b"), value: "{}"), previous: nil)])
        #expect(snapshot.networks == ["ov1": config])
        #expect(snapshot.shares(of: "ov1").map(\.share) == [a, b])
        #expect(snapshot.shares(of: "ov1").map(\.kv.lease) == [1, 2])
        #expect(snapshot.tunnelPeers() == [4789: [IPAddress("10.99.0.1")!, IPAddress("10.99.0.2")!]])
        // A host's lease expires: its keys go in one revision, with only their names.
        snapshot.apply([EtcdEvent(kind: .delete, kv: EtcdKeyValue(key: keys.share("ov1", b), value: ""), previous: nil)])
        #expect(snapshot.shares(of: "ov1").map(\.share) == [a])
        #expect(snapshot.tunnelPeers() == [4789: [IPAddress("10.99.0.1")!]])
        snapshot.apply([EtcdEvent(kind: .delete, kv: EtcdKeyValue(key: keys.config("ov1"), value: ""), previous: nil)])
        #expect(snapshot.networks.isEmpty)
        #expect(snapshot.tunnelPeers().isEmpty)
    }

    @Test func aConfigThatDoesNotParseIsNoNetwork() {
        var snapshot = OverlaySnapshot(keys: keys)
        snapshot.replace(with: [EtcdKeyValue(key: keys.config("bad"), value: "{\"Id\": 1}")])
        #expect(snapshot.networks.isEmpty)
    }
}
