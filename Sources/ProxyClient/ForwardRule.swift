import NetCore

/// One port the proxy serves: connections or datagrams arriving at the listen address and port
/// are relayed to the target address and port, possibly of the other address family.
///
/// A port range is many rules, one per port, so every listener is a plain socket.
public struct ForwardRule: Hashable, Sendable, CustomStringConvertible {
    /// `tcp` or `udp`; the initializer refuses `sctp`, which only DNAT serves.
    public let transport: TransportProtocol
    public let listenAddress: IPAddress
    public let listenPort: UInt16
    public let targetAddress: IPAddress
    public let targetPort: UInt16

    /// - Throws: ``NetworkError`` (`unsupported`) for `sctp`, (`invalidArgument`) for port 0.
    public init(transport: TransportProtocol, listenAddress: IPAddress, listenPort: UInt16,
                targetAddress: IPAddress, targetPort: UInt16) throws {
        guard transport != .sctp else { throw Self.sctpUnsupported }
        guard listenPort > 0 else { throw NetworkError.invalid("listen port", "0", "must be 1-65535") }
        guard targetPort > 0 else { throw NetworkError.invalid("target port", "0", "must be 1-65535") }
        self.transport = transport
        self.listenAddress = listenAddress
        self.listenPort = listenPort
        self.targetAddress = targetAddress
        self.targetPort = targetPort
    }

    /// The rules that serve `mapping` for a container at `containerAddress`, one per port.
    ///
    /// - Parameters:
    ///   - mapping: a published port or range; host and container ranges pair up port by port.
    ///   - containerAddress: where the traffic goes; its family may differ from the listener's.
    ///   - listenAddress: where to listen; `nil` means the mapping's host IP, or when it has none,
    ///     every address of the container's family.
    /// - Throws: ``NetworkError`` (`unsupported`) for an `sctp` mapping: the proxy leaves those to DNAT.
    public static func rules(for mapping: PortMapping, containerAddress: IPAddress,
                             listenAddress: IPAddress? = nil) throws -> [ForwardRule] {
        let listen = listenAddress ?? mapping.hostIP ?? .unspecified(containerAddress.family)
        return try mapping.hostPorts.map { hostPort in
            try ForwardRule(transport: mapping.transport, listenAddress: listen, listenPort: hostPort,
                            targetAddress: containerAddress, targetPort: mapping.containerPort(for: hostPort))
        }
    }

    /// `127.0.0.1:8080/tcp`: how errors name the listener.
    public var listenDescription: String {
        "\(Self.endpoint(listenAddress, listenPort))/\(transport.rawValue)"
    }

    /// The command-line form, `tcp:127.0.0.1:8080=10.88.0.2:80` (IPv6 in brackets).
    public var description: String {
        "\(transport.rawValue):\(Self.endpoint(listenAddress, listenPort))=\(Self.endpoint(targetAddress, targetPort))"
    }

    package static func endpoint(_ address: IPAddress, _ port: some CustomStringConvertible) -> String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }

    package static let sctpUnsupported = NetworkError(
        code: .unsupported,
        message: "the userland proxy does not forward sctp; published sctp ports are served by DNAT only")
}
