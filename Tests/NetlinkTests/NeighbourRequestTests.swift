import NetCore
import Testing
@testable import Netlink

/// The exact bytes of the requests an overlay sends per remote host (neighbour, forwarding
/// entry, onlink route) and of its vxlan, and the reading of their dumps. `struct ndmsg`:
/// family u8, pad u8, pad u16, ifindex i32, state u16, flags u8, type u8.
@Suite struct NeighbourRequestTests {
    static let peerMAC = MACAddress("02:aa:bb:cc:dd:02") ?? .zero

    static func address(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "address") }

    @Test func replaceIPv4NeighbourIsPermanentWithDestinationThenMAC() throws {
        let neighbour = Neighbour(device: .index(5), address: try Self.address("10.200.2.0"), mac: Self.peerMAC)
        let bytes = try onlyRequest { try $0.replaceNeighbour(neighbour) }
        #expect(hexString(bytes) == hexString(hex("""
            30000000 1c00 0505 01000000 00000000 // len 48, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE, seq 1
            02 00 0000 05000000  // AF_INET, index 5
            8000 00 00           // NUD_PERMANENT, no NTF_* flags, type 0
            08000100 0ac80200    // NDA_DST 10.200.2.0
            0a000200 02aabbccdd02 0000 // NDA_LLADDR, padded
            """)))
    }

    @Test func replaceIPv6NeighbourUsesItsFamily() throws {
        let neighbour = Neighbour(device: .index(5), address: try Self.address("fd00:200:2::"), mac: Self.peerMAC)
        let bytes = try onlyRequest { try $0.replaceNeighbour(neighbour) }
        #expect(hexString(bytes) == hexString(hex("""
            3c000000 1c00 0505 01000000 00000000 // len 60, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE, seq 1
            0a 00 0000 05000000 8000 00 00 // AF_INET6, index 5, NUD_PERMANENT
            14000100 fd000200 00020000 00000000 00000000 // NDA_DST fd00:200:2::
            0a000200 02aabbccdd02 0000 // NDA_LLADDR
            """)))
    }

    @Test func deleteNeighbourNamesOnlyTheAddress() throws {
        let neighbour = Neighbour(device: .index(5), address: try Self.address("10.200.2.0"), mac: Self.peerMAC)
        let bytes = try onlyRequest { try $0.deleteNeighbour(neighbour) }
        #expect(hexString(bytes) == hexString(hex("""
            24000000 1d00 0500 01000000 00000000 // len 36, RTM_DELNEIGH, REQUEST|ACK, seq 1
            02 00 0000 05000000 0000 00 00 // AF_INET, index 5, any state
            08000100 0ac80200    // NDA_DST 10.200.2.0
            """)))
    }

    /// What `bridge fdb replace 02:aa:bb:cc:dd:02 dev vx0 dst 10.99.0.2 self permanent` sends.
    @Test func replaceFDBEntryIsWhatBridgeFdbReplaceSends() throws {
        let entry = FDBEntry(device: .index(5), mac: Self.peerMAC, destination: try Self.address("10.99.0.2"))
        let bytes = try onlyRequest { try $0.replaceFDBEntry(entry) }
        #expect(hexString(bytes) == hexString(hex("""
            30000000 1c00 0505 01000000 00000000 // len 48, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE, seq 1
            07 00 0000 05000000  // AF_BRIDGE, index 5
            c000 02 00           // NUD_NOARP|NUD_PERMANENT, NTF_SELF, type 0
            0a000200 02aabbccdd02 0000 // NDA_LLADDR, padded
            08000100 0a630002    // NDA_DST 10.99.0.2: the remote tunnel endpoint
            """)))
    }

    @Test func deleteFDBEntryNamesTheMACAndItsDestination() throws {
        let entry = FDBEntry(device: .index(5), mac: Self.peerMAC, destination: try Self.address("10.99.0.2"))
        let bytes = try onlyRequest { try $0.deleteFDBEntry(entry) }
        #expect(hexString(bytes) == hexString(hex("""
            30000000 1d00 0500 01000000 00000000 // len 48, RTM_DELNEIGH, REQUEST|ACK, seq 1
            07 00 0000 05000000 c000 02 00 // AF_BRIDGE, index 5, NUD_NOARP|NUD_PERMANENT, NTF_SELF
            0a000200 02aabbccdd02 0000 // NDA_LLADDR
            08000100 0a630002    // NDA_DST 10.99.0.2
            """)))
    }

    @Test func neighbourDumpOfOneLinkFiltersByAttribute() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.neighbours(of: .index(5), family: .v4)
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            24000000 1e00 0103 01000000 00000000 // len 36, RTM_GETNEIGH, REQUEST|DUMP, seq 1
            02 00 0000 00000000 0000 00 00 // AF_INET; the header's index must stay 0
            08000800 05000000    // NDA_IFINDEX 5
            """)))
    }

    @Test func fdbDumpFiltersByTheHeadersIndex() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.fdbEntries(of: .index(5))
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            1c000000 1e00 0103 01000000 00000000 // len 28, RTM_GETNEIGH, REQUEST|DUMP, seq 1
            07 00 0000 05000000 0000 00 00 // AF_BRIDGE, index 5: the bridge port filter
            """)))
    }

    /// What `ip route replace 10.200.2.0/24 via 10.200.2.0 dev vx0 onlink` sends (with the table
    /// as an attribute, as every route request here).
    @Test func replaceOnlinkRouteSetsRTNHFOnlink() throws {
        let route = Route(destination: try CIDR(parsing: "10.200.2.0/24"), gateway: try Self.address("10.200.2.0"),
                          device: .index(5), onlink: true)
        let bytes = try onlyRequest { try $0.replaceRoute(route) }
        #expect(hexString(bytes) == hexString(hex("""
            3c000000 1800 0505 01000000 00000000 // len 60, RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE, seq 1
            02 18 00 00          // AF_INET, /24
            fe 03 00 01          // RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST
            04000000             // rtm_flags RTNH_F_ONLINK
            08000100 0ac80200    // RTA_DST 10.200.2.0
            08000500 0ac80200    // RTA_GATEWAY 10.200.2.0
            08000400 05000000    // RTA_OIF 5
            08000f00 fe000000    // RTA_TABLE 254
            """)))
    }

    @Test func overlayVXLANHasNoLearningAndItsMACAndMTU() throws {
        let options = VXLANOptions(vni: 42, local: try Self.address("10.99.0.1"), underlay: .index(3), learning: false)
        let spec = LinkSpec(name: try InterfaceName("vx0"), kind: .vxlan(options), mtu: 1450,
                            mac: try MACAddress(parsing: "02:0e:00:00:00:01"))
        let bytes = try onlyRequest { try $0.addLink(spec) }
        #expect(hexString(bytes) == hexString(hex("""
            78000000 1000 0506 01000000 00000000 // len 120, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1
            00 00 0000 00000000 00000000 00000000 // ifinfomsg
            08000300 76783000          // IFLA_IFNAME "vx0\\0"
            08000400 aa050000          // IFLA_MTU 1450
            0a000100 020e00000001 0000 // IFLA_ADDRESS 02:0e:00:00:00:01
            3c001280                   // IFLA_LINKINFO, nested
              0a000100 76786c61 6e000000 // IFLA_INFO_KIND "vxlan\\0"
              2c000280                 // IFLA_INFO_DATA, nested
                08000100 2a000000      // IFLA_VXLAN_ID 42
                08000400 0a630001      // IFLA_VXLAN_LOCAL 10.99.0.1
                08000300 03000000      // IFLA_VXLAN_LINK 3
                06000f00 12b50000      // IFLA_VXLAN_PORT 4789, network byte order
                05000700 00000000      // IFLA_VXLAN_LEARNING 0, padded
            """)))
    }

    @Test func onlinkRouteWithoutItIsUnchanged() throws {
        let route = Route(destination: try CIDR(parsing: "10.200.2.0/24"), gateway: try Self.address("10.200.2.0"), device: .index(5))
        let added = try onlyRequest { try $0.addRoute(route) }
        #expect(added[24..<28] == [0, 0, 0, 0]) // rtm_flags: no RTNH_F_ONLINK
        #expect(route.description == "10.200.2.0/24 via 10.200.2.0 dev #5")
        var onlink = route
        onlink.onlink = true
        #expect(onlink.description == "10.200.2.0/24 via 10.200.2.0 dev #5 onlink")
    }
}

/// Canned neighbour, forwarding-entry, route and link dumps as the kernel sends them.
@Suite struct NeighbourReplyParsingTests {
    /// An `RTM_NEWNEIGH` dump part.
    func neighbourReply(family: UInt8, index: Int32, state: UInt16, flags: UInt8 = 0, _ attributes: [UInt8]...) -> [UInt8] {
        let header: [UInt8] = [family, 0, 0, 0] + le32(UInt32(bitPattern: index)) + le16(state) + [flags, 0]
        return message(type: 28, flags: 2, sequence: 1, payload: header + attributes.joined())
    }

    let mac: [UInt8] = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x02]

    @Test func neighboursAreReadAndThoseWithoutAMACOrOfAnotherLinkAreLeftOut() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(
            neighbourReply(family: 2, index: 5, state: 0x80, attribute(1, [10, 200, 2, 0]), attribute(2, mac))
                + neighbourReply(family: 2, index: 5, state: 0x01, attribute(1, [10, 200, 2, 9])) // incomplete: no MAC
                + neighbourReply(family: 10, index: 5, state: 0x02, attribute(1, [0xfd] + [UInt8](repeating: 0, count: 14) + [1]), attribute(2, mac))
                + neighbourReply(family: 2, index: 6, state: 0x80, attribute(1, [10, 200, 3, 0]), attribute(2, mac)) // another link
                + neighbourReply(family: 7, index: 5, state: 0xc0, flags: 2, attribute(2, mac), attribute(1, [10, 99, 0, 2])) // AF_BRIDGE
                + neighbourReply(family: 2, index: 5, state: 0x80, attribute(1, [10, 200, 4, 0]), attribute(2, [1, 2, 3])) // short MAC
                + done(sequence: 1))
        let neighbours = try socket.neighbours(of: .index(5))
        #expect(neighbours.map(\.address.description) == ["10.200.2.0", "fd00::1"])
        #expect(neighbours.first?.mac.description == "02:aa:bb:cc:dd:02")
        #expect(neighbours.first?.state == .permanent)
        #expect(neighbours.first?.device == .index(5))
        #expect(neighbours.last?.state == .reachable)
        #expect(NeighbourState([.noARP, .permanent]).description == "noarp|permanent")
    }

    @Test func fdbEntriesNeedADestinationAndTheDevice() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(
            neighbourReply(family: 7, index: 5, state: 0xc0, flags: 2, attribute(2, mac), attribute(1, [10, 99, 0, 2]))
                + neighbourReply(family: 7, index: 5, state: 0x80, flags: 2, attribute(2, [0x33, 0x33, 0, 0, 0, 1])) // no destination
                + neighbourReply(family: 7, index: 6, state: 0xc0, flags: 2, attribute(2, mac), attribute(1, [10, 99, 0, 3])) // another device
                + neighbourReply(family: 2, index: 5, state: 0x80, attribute(1, [10, 200, 2, 0]), attribute(2, mac)) // a neighbour
                + done(sequence: 1))
        let entries = try socket.fdbEntries(of: .index(5))
        #expect(entries == [FDBEntry(device: .index(5), mac: try MACAddress(bytes: mac), destination: try IPAddress(parsing: "10.99.0.2", field: "dst"))])
    }

    @Test func routeDumpReadsTheOnlinkFlag() throws {
        let (socket, wire) = fakeSocket()
        let onlink: [UInt8] = [2, 24, 0, 0, 254, 3, 0, 1] + le32(4) // RTNH_F_ONLINK
        let plain: [UInt8] = [2, 24, 0, 0, 254, 3, 253, 1] + le32(0)
        wire.queue(
            message(type: 24, flags: 2, sequence: 1, payload: onlink + attribute(15, le32(254)) + attribute(1, [10, 200, 2, 0])
                + attribute(5, [10, 200, 2, 0]) + attribute(4, le32(5)))
                + message(type: 24, flags: 2, sequence: 1, payload: plain + attribute(15, le32(254)) + attribute(1, [10, 99, 0, 0]) + attribute(4, le32(3)))
                + done(sequence: 1))
        let routes = try socket.routes(family: .v4)
        #expect(routes.map(\.onlink) == [true, false])
        #expect(routes.first?.gateway == IPAddress("10.200.2.0"))
    }

    @Test func vxlanSettingsAreReadBackFromTheLink() throws {
        let (socket, wire) = fakeSocket()
        var payload = [0, 0] + le16(1) + le32(9) + le32(0x1043) + le32(0)
        payload += attribute(3, Array("vx0".utf8) + [0])                      // IFLA_IFNAME
        payload += attribute(4, le32(1450))                                   // IFLA_MTU
        payload += attribute(1, [0x02, 0x0e, 0, 0, 0, 1])                     // IFLA_ADDRESS
        let data = attribute(1, le32(42)) + attribute(4, [10, 99, 0, 1]) + attribute(3, le32(3))
            + attribute(15, [0x12, 0xb5]) + attribute(7, [0])                 // ID, LOCAL, LINK, PORT, LEARNING
        payload += attribute(18, attribute(1, Array("vxlan".utf8) + [0]) + attribute(2, data)) // IFLA_LINKINFO
        wire.queue(message(type: 16, sequence: 1, payload: payload) + ack(sequence: 1))
        let link = try #require(try socket.link(named: InterfaceName("vx0")))
        #expect(link.mtu == 1450)
        #expect(link.mac?.description == "02:0e:00:00:00:01")
        #expect(link.vxlan == VXLANOptions(vni: 42, local: IPAddress("10.99.0.1"), port: 4789, underlay: .index(3), learning: false))
    }

    @Test func otherKindsHaveNoVXLANSettings() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(linkReply(index: 4, name: "eth0", sequence: 1, kind: "veth") + ack(sequence: 1))
        #expect(try socket.link(named: InterfaceName("eth0"))?.vxlan == nil)
    }

    @Test func deletingAMissingNeighbourOrForwardingEntryIsSuccess() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(2, sequence: 1), error(19, sequence: 2), error(2, sequence: 3)) // ENOENT, ENODEV, ENOENT
        let address = try IPAddress(parsing: "10.200.2.0", field: "dst")
        let mac = try MACAddress(bytes: mac)
        try socket.deleteNeighbour(Neighbour(device: .index(5), address: address, mac: mac))
        try socket.deleteNeighbour(Neighbour(device: .index(5), address: address, mac: mac))
        try socket.deleteFDBEntry(FDBEntry(device: .index(5), mac: mac, destination: try IPAddress(parsing: "10.99.0.2", field: "dst")))
        #expect(wire.sent.count == 3)
    }

    @Test func deletingOnAMissingDeviceSendsNoDeletion() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(19, sequence: 1), error(19, sequence: 2)) // both lookups: ENODEV
        let mac = try MACAddress(bytes: mac)
        try socket.deleteNeighbour(Neighbour(device: "gone0", address: try IPAddress(parsing: "10.200.2.0", field: "dst"), mac: mac))
        try socket.deleteFDBEntry(FDBEntry(device: "gone0", mac: mac, destination: try IPAddress(parsing: "10.99.0.2", field: "dst")))
        #expect(wire.sent.count == 2)
        #expect(wire.sent.allSatisfy { $0[4] == 18 }) // RTM_GETLINK only
    }

    @Test func refusalsKeepTheirErrnoAndNameTheEntry() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(19, sequence: 1), error(95, sequence: 2, kernelMessage: "no FDB")) // ENODEV, EOPNOTSUPP
        let mac = try MACAddress(bytes: mac)
        #expect {
            try socket.replaceNeighbour(Neighbour(device: .index(5), address: try IPAddress(parsing: "10.200.2.0", field: "dst"), mac: mac))
        } throws: { error in
            (error as? NetworkError)?.code == .notFound && "\(error)".contains("10.200.2.0") && Errno.noSuchDevice ~= error
        }
        #expect {
            try socket.replaceFDBEntry(FDBEntry(device: .index(5), mac: mac, destination: try IPAddress(parsing: "10.99.0.2", field: "dst")))
        } throws: { error in
            (error as? NetworkError)?.code == .unsupported && "\(error)".contains("10.99.0.2") && "\(error)".contains("no FDB")
        }
    }
}
