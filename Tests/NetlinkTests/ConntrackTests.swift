import NetCore
import Testing
@testable import Netlink

/// Conntrack requests and replies over `NETLINK_NETFILTER`. `struct nfgenmsg`: family u8,
/// version u8, res_id be16.
@Suite struct ConntrackTests {
    func conntrackSocket() -> (ConntrackSocket, Wire) {
        let wire = Wire()
        return (ConntrackSocket(transport: FakeTransport(wire), firstSequence: 1), wire)
    }

    /// A flow as the kernel dumps it: CTA_TUPLE_ORIG { CTA_TUPLE_IP {…}, CTA_TUPLE_PROTO {…} }.
    func flowReply(sequence: UInt32, source: [UInt8], destination: [UInt8], proto: UInt8, sport: UInt16, dport: UInt16) -> [UInt8] {
        let ip = attribute(1, source) + attribute(2, destination)
        let ports = attribute(1, [proto]) + attribute(2, withUnsafeBytes(of: sport.bigEndian, Array.init))
            + attribute(3, withUnsafeBytes(of: dport.bigEndian, Array.init))
        let tuple = attribute(0x8001, ip) + attribute(0x8002, ports)
        return message(type: 0x0100, flags: 2, sequence: sequence, payload: [2, 0, 0, 0] + attribute(0x8001, tuple))
    }

    @Test func dumpRequestBytes() throws {
        let (socket, wire) = conntrackSocket()
        wire.queue(done(sequence: 1))
        _ = try socket.flows(family: .v4)
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            14000000 0101 0103 01000000 00000000 // len 20, CTNETLINK<<8 | IPCTNL_MSG_CT_GET, REQUEST|DUMP, seq 1
            02 00 0000 // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0
            """)))
    }

    @Test func deleteRequestBytes() throws {
        let (socket, wire) = conntrackSocket()
        let flow = ConntrackFlow(protocolNumber: 17, source: .v4(IPv4Address(10, 0, 0, 2)), destination: .v4(IPv4Address(10, 0, 0, 1)),
                                 sourcePort: 40000, destinationPort: 53)
        try socket.delete(flow)
        #expect(hexString(wire.sent.first ?? []) == hexString(hex("""
            48000000 0201 0500 01000000 00000000 // len 72, CTNETLINK<<8 | IPCTNL_MSG_CT_DELETE, REQUEST|ACK, seq 1
            02 00 0000           // nfgenmsg: AF_INET
            34000180             // CTA_TUPLE_ORIG, nested
              14000180           // CTA_TUPLE_IP, nested
                08000100 0a000002 // CTA_IP_V4_SRC 10.0.0.2
                08000200 0a000001 // CTA_IP_V4_DST 10.0.0.1
              1c000280           // CTA_TUPLE_PROTO, nested
                05000100 11000000 // CTA_PROTO_NUM 17 (udp), padded
                06000200 9c400000 // CTA_PROTO_SRC_PORT 40000, network order
                06000300 00350000 // CTA_PROTO_DST_PORT 53, network order
            """)))
    }

    @Test func deleteFlowsMatchingAFilterDeletesOnlyThose() throws {
        let (socket, wire) = conntrackSocket()
        wire.queue(
            flowReply(sequence: 1, source: [10, 0, 0, 2], destination: [10, 0, 0, 1], proto: 17, sport: 40000, dport: 8080)
                + flowReply(sequence: 1, source: [10, 0, 0, 3], destination: [10, 0, 0, 1], proto: 17, sport: 40001, dport: 9999)
                + flowReply(sequence: 1, source: [10, 0, 0, 4], destination: [10, 0, 0, 1], proto: 6, sport: 40002, dport: 8080)
                + done(sequence: 1))
        let filter = ConntrackFilter(transport: .udp, destinationPorts: 8080...8080, destination: IPAddress("10.0.0.1"))
        #expect(try socket.deleteFlows(matching: filter) == 1)
        #expect(wire.sent.count == 2) // the dump, then one delete
        #expect(sequence(of: wire.sent[1]) == 2)
    }

    @Test func deletingAFlowThatIsGoneIsSuccess() throws {
        let (socket, wire) = conntrackSocket()
        wire.queue(error(2, sequence: 1)) // ENOENT
        try socket.delete(ConntrackFlow(protocolNumber: 17, source: .v4(.loopback), destination: .v4(.loopback)))
    }
}
