import NetCore
import ProxyClient
/// A bound UDP socket, its target, and the flows of the clients that sent to it.
///
/// Each client gets its own socket connected to the target, so the target sees one peer per
/// client and its replies can be told apart without parsing them.
final class UDPListener {
    let descriptor: Int32
    let rule: ForwardRule
    let target: SocketAddress
    /// Whether the listener is bound to the wildcard address, so datagrams arrive for any of
    /// the host's addresses: each one's local address is then received with it, and the
    /// replies leave from it. (Routing could pick another address of the host as the source,
    /// and a client drops a reply from an address it did not send to.)
    let answersFromLocalAddress: Bool
    var flows: [FlowKey: UDPFlow] = [:]

    init(descriptor: Int32, rule: ForwardRule) {
        self.descriptor = descriptor
        self.rule = rule
        target = SocketAddress(rule.targetAddress, port: rule.targetPort)
        answersFromLocalAddress = Socket.answersFromLocalAddress(rule)
    }
}
