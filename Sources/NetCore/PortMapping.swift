/// A transport protocol a port can be published for.
public enum TransportProtocol: String, Sendable, Hashable, CaseIterable, Codable {
    case tcp, udp, sctp

    /// Parses `tcp`, `udp` or `sctp` (any case).
    ///
    /// - Throws: ``NetworkError`` naming `field` and the value.
    public init(parsing text: String, field: String = "protocol") throws {
        guard let value = TransportProtocol(rawValue: text.lowercased()) else {
            throw NetworkError.invalid(field, text, "must be tcp, udp or sctp")
        }
        self = value
    }
}

/// One published port or port range: `-p [hostIP:]hostPort[-end]:containerPort[-end][/proto]`.
///
/// A range maps port by port (`8000-8010:80-90` sends 8003 to 83), so both ranges have the
/// same length.
public struct PortMapping: Sendable, Hashable, CustomStringConvertible {
    /// The host address to listen on; `nil` means every address of the host.
    public var hostIP: IPAddress?
    public var hostPorts: ClosedRange<UInt16>
    public var containerPorts: ClosedRange<UInt16>
    public var transport: TransportProtocol

    /// - Throws: ``NetworkError`` when the ranges differ in length or include port 0.
    public init(hostIP: IPAddress? = nil, hostPorts: ClosedRange<UInt16>, containerPorts: ClosedRange<UInt16>,
                transport: TransportProtocol = .tcp) throws {
        guard hostPorts.lowerBound > 0, containerPorts.lowerBound > 0 else {
            throw NetworkError.invalid("port", "0", "ports must be 1-65535")
        }
        guard hostPorts.count == containerPorts.count else {
            throw NetworkError.invalid(
                "port range", "\(Self.text(hostPorts)):\(Self.text(containerPorts))",
                "host and container ranges must have the same length")
        }
        self.hostIP = hostIP
        self.hostPorts = hostPorts
        self.containerPorts = containerPorts
        self.transport = transport
    }

    /// A single port.
    public init(hostIP: IPAddress? = nil, hostPort: UInt16, containerPort: UInt16, transport: TransportProtocol = .tcp) throws {
        try self.init(hostIP: hostIP, hostPorts: hostPort...hostPort, containerPorts: containerPort...containerPort, transport: transport)
    }

    /// Parses Docker's `-p` syntax: `8080:80`, `127.0.0.1:8080:80/udp`, `[::1]:8080:80`,
    /// `8000-8010:80-90/tcp`.
    ///
    /// - Throws: ``NetworkError`` naming the spec and what is wrong with it.
    public init(parsing spec: String) throws {
        var body = Substring(spec)
        var transport = TransportProtocol.tcp
        if let slash = body.lastIndex(of: "/") {
            transport = try TransportProtocol(parsing: String(body[body.index(after: slash)...]), field: "protocol in \"\(spec)\"")
            body = body[..<slash]
        }
        var hostIP: IPAddress?
        if body.hasPrefix("[") {
            // [IPv6]:host:container
            guard let close = body.firstIndex(of: "]"), body[body.index(after: close)...].hasPrefix(":"),
                  let address = IPAddress(body[body.index(after: body.startIndex)..<close]), address.family == .v6
            else { throw NetworkError.invalid("port spec", spec, "expected [IPv6]:HOSTPORT:CONTAINERPORT") }
            hostIP = address
            body = body[body.index(close, offsetBy: 2)...]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        let ports: (host: Substring, container: Substring)
        switch parts.count {
        case 2:
            ports = (parts[0], parts[1])
        case 3 where hostIP == nil:
            guard let address = IPAddress(parts[0]), address.family == .v4 else {
                throw NetworkError.invalid("host IP in \"\(spec)\"", String(parts[0]), "not an IPv4 address (write IPv6 as [ADDRESS])")
            }
            hostIP = address
            ports = (parts[1], parts[2])
        default:
            throw NetworkError.invalid("port spec", spec, "expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTOCOL]")
        }
        try self.init(hostIP: hostIP,
                      hostPorts: Self.range(ports.host, field: "host port", spec: spec),
                      containerPorts: Self.range(ports.container, field: "container port", spec: spec),
                      transport: transport)
    }

    /// `80` or `8000-8010`.
    private static func range(_ text: Substring, field: String, spec: String) throws -> ClosedRange<UInt16> {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        let numbers = bounds.compactMap { bound -> UInt16? in
            guard !bound.isEmpty, bound.count <= 5, bound.allSatisfy(\.isASCII), bound.allSatisfy(\.isNumber),
                  let value = UInt16(bound), value > 0 else { return nil }
            return value
        }
        guard (1...2).contains(bounds.count), numbers.count == bounds.count, let low = numbers.first, let high = numbers.last, low <= high else {
            throw NetworkError.invalid("\(field) in \"\(spec)\"", String(text), "must be a port 1-65535 or a range LOW-HIGH")
        }
        return low...high
    }

    private static func text(_ range: ClosedRange<UInt16>) -> String {
        range.count == 1 ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
    }

    /// Whether both would take a host port in common: one protocol, overlapping host ports,
    /// and host addresses that meet (no host IP is every address, `0.0.0.0` and `::` every
    /// one of their family).
    public func sharesAHostPort(with other: PortMapping) -> Bool {
        guard transport == other.transport, hostPorts.overlaps(other.hostPorts) else { return false }
        guard let mine = hostIP, let theirs = other.hostIP else { return true }
        return mine.family == theirs.family && (mine == theirs || mine.isUnspecified || theirs.isUnspecified)
    }

    /// The container port that `hostPort` (inside ``hostPorts``) maps to.
    public func containerPort(for hostPort: UInt16) -> UInt16 {
        containerPorts.lowerBound + (hostPort - hostPorts.lowerBound)
    }

    public var description: String {
        var text = ""
        switch hostIP {
        case .v6(let address): text = "[\(address)]:"
        case .v4(let address): text = "\(address):"
        case nil: break
        }
        return text + "\(Self.text(hostPorts)):\(Self.text(containerPorts))/\(transport.rawValue)"
    }
}
