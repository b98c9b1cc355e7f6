import Foundation
import NetCore
import Testing
@testable import PortProxy
@testable import ProxyClient

/// The built proxy relaying TCP between loopback sockets of this test process.
@Suite(.enabled(if: proxyExecutable != nil, "netctl-proxy is not built next to the test bundle"))
struct TCPForwardingTests {
    @Test func bulkDataCrossesByteExactInBothDirections() throws {
        let server = try TCPTestServer(.echo)
        let port = try freePort()
        let pid = try startProxy([rule(.tcp, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let client = try TestSocket.connected(to: loopback4, port: port)
        let sent = pattern(count: 6 << 20, seed: 7)
        let sending = inBackground {
            try? client.sendAll(sent)
            client.shutdownWrite()
        }
        let received = try client.receiveAll()
        sending.wait()
        #expect(received.count == sent.count)
        #expect(received == sent)
    }

    @Test func manyConnectionsAreServedAtOnce() throws {
        let server = try TCPTestServer(.echo)
        let port = try freePort()
        let pid = try startProxy([rule(.tcp, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let clients = try (0..<100).map { _ in try TestSocket.connected(to: loopback4, port: port) }
        for (index, client) in clients.enumerated() {
            try client.sendAll(pattern(count: 2048, seed: UInt64(index)))
        }
        for (index, client) in clients.enumerated() {
            #expect(try client.receive(exactly: 2048) == pattern(count: 2048, seed: UInt64(index)))
        }
    }

    @Test func aHalfClosedClientStillGetsTheWholeReply() throws {
        let server = try TCPTestServer(.countThenReply)
        let port = try freePort()
        let pid = try startProxy([rule(.tcp, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let client = try TestSocket.connected(to: loopback4, port: port)
        try client.sendAll(pattern(count: 300_000, seed: 3))
        client.shutdownWrite()
        // The server replies only after it saw end of stream, which the proxy must pass on
        // while keeping the other direction open.
        #expect(String(decoding: try client.receiveAll(), as: UTF8.self) == "received 300000 bytes")
    }

    @Test func aClientIsClosedPromptlyWhenTheTargetIsDown() throws {
        let deadPort = try freePort()
        let port = try freePort()
        let pid = try startProxy([rule(.tcp, port, deadPort)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let client = try TestSocket.connected(to: loopback4, port: port)
        client.setTimeout(seconds: 2)
        let end = client.drainToEnd()
        #expect(end == .endOfStream || end == .reset, "the proxy kept the client open")
    }

    @Test(.enabled(if: hasIPv6Loopback, "::1 is not available here"))
    func anIPv6ListenerReachesAnIPv4Target() throws {
        let server = try TCPTestServer(.echo)
        let port = try freePort(family: .v6)
        let pid = try startProxy([rule(.tcp, listen: loopback6, port, server.port)])
        defer { try? ProxyProcess.stop(pid: pid) }

        let client = try TestSocket.connected(to: loopback6, port: port)
        try client.sendAll(Array("over six, back over four".utf8))
        client.shutdownWrite()
        #expect(String(decoding: try client.receiveAll(), as: UTF8.self) == "over six, back over four")
    }

    @Test func oneProcessServesEveryPortOfARange() throws {
        let targetBase = try freeConsecutivePorts(2)
        let servers = try [TCPTestServer(.echo, port: targetBase), TCPTestServer(.echo, port: targetBase + 1)]
        let listenBase = try freeConsecutivePorts(2)
        let mapping = try PortMapping(hostIP: loopback4, hostPorts: listenBase...(listenBase + 1),
                                      containerPorts: targetBase...(targetBase + 1))
        let rules = try ForwardRule.rules(for: mapping, containerAddress: loopback4)
        let pid = try startProxy(rules)
        defer { try? ProxyProcess.stop(pid: pid) }

        for (offset, server) in servers.enumerated() {
            let client = try TestSocket.connected(to: loopback4, port: listenBase + UInt16(offset))
            try client.sendAll(Array("port \(server.port)".utf8))
            client.shutdownWrite()
            #expect(String(decoding: try client.receiveAll(), as: UTF8.self) == "port \(server.port)")
        }
        // Both listeners belong to the one process, which holds nothing else once the
        // connections are closed.
        #expect(settledSocketCount(pid, expected: 2) == 2)
    }
}
