#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import Namespaces
import NetCore

/// A tracked flow, by the tuple of its first packet.
public struct ConntrackFlow: Sendable, Hashable, CustomStringConvertible {
    /// The IP protocol number (`IPPROTO_*`).
    public var protocolNumber: UInt8
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    /// The conntrack zone; 0 unless a rule set one.
    public var zone: UInt16

    public init(protocolNumber: UInt8, source: IPAddress, destination: IPAddress,
                sourcePort: UInt16? = nil, destinationPort: UInt16? = nil, zone: UInt16 = 0) {
        self.protocolNumber = protocolNumber
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.zone = zone
    }

    public var description: String {
        "proto \(protocolNumber) \(source):\(sourcePort ?? 0) -> \(destination):\(destinationPort ?? 0)"
    }
}

/// Which flows to flush: those of one protocol to a port range, optionally to one address.
public struct ConntrackFilter: Sendable {
    public var transport: TransportProtocol
    public var destinationPorts: ClosedRange<UInt16>
    /// `nil` matches every destination address (of both families).
    public var destination: IPAddress?

    public init(transport: TransportProtocol, destinationPorts: ClosedRange<UInt16>, destination: IPAddress? = nil) {
        self.transport = transport
        self.destinationPorts = destinationPorts
        self.destination = destination
    }

    func matches(_ flow: ConntrackFlow) -> Bool {
        guard flow.protocolNumber == transport.ipProtocolNumber, let port = flow.destinationPort,
              destinationPorts.contains(port) else { return false }
        return destination == nil || destination == flow.destination
    }
}

extension TransportProtocol {
    /// `IPPROTO_TCP`, `IPPROTO_UDP` or `IPPROTO_SCTP`.
    public var ipProtocolNumber: UInt8 {
        switch self {
        case .tcp: UInt8(IPPROTO_TCP)
        case .udp: UInt8(IPPROTO_UDP)
        case .sctp: UInt8(IPPROTO_SCTP)
        }
    }
}

/// Lists and deletes conntrack entries over `NETLINK_NETFILTER`, so a changed port mapping
/// does not leave stale UDP flows that blackhole its traffic (no `conntrack` exec).
public final class ConntrackSocket: Sendable {
    private let channel: NetlinkChannel

    public init(transport: sending any NetlinkTransport, firstSequence: UInt32 = UInt32.random(in: 1...UInt32.max / 2)) {
        channel = NetlinkChannel(transport: transport, firstSequence: firstSequence)
    }

    /// Opens a socket in the calling thread's network namespace.
    public static func open() throws -> ConntrackSocket {
        ConntrackSocket(transport: try MnlTransport(protocol: .netfilter))
    }

    /// Opens a socket inside `namespace` for use from anywhere.
    public static func open(in namespace: NetNamespace) throws -> ConntrackSocket {
        let transport = try namespace.run { try MnlTransport(protocol: .netfilter) }
        return ConntrackSocket(transport: transport)
    }

    /// Every tracked flow of `family`.
    public func flows(family: IPAddress.Family) throws -> [ConntrackFlow] {
        try channel.dump(operation: "IPCTNL_MSG_CT_GET dump") {
            let message = MessageBuilder(type: .conntrackGet, flags: [.request, .dump])
            try message.append(Self.header(family))
            return message
        }.compactMap(ConntrackFlow.init)
    }

    /// Deletes one flow; a flow that is already gone is success.
    public func delete(_ flow: ConntrackFlow) throws {
        let message = MessageBuilder(type: .conntrackDelete, flags: [.request, .acknowledge])
        try message.append(Self.header(flow.source.family))
        try message.nest(ConntrackAttribute.originalTuple) {
            try message.nest(ConntrackAttribute.tupleIP) {
                let v4 = flow.source.family == .v4
                try message.put(v4 ? ConntrackAttribute.ipv4Source : ConntrackAttribute.ipv6Source, address: flow.source)
                try message.put(v4 ? ConntrackAttribute.ipv4Destination : ConntrackAttribute.ipv6Destination, address: flow.destination)
            }
            try message.nest(ConntrackAttribute.tupleProtocol) {
                try message.put(ConntrackAttribute.protocolNumber, flow.protocolNumber)
                if let port = flow.sourcePort { try message.put(ConntrackAttribute.sourcePort, port.bigEndian) }
                if let port = flow.destinationPort { try message.put(ConntrackAttribute.destinationPort, port.bigEndian) }
            }
        }
        if flow.zone != 0 { try message.put(ConntrackAttribute.zone, flow.zone.bigEndian) }
        do {
            _ = try channel.request(message, operation: "IPCTNL_MSG_CT_DELETE \(flow)")
        } catch Errno.noSuchFileOrDirectory {
            return
        }
    }

    /// Deletes every flow `filter` matches.
    ///
    /// - Returns: how many flows were deleted.
    @discardableResult
    public func deleteFlows(matching filter: ConntrackFilter) throws -> Int {
        try deleteFlows(matchingAny: [filter])
    }

    /// Deletes every flow that matches one of `filters`, with one dump per address family
    /// however many filters there are, and returns how many it deleted.
    public func deleteFlows(matchingAny filters: [ConntrackFilter]) throws -> Int {
        let families = Set(filters.flatMap { filter -> [IPAddress.Family] in filter.destination.map { [$0.family] } ?? [.v4, .v6] })
        var deleted = 0
        for family in [IPAddress.Family.v4, .v6] where families.contains(family) {
            for flow in try flows(family: family) where filters.contains(where: { $0.matches(flow) }) {
                try delete(flow)
                deleted += 1
            }
        }
        return deleted
    }

    /// `struct nfgenmsg` for `family`, nfnetlink version 0.
    private static func header(_ family: IPAddress.Family) -> nfgenmsg {
        var header = nfgenmsg()
        header.nfgen_family = RouteSocket.addressFamily(family)
        header.version = UInt8(NFNETLINK_V0)
        return header
    }
}

extension ConntrackFlow {
    /// Reads an `IPCTNL_MSG_CT_NEW` dump message.
    init?(_ message: ReplyMessage) {
        let headerSize = MemoryLayout<nfgenmsg>.size
        guard message.type == .conntrackNew, message.payload.count >= headerSize else { return nil }
        let attributes = Attributes(message.payload[(message.payload.startIndex + headerSize)...])
        guard let tuple = attributes.nested(ConntrackAttribute.originalTuple),
              let ip = tuple.nested(ConntrackAttribute.tupleIP),
              let proto = tuple.nested(ConntrackAttribute.tupleProtocol),
              let number = proto.uint8(ConntrackAttribute.protocolNumber),
              let source = ip.address(ConntrackAttribute.ipv4Source) ?? ip.address(ConntrackAttribute.ipv6Source),
              let destination = ip.address(ConntrackAttribute.ipv4Destination) ?? ip.address(ConntrackAttribute.ipv6Destination)
        else { return nil }
        self.init(protocolNumber: number, source: source, destination: destination,
                  sourcePort: proto.bigEndianUInt16(ConntrackAttribute.sourcePort),
                  destinationPort: proto.bigEndianUInt16(ConntrackAttribute.destinationPort),
                  zone: attributes.bigEndianUInt16(ConntrackAttribute.zone) ?? 0)
    }
}

extension Attributes {
    /// A 16-bit value in network byte order (ports, zones).
    func bigEndianUInt16(_ attribute: some AttributeType) -> UInt16? {
        guard let value = self[attribute], value.count >= 2 else { return nil }
        return UInt16(bigEndian: value.readUInt16(at: value.startIndex))
    }
}
