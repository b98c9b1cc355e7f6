#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPortProxy
import NetCore

extension ProxyServer {
    /// Batches handled per wake-up of one socket, so one busy port does not starve the others.
    static let batchesPerWake = 4

    /// Forwards datagrams from clients, opening a flow for each new client (and, on a wildcard
    /// listener, each local address a client sends to). A run of datagrams of one flow goes to
    /// it in one `sendmmsg`.
    func receiveFromClients(on listener: UDPListener) {
        let local = listener.answersFromLocalAddress
        for _ in 0..<Self.batchesPerWake {
            let count = datagrams.receive(from: listener.descriptor, withAddresses: true, withLocalAddresses: local)
            guard count > 0 else { return }
            let now = monotonicNow()
            var start = 0
            while start < count {
                let client = datagrams.sender(start)
                let localAddress = local ? datagrams.localAddress(start) : nil
                let key = FlowKey(client, local: localAddress)
                var end = start + 1
                while end < count && datagrams.flowKey(end, withLocalAddress: local) == key { end += 1 }
                if let flow = listener.flows[key]
                    ?? openFlow(for: client, localAddress: localAddress, key: key, on: listener, now: now) {
                    flow.lastActivity = now
                    datagrams.send(start..<end, to: flow.descriptor)
                }
                start = end
            }
            if count < datagrams.capacity { return }
        }
    }

    /// A socket connected to the target for a new client, or `nil` when the flow table is full
    /// or no socket can be made; the datagrams are then dropped.
    private func openFlow(for client: SocketAddress, localAddress: SocketAddress?, key: FlowKey,
                          on listener: UDPListener, now: UInt64) -> UDPFlow? {
        guard listener.flows.count < configuration.maxUDPFlows else { return nil }
        guard let fd = try? Socket.make(family: listener.target.family, type: Int32(SOCK_DGRAM.rawValue),
                                        subject: listener.rule.description) else { return nil }
        let connected = listener.target.withSockaddr { connect(fd, $0, $1) }
        let flow = UDPFlow(descriptor: fd, key: key, client: client, localAddress: localAddress,
                           listener: listener, now: now)
        guard connected == 0, (try? register(fd, .udpFlow(flow), interest: .readable)) != nil else {
            close(fd)
            return nil
        }
        listener.flows[key] = flow
        if flowCount == 0 { nextSweep = now + sweepInterval }
        flowCount += 1
        return flow
    }

    /// Sends the target's replies back to the flow's client from the listening socket, so the
    /// client sees them come from the address and port it sent to: on a wildcard listener the
    /// flow's local address is set as their source, rather than left to routing.
    func receiveReplies(on flow: UDPFlow) {
        for _ in 0..<Self.batchesPerWake {
            let count = datagrams.receive(from: flow.descriptor, withAddresses: false)
            guard count > 0 else { return }
            flow.lastActivity = monotonicNow()
            datagrams.send(0..<count, from: flow.listener.descriptor, to: flow.client, source: flow.localAddress)
            if count < datagrams.capacity { return }
        }
    }

    /// How often idle flows are looked for: often enough that a flow outlives its timeout by
    /// at most a quarter of it (and never more than a second).
    var sweepInterval: UInt64 {
        let quarter = configuration.udpIdleTimeout / 4
        let seconds = min(max(quarter, 0.01), 1)
        return UInt64(seconds * 1_000_000_000)
    }

    /// Closes every flow idle for the configured timeout.
    func expireFlows() {
        let now = monotonicNow()
        let timeout = UInt64(max(configuration.udpIdleTimeout, 0) * 1_000_000_000)
        for listener in udpListeners {
            for flow in listener.flows.values where now > flow.lastActivity && now - flow.lastActivity >= timeout {
                listener.flows[flow.key] = nil
                discard(flow.descriptor)
                flowCount -= 1
            }
        }
        nextSweep = now + sweepInterval
    }
}
