import NetCore
import Testing
@testable import Netlink

/// The exact bytes of address and route requests. `struct ifaddrmsg`: family u8, prefixlen u8,
/// flags u8, scope u8, index u32. `struct rtmsg`: family, dst_len, src_len, tos, table,
/// protocol, scope, type (u8 each), flags u32.
@Suite struct AddressAndRouteRequestTests {
    @Test func addIPv4AddressWithBroadcast() throws {
        let bytes = try onlyRequest { try $0.addAddress(try CIDR(parsing: "10.1.2.3/24"), to: .index(5)) }
        #expect(hexString(bytes) == hexString(hex("""
            30000000 1400 0506 01000000 00000000 // len 48, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 1
            02 18 00 00 05000000 // AF_INET, /24, no flags, RT_SCOPE_UNIVERSE, index 5
            08000200 0a010203    // IFA_LOCAL 10.1.2.3
            08000100 0a010203    // IFA_ADDRESS 10.1.2.3
            08000400 0a0102ff    // IFA_BROADCAST 10.1.2.255
            """)))
    }

    @Test func addIPv6AddressWithoutDuplicateDetection() throws {
        let bytes = try onlyRequest {
            try $0.addAddress(try CIDR(parsing: "2001:db8::2/64"), to: .index(5), skipDuplicateDetection: true)
        }
        #expect(hexString(bytes) == hexString(hex("""
            34000000 1400 0506 01000000 00000000 // len 52, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 1
            0a 40 02 00 05000000 // AF_INET6, /64, IFA_F_NODAD, universe, index 5
            14000100 20010db8 00000000 00000000 00000002 // IFA_ADDRESS 2001:db8::2
            08000800 02000000    // IFA_FLAGS IFA_F_NODAD
            """)))
    }

    @Test func deleteAddress() throws {
        let bytes = try onlyRequest { try $0.deleteAddress(try CIDR(parsing: "10.1.2.3/24"), from: .index(5)) }
        #expect(hexString(bytes) == hexString(hex("""
            28000000 1500 0500 01000000 00000000 // len 40, RTM_DELADDR, REQUEST|ACK, seq 1
            02 18 00 00 05000000 // AF_INET, /24, index 5
            08000200 0a010203    // IFA_LOCAL 10.1.2.3
            08000100 0a010203    // IFA_ADDRESS 10.1.2.3
            """)))
    }

    @Test func dumpAddressesOfOneFamily() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.addresses(family: .v6)
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            18000000 1600 0103 01000000 00000000 // len 24, RTM_GETADDR, REQUEST|DUMP, seq 1
            0a 00 00 00 00000000 // AF_INET6
            """)))
    }

    @Test func addDefaultRouteViaGateway() throws {
        let bytes = try onlyRequest { try $0.addRoute(.defaultRoute(via: .v4(IPv4Address(10, 1, 2, 1)), device: .index(5))) }
        #expect(hexString(bytes) == hexString(hex("""
            34000000 1800 0506 01000000 00000000 // len 52, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 1
            02 00 00 00          // AF_INET, dst_len 0 (default), src_len 0, tos 0
            fe 03 00 01          // RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST
            00000000             // rtm_flags
            08000500 0a010201    // RTA_GATEWAY 10.1.2.1
            08000400 05000000    // RTA_OIF 5
            08000f00 fe000000    // RTA_TABLE 254
            """)))
    }

    @Test func addLinkScopeRouteWithMetricInATableAbove255() throws {
        let route = Route(destination: try CIDR(parsing: "10.9.0.0/16"), device: .index(5), metric: 100, table: 1000)
        let bytes = try onlyRequest { try $0.addRoute(route) }
        #expect(hexString(bytes) == hexString(hex("""
            3c000000 1800 0506 01000000 00000000 // len 60, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 1
            02 10 00 00          // AF_INET, /16
            00 03 fd 01          // RT_TABLE_UNSPEC (see RTA_TABLE), RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST
            00000000             // rtm_flags
            08000100 0a090000    // RTA_DST 10.9.0.0
            08000400 05000000    // RTA_OIF 5
            08000600 64000000    // RTA_PRIORITY 100
            08000f00 e8030000    // RTA_TABLE 1000
            """)))
    }

    @Test func deleteRouteMatchesAnyScope() throws {
        let route = Route(destination: try CIDR(parsing: "10.9.0.0/16"), device: .index(5), metric: 100, table: 1000)
        let bytes = try onlyRequest { try $0.deleteRoute(route) }
        #expect(hexString(bytes) == hexString(hex("""
            3c000000 1900 0500 01000000 00000000 // len 60, RTM_DELROUTE, REQUEST|ACK, seq 1
            02 10 00 00          // AF_INET, /16
            00 00 ff 00          // table in RTA_TABLE, protocol any, RT_SCOPE_NOWHERE, type any
            00000000
            08000100 0a090000    // RTA_DST 10.9.0.0
            08000400 05000000    // RTA_OIF 5
            08000600 64000000    // RTA_PRIORITY 100
            08000f00 e8030000    // RTA_TABLE 1000
            """)))
    }

    @Test func dumpRoutes() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.routes(family: .v4)
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            1c000000 1a00 0103 01000000 00000000 // len 28, RTM_GETROUTE, REQUEST|DUMP, seq 1
            02 00 00 00 00 00 00 00 00000000     // rtmsg: AF_INET
            """)))
    }

    @Test func gatewayOfTheOtherFamilyIsRefusedNamingIt() throws {
        let (socket, wire) = fakeSocket()
        let route = Route(destination: try CIDR(parsing: "10.0.0.0/8"), gateway: IPAddress("2001:db8::1"))
        #expect {
            try socket.addRoute(route)
        } throws: { error in
            "\(error)".contains("gateway") && "\(error)".contains("2001:db8::1")
        }
        #expect(wire.sent.isEmpty)
    }
}
