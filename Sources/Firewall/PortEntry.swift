import NetCore

/// One host port of a published port, ready for the DNAT maps: a range `8000-8002:80-82`
/// becomes three entries, so a packet's lookup is one hash probe however many ports exist.
struct PortEntry: Sendable, Hashable {
    /// Which host addresses the port is published on.
    enum Scope: Sendable, Hashable {
        /// Every local address of the family (`0.0.0.0`, `::`, or no host IP).
        case anyAddress
        /// One host address.
        case hostAddress(IPAddress)
    }

    var scope: Scope
    var transport: TransportProtocol
    var hostPort: UInt16
    var containerAddress: IPAddress
    var containerPort: UInt16
    /// Also answer `127.0.0.0/8` for an any-address IPv4 entry (the network's localhost DNAT).
    var servesLoopback: Bool
    var owner: String

    var family: IPAddress.Family { containerAddress.family }

    /// What must be unique: one entry per (scope, protocol, host port) and family.
    struct Claim: Hashable {
        var family: IPAddress.Family
        var scope: Scope
        var transport: TransportProtocol
        var hostPort: UInt16
    }

    var claim: Claim { Claim(family: family, scope: scope, transport: transport, hostPort: hostPort) }

    /// `0.0.0.0:8080/tcp`, `[2001:db8::1]:53/udp`, for messages.
    var hostDescription: String {
        let address: String = switch scope {
        case .anyAddress: family == .v4 ? "0.0.0.0" : "[::]"
        case .hostAddress(.v6(let address)): "[\(address)]"
        case .hostAddress(let address): address.description
        }
        return "\(address):\(hostPort)/\(transport.rawValue)"
    }
}
