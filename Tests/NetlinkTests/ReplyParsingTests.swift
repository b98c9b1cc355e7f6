import NetCore
import Testing
@testable import Netlink

/// Canned kernel replies: multi-part dumps, interrupted dumps, errors with extended ACK,
/// stale messages, and the errors that operations turn into success.
@Suite struct ReplyParsingTests {
    @Test func multipartDumpAcrossDatagramsIsGatheredUntilDone() throws {
        let (socket, wire) = fakeSocket()
        let multi: UInt16 = 2 // NLM_F_MULTI
        wire.queue(
            linkReply(index: 1, name: "lo", sequence: 1, flags: multi) + linkReply(index: 2, name: "br0", sequence: 1, flags: multi, kind: "bridge"),
            linkReply(index: 3, name: "veth0", sequence: 1, flags: multi, mtu: 9000, kind: "veth") + done(sequence: 1))
        let links = try socket.links()
        #expect(links.map(\.name) == ["lo", "br0", "veth0"])
        #expect(links.map(\.index) == [1, 2, 3])
        #expect(links[1].kind == "bridge")
        #expect(links[2].mtu == 9000)
        #expect(links[2].mac?.description == "02:00:00:00:00:03")
        #expect(links[0].isUp)
    }

    @Test func interruptedDumpIsRetriedAndOnlyTheCleanAttemptCounts() throws {
        let (socket, wire) = fakeSocket()
        let interrupted: UInt16 = 2 | 0x10 // NLM_F_MULTI | NLM_F_DUMP_INTR
        wire.queue(
            linkReply(index: 1, name: "stale", sequence: 1, flags: interrupted) + done(sequence: 1),
            linkReply(index: 1, name: "lo", sequence: 2, flags: 2) + done(sequence: 2))
        let links = try socket.links()
        #expect(wire.sent.count == 2)
        #expect(links.map(\.name) == ["lo"])
    }

    @Test func dumpThatNeverSettlesFailsWithEINTR() throws {
        let (socket, wire) = fakeSocket()
        for attempt in 1...UInt32(RouteSocket.dumpAttempts) {
            wire.queue(linkReply(index: 1, name: "lo", sequence: attempt, flags: 0x12) + done(sequence: attempt))
        }
        #expect { try socket.links() } throws: { Errno.interrupted ~= $0 }
        #expect(wire.sent.count == RouteSocket.dumpAttempts)
    }

    @Test func errorKeepsErrnoAndExtendedAckMessage() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(95, sequence: 1, kernelMessage: "Unknown device type")) // EOPNOTSUPP
        do {
            try socket.addLink(LinkSpec(name: InterfaceName("x0"), kind: .bridge))
            Issue.record("expected an error")
        } catch let error as NetworkError {
            #expect(error.code == .unsupported)
            let cause = try #require(error.cause as? NetlinkError)
            #expect(cause.errno == .notSupported)
            #expect(cause.kernelMessage == "Unknown device type")
            #expect("\(error)".contains("Unknown device type"))
            #expect(Errno.notSupported ~= error)
        }
    }

    @Test func uncappedErrorFindsTheMessageAfterTheEchoedRequest() throws {
        // Without NETLINK_CAP_ACK the kernel echoes the whole request before the attributes.
        var collector = ReplyCollector(sequence: 9, portID: Wire.portID, operation: "test")
        let request = message(type: 16, sequence: 9, port: 0, payload: [UInt8](repeating: 0xAB, count: 20))
        let payload = le32(UInt32(bitPattern: -17)) + request + attribute(1, Array("exists".utf8) + [0])
        let datagram = message(type: 2, flags: 0x200, sequence: 9, payload: payload)
        #expect {
            try collector.consume(datagram[...])
        } throws: { error in
            (error as? NetlinkError)?.kernelMessage == "exists" && Errno.fileExists ~= error
        }
    }

    @Test func staleMessagesWithAnotherSequenceAreSkipped() throws {
        var collector = ReplyCollector(sequence: 5, portID: Wire.portID, operation: "test")
        try collector.consume((linkReply(index: 9, name: "old", sequence: 4) + error(19, sequence: 4))[...])
        #expect(!collector.isComplete)
        #expect(collector.messages.isEmpty)
        try collector.consume((linkReply(index: 1, name: "lo", sequence: 5) + ack(sequence: 5))[...])
        #expect(collector.isComplete)
        #expect(collector.messages.compactMap(Link.init).map(\.name) == ["lo"])
    }

    @Test func messagesForAnotherPortAreSkipped() throws {
        var collector = ReplyCollector(sequence: 5, portID: Wire.portID, operation: "test")
        try collector.consume(ack(sequence: 5).withPort(Wire.portID + 1)[...])
        #expect(!collector.isComplete)
    }

    @Test func truncatedMessageIsAProtocolError() throws {
        var collector = ReplyCollector(sequence: 1, portID: Wire.portID, operation: "test")
        var datagram = ack(sequence: 1)
        datagram[0] = 200 // claims more bytes than arrived
        #expect { try collector.consume(datagram[...]) } throws: { Errno.protocolError ~= $0 }
    }

    @Test func doneWithANegativeStatusFailsTheDump() throws {
        var collector = ReplyCollector(sequence: 1, portID: Wire.portID, operation: "test")
        let datagram = message(type: 3, flags: 2, sequence: 1, payload: le32(UInt32(bitPattern: -16)))
        #expect { try collector.consume(datagram[...]) } throws: { Errno.resourceBusy ~= $0 }
    }

    @Test func getLinkReplyIsParsedAndMissingLinkIsNil() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(linkReply(index: 4, name: "eth0", sequence: 1, mtu: 1450, kind: "veth") + ack(sequence: 1))
        let link = try #require(try socket.link(named: InterfaceName("eth0")))
        #expect(link.index == 4 && link.mtu == 1450 && link.kind == "veth")
        wire.queue(error(19, sequence: 2)) // ENODEV
        #expect(try socket.link(named: InterfaceName("gone")) == nil)
    }

    @Test func deletingAMissingLinkIsSuccess() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(19, sequence: 1)) // ENODEV
        try socket.deleteLink("gone0")
    }

    @Test func deletingAMissingAddressOrRouteIsSuccess() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(99, sequence: 1), error(3, sequence: 2)) // EADDRNOTAVAIL, ESRCH
        try socket.deleteAddress(try CIDR(parsing: "10.0.0.1/24"), from: .index(3))
        try socket.deleteRoute(Route(destination: try CIDR(parsing: "10.0.0.0/24"), device: .index(3)))
    }

    @Test func existingNameIsAlreadyExistsNamingBothVethEnds() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(17, sequence: 1)) // EEXIST
        #expect {
            try socket.addLink(LinkSpec(name: InterfaceName("veth0"), kind: .veth(peer: VethPeer(name: InterfaceName("eth0")))))
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == .alreadyExists && error.message.contains("veth0") && error.message.contains("eth0")
                && Errno.fileExists ~= error
        }
    }

    @Test func missingParentIsNotFoundNamingIt() throws {
        let (socket, wire) = fakeSocket()
        wire.queue(error(19, sequence: 1)) // the lookup of the parent: ENODEV
        #expect {
            try socket.addLink(LinkSpec(name: InterfaceName("mv0"), kind: .macvlan(parent: "nosuch0", mode: .bridge)))
        } throws: { error in
            (error as? NetworkError)?.code == .notFound && "\(error)".contains("nosuch0")
        }
        #expect(wire.sent.count == 1) // no RTM_NEWLINK was sent
    }

    @Test func addressReplyIsParsed() throws {
        let (socket, wire) = fakeSocket()
        let header: [UInt8] = [2, 24, 0x80, 0] + le32(7) // AF_INET /24 IFA_F_PERMANENT, index 7
        let payload = header + attribute(1, [10, 0, 0, 2]) + attribute(2, [10, 0, 0, 2])
        wire.queue(message(type: 20, flags: 2, sequence: 1, payload: payload) + done(sequence: 1))
        let addresses = try socket.addresses()
        #expect(addresses.map(\.address.description) == ["10.0.0.2/24"])
        #expect(addresses.first?.interfaceIndex == 7)
    }

    @Test func routeReplyIsParsedAndNonUnicastIsDropped() throws {
        let (socket, wire) = fakeSocket()
        let unicast: [UInt8] = [2, 0, 0, 0, 254, 3, 0, 1] + le32(0)
        let local: [UInt8] = [2, 32, 0, 0, 255, 2, 254, 2] + le32(0) // RTN_LOCAL in the local table
        wire.queue(
            message(type: 24, flags: 2, sequence: 1, payload: unicast + attribute(15, le32(254)) + attribute(5, [10, 0, 0, 1]) + attribute(4, le32(7)))
                + message(type: 24, flags: 2, sequence: 1, payload: local + attribute(15, le32(255)) + attribute(1, [10, 0, 0, 2]))
                + done(sequence: 1))
        let routes = try socket.routes(family: .v4)
        #expect(routes.count == 1)
        #expect(routes.first?.isDefault == true)
        #expect(routes.first?.gateway == IPAddress("10.0.0.1"))
        #expect(routes.first?.device == .index(7))
    }
}

extension Array where Element == UInt8 {
    /// The same message with `nlmsg_pid` replaced.
    func withPort(_ port: UInt32) -> [UInt8] {
        var copy = self
        copy.replaceSubrange(12..<16, with: le32(port))
        return copy
    }
}
