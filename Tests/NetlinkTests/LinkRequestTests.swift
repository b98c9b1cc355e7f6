import Namespaces
import NetCore
import Testing
@testable import Netlink

/// The exact bytes of every link request. Layouts: `struct nlmsghdr` (len u32, type u16,
/// flags u16, seq u32, pid u32), `struct ifinfomsg` (family u8, pad u8, type u16, index i32,
/// flags u32, change u32), attributes (len u16, type u16, value, padded to 4). Little endian.
@Suite struct LinkRequestTests {
    @Test func createBridgeWithMTUAndMACUp() throws {
        let bytes = try onlyRequest {
            try $0.addLink(LinkSpec(name: InterfaceName("br0"), kind: .bridge, mtu: 9000, mac: try MACAddress(parsing: "02:00:00:00:00:01"), up: true))
        }
        #expect(hexString(bytes) == hexString(hex("""
            4c000000 // nlmsg_len 76
            1000     // RTM_NEWLINK
            0506     // NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
            01000000 // seq 1
            00000000 // pid 0
            00 00 0000 // ifi_family AF_UNSPEC, pad, ifi_type
            00000000 // ifi_index 0: a new link
            01000000 // ifi_flags IFF_UP
            01000000 // ifi_change IFF_UP
            08000300 62723000 // IFLA_IFNAME "br0\\0"
            08000400 28230000 // IFLA_MTU 9000
            0a000100 020000000001 0000 // IFLA_ADDRESS 02:00:00:00:00:01, padded
            10001280 // IFLA_LINKINFO (NLA_F_NESTED), 16 bytes
              0b000100 62726964 676500 00 // IFLA_INFO_KIND "bridge\\0", padded
            """)))
    }

    @Test func createVethWithPeerInANamespaceByDescriptor() throws {
        let namespace = try NetNamespace.current()
        let bytes = try onlyRequest {
            try $0.addLink(LinkSpec(name: InterfaceName("veth0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0"), namespace: namespace)), master: .index(7)))
        }
        #expect(hexString(bytes) == hexString(hex("""
            90000000 1000 0506 01000000 00000000 // len 144, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg: new link, flags untouched
            0a000300 76657468 30000000 // IFLA_IFNAME "veth0\\0"
            08000a00 07000000          // IFLA_MASTER 7
            08001f00 01000000          // IFLA_NUM_TX_QUEUES 1
            08002000 01000000          // IFLA_NUM_RX_QUEUES 1
            4c001280                   // IFLA_LINKINFO, nested, 76 bytes
              09000100 76657468 00000000 // IFLA_INFO_KIND "veth\\0"
              3c000280                 // IFLA_INFO_DATA, nested
                38000180               // VETH_INFO_PEER, nested: an ifinfomsg, then attributes
                  00 00 0000 00000000 00000000 00000000 // the peer's ifinfomsg
                  09000300 65746830 00000000 // IFLA_IFNAME "eth0\\0"
                  08001c00             // IFLA_NET_NS_FD, then the descriptor,
            """) + le32(UInt32(namespace.descriptor)) + hex("""
                  08001f00 01000000    // IFLA_NUM_TX_QUEUES 1
                  08002000 01000000    // IFLA_NUM_RX_QUEUES 1
            """)))
    }

    @Test func createMacvlanOnAParentInPrivateMode() throws {
        let bytes = try onlyRequest { try $0.addLink(LinkSpec(name: InterfaceName("mv0"), kind: .macvlan(parent: .index(2), mode: .private))) }
        #expect(hexString(bytes) == hexString(hex("""
            4c000000 1000 0506 01000000 00000000 // len 76, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg
            08000300 6d763000          // IFLA_IFNAME "mv0\\0"
            08000500 02000000          // IFLA_LINK 2: the parent
            1c001280                   // IFLA_LINKINFO, nested
              0c000100 6d616376 6c616e00 // IFLA_INFO_KIND "macvlan\\0"
              0c000280                 // IFLA_INFO_DATA, nested
                08000100 01000000      // IFLA_MACVLAN_MODE MACVLAN_MODE_PRIVATE (1)
            """)))
    }

    @Test func createVXLANWithLocalRemoteUnderlayAndPort() throws {
        let options = VXLANOptions(vni: 42, local: IPAddress("192.0.2.1"), remote: IPAddress("192.0.2.2"), underlay: .index(3))
        let bytes = try onlyRequest { try $0.addLink(LinkSpec(name: InterfaceName("vx0"), kind: .vxlan(options))) }
        #expect(hexString(bytes) == hexString(hex("""
            64000000 1000 0506 01000000 00000000 // len 100, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg
            08000300 76783000          // IFLA_IFNAME "vx0\\0"
            3c001280                   // IFLA_LINKINFO, nested
              0a000100 76786c61 6e000000 // IFLA_INFO_KIND "vxlan\\0"
              2c000280                 // IFLA_INFO_DATA, nested
                08000100 2a000000      // IFLA_VXLAN_ID 42
                08000200 c0000202      // IFLA_VXLAN_GROUP 192.0.2.2 (the unicast remote)
                08000400 c0000201      // IFLA_VXLAN_LOCAL 192.0.2.1
                08000300 03000000      // IFLA_VXLAN_LINK 3
                06000f00 12b50000      // IFLA_VXLAN_PORT 4789, network byte order, padded
            """)))
    }

    @Test func getLinkByNameSkipsStatistics() throws {
        let bytes = try onlyRequest { _ = try $0.link(named: InterfaceName("eth0")) }
        #expect(hexString(bytes) == hexString(hex("""
            34000000 1200 0500 01000000 00000000 // len 52, RTM_GETLINK, REQUEST|ACK, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg: index 0, look up by name
            09000300 65746830 00000000 // IFLA_IFNAME "eth0\\0"
            08001d00 08000000          // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
            """)))
    }

    @Test func dumpLinks() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.links()
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            28000000 1200 0103 01000000 00000000 // len 40, RTM_GETLINK, REQUEST|DUMP (ROOT|MATCH), seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg
            08001d00 08000000          // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
            """)))
    }

    @Test func deleteLinkByName() throws {
        let bytes = try onlyRequest { try $0.deleteLink("eth0") }
        #expect(hexString(bytes) == hexString(hex("""
            2c000000 1100 0500 01000000 00000000 // len 44, RTM_DELLINK, REQUEST|ACK, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg
            09000300 65746830 00000000 // IFLA_IFNAME "eth0\\0"
            """)))
    }

    @Test func setUpAndDown() throws {
        let up = try onlyRequest { try $0.setLink(.index(5), up: true) }
        #expect(hexString(up) == hexString(hex("""
            20000000 1300 0500 01000000 00000000 // len 32, RTM_SETLINK, REQUEST|ACK, seq 1
            00 00 0000 05000000 // ifinfomsg: index 5
            01000000 01000000   // ifi_flags IFF_UP, ifi_change IFF_UP
            """)))
        let down = try onlyRequest { try $0.setLink("eth0", up: false) }
        #expect(hexString(down) == hexString(hex("""
            2c000000 1300 0500 01000000 00000000 // len 44, RTM_SETLINK, REQUEST|ACK, seq 1
            00 00 0000 00000000 // ifinfomsg: index 0, by name
            00000000 01000000   // ifi_flags 0, ifi_change IFF_UP: clear it
            09000300 65746830 00000000 // IFLA_IFNAME "eth0\\0"
            """)))
    }

    @Test func setMTUMACAndMaster() throws {
        let header = "1300 0500 01000000 00000000 00 00 0000 05000000 00000000 00000000" // RTM_SETLINK, index 5
        let mtu = try onlyRequest { try $0.setMTU(.index(5), 1400) }
        #expect(hexString(mtu) == hexString(hex("28000000 \(header) 08000400 78050000"))) // IFLA_MTU 1400
        let mac = try onlyRequest { try $0.setMAC(.index(5), try MACAddress(parsing: "02:42:ac:11:00:02")) }
        #expect(hexString(mac) == hexString(hex("2c000000 \(header) 0a000100 0242ac110002 0000"))) // IFLA_ADDRESS
        let master = try onlyRequest { try $0.setMaster(.index(5), .index(7)) }
        #expect(hexString(master) == hexString(hex("28000000 \(header) 08000a00 07000000"))) // IFLA_MASTER 7
        let noMaster = try onlyRequest { try $0.setMaster(.index(5), nil) }
        #expect(hexString(noMaster) == hexString(hex("28000000 \(header) 08000a00 00000000"))) // IFLA_MASTER 0: release
        let rename = try onlyRequest { try $0.renameLink(.index(5), to: InterfaceName("eth1")) }
        #expect(hexString(rename) == hexString(hex("2c000000 \(header) 09000300 65746831 00000000"))) // IFLA_IFNAME "eth1"
    }

    @Test func moveToANamespaceByDescriptor() throws {
        let namespace = try NetNamespace.current()
        let bytes = try onlyRequest { try $0.moveLink(.index(5), to: namespace) }
        #expect(hexString(bytes) == hexString(hex("""
            28000000 1300 0500 01000000 00000000 // len 40, RTM_SETLINK, REQUEST|ACK, seq 1
            00 00 0000 05000000 00000000 00000000 // ifinfomsg: index 5
            08001c00 // IFLA_NET_NS_FD, then the descriptor:
            """) + le32(UInt32(namespace.descriptor))))
    }
}

@Suite struct BridgePortRequestTests {
    @Test func hairpinIsAnAFBridgeSetLinkWithProtinfo() throws {
        let bytes = try onlyRequest { try $0.setHairpin(.index(5), true) }
        #expect(hexString(bytes) == hexString(hex("""
            2c000000 1300 0500 01000000 00000000 // len 44, RTM_SETLINK, REQUEST|ACK, seq 1
            07 00 0000 05000000 00000000 00000000 // ifinfomsg: AF_BRIDGE, index 5
            0c000c80          // IFLA_PROTINFO, nested
              05000400 01000000 // IFLA_BRPORT_MODE 1 (hairpin on), padded
            """)))
    }

    @Test func promiscuousModeChangesOnlyThatFlag() throws {
        let bytes = try onlyRequest { try $0.setPromiscuous(.index(5), true) }
        #expect(hexString(bytes) == hexString(hex("""
            20000000 1300 0500 01000000 00000000 // len 32, RTM_SETLINK, REQUEST|ACK, seq 1
            00 00 0000 05000000 // ifinfomsg: index 5
            00010000 00010000   // ifi_flags IFF_PROMISC, ifi_change IFF_PROMISC
            """)))
    }
}
