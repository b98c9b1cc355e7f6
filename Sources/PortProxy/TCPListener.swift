import NetCore
import ProxyClient
/// A listening TCP socket and where its connections go.
final class TCPListener {
    let descriptor: Int32
    let rule: ForwardRule
    /// The target as a socket address, built once rather than per connection.
    let target: SocketAddress

    init(descriptor: Int32, rule: ForwardRule) {
        self.descriptor = descriptor
        self.rule = rule
        target = SocketAddress(rule.targetAddress, port: rule.targetPort)
    }
}
