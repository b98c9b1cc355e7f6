import Foundation
import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

/// The built proxy relaying UDP between loopback sockets of this test process.
@Suite(.enabled(if: proxyExecutable != nil, "netctl-proxy is not built next to the test bundle"))
struct UDPForwardingTests {
    @Test func repliesGoBackToTheClientThatAsked() throws {
        let server = try UDPTestServer()
        let port = try freePort(SOCK_DGRAM)
        let pid = try startProxy([rule(.udp, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let first = try TestSocket(.v4, type: SOCK_DGRAM)
        let second = try TestSocket(.v4, type: SOCK_DGRAM)
        try first.sendDatagram("one", to: loopback4, port: port)
        try second.sendDatagram("two", to: loopback4, port: port)
        let firstReply = try #require(first.receiveDatagram())
        let secondReply = try #require(second.receiveDatagram())
        // Each reply comes from the port the client sent to, with the client's own text.
        #expect(firstReply.port == port && firstReply.text.hasSuffix("|one"))
        #expect(secondReply.port == port && secondReply.text.hasSuffix("|two"))
        // The target saw two different peers: one flow per client.
        #expect(firstReply.text.split(separator: "|").first != secondReply.text.split(separator: "|").first)

        // A second datagram from the first client reuses its flow.
        try first.sendDatagram("again", to: loopback4, port: port)
        let again = try #require(first.receiveDatagram())
        #expect(again.text.split(separator: "|").first == firstReply.text.split(separator: "|").first)
    }

    @Test func aBurstFromSeveralClientsReachesEachClientsOwnFlow() throws {
        let server = try UDPTestServer()
        let port = try freePort(SOCK_DGRAM)
        let pid = try startProxy([rule(.udp, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let clients = try (0..<3).map { _ in try TestSocket(.v4, type: SOCK_DGRAM) }
        // Interleaved, so one receive batch in the proxy holds runs from different clients.
        for round in 0..<20 {
            for (index, client) in clients.enumerated() {
                try client.sendDatagram("\(index)-\(round)", to: loopback4, port: port)
            }
        }
        for (index, client) in clients.enumerated() {
            var texts: [String] = []
            var peers = Set<Substring>()
            for _ in 0..<20 {
                guard let reply = client.receiveDatagram() else { break }
                let parts = reply.text.split(separator: "|")
                peers.insert(parts[0])
                texts.append(String(parts[1]))
            }
            #expect(texts == (0..<20).map { "\(index)-\($0)" })
            #expect(peers.count == 1, "one flow per client")
        }
    }

    @Test func anIdleFlowExpiresAndANewOneReplacesIt() throws {
        let server = try UDPTestServer()
        let port = try freePort(SOCK_DGRAM)
        let pid = try startProxy([rule(.udp, port, server.port)], configuration: ProxyConfiguration(udpIdleTimeout: 0.2))
        defer { try? ProxyProcess.stop(pid: pid) }
        #expect(settledSocketCount(pid, expected: 1) == 1)

        let client = try TestSocket(.v4, type: SOCK_DGRAM)
        try client.sendDatagram("before", to: loopback4, port: port)
        let before = try #require(client.receiveDatagram())
        #expect(socketCount(pid) == 2, "the listener and the flow's socket")

        usleep(400_000)
        #expect(settledSocketCount(pid, expected: 1) == 1, "the idle flow's socket is still open")
        try client.sendDatagram("after", to: loopback4, port: port)
        let after = try #require(client.receiveDatagram())
        #expect(after.text.hasSuffix("|after"))
        #expect(after.text.split(separator: "|").first != before.text.split(separator: "|").first)
    }

    @Test(.enabled(if: hasIPv6Loopback, "::1 is not available here"))
    func anIPv6ListenerReachesAnIPv4Target() throws {
        let server = try UDPTestServer()
        let port = try freePort(SOCK_DGRAM, family: .v6)
        let pid = try startProxy([rule(.udp, listen: loopback6, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let client = try TestSocket(.v6, type: SOCK_DGRAM)
        try client.sendDatagram("six to four", to: loopback6, port: port)
        let reply = try #require(client.receiveDatagram())
        #expect(reply.port == port && reply.text.hasSuffix("|six to four"))
    }
}
