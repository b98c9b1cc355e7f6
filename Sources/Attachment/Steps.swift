import Drivers
import Firewall
import IPAM
import NetCore
import Publishing

/// Addresses from netctl's IPAM: one lease per range set, for one attachment.
public struct AllocatorLeasing: AddressLeasing {
    public let allocator: AddressAllocator
    public let key: LeaseKey
    public let rangeSets: [RangeSet]
    /// Addresses asked for (`--ip`); the rest come round-robin.
    public let requested: [IPAddress]

    public init(allocator: AddressAllocator, key: LeaseKey, rangeSets: [RangeSet], requested: [IPAddress] = []) {
        self.allocator = allocator
        self.key = key
        self.rangeSets = rangeSets
        self.requested = requested
    }

    public func lease() throws -> IPConfiguration {
        let leases = try allocator.allocate(key: key, rangeSets: rangeSets, requested: requested)
        return IPConfiguration(assignments: leases.map { IPConfiguration.Assignment(address: $0.address, gateway: $0.gateway) })
    }

    public func release() throws {
        _ = try allocator.release(key: key)
    }
}

/// Published ports (and the network's rules: masquerade, isolation, hairpin) of one
/// attachment, kept by the firewall registry.
public struct RegistryPublishing: AttachmentPublishing {
    public let registry: FirewallRegistry
    /// The registry's key: the attachment, scoped to who keeps it.
    public let attachment: AttachmentID
    /// The network the record claims rules of, from what the attachment leased.
    public let network: (IPConfiguration) -> FirewallNetwork
    public let usesRules: Bool
    public let ports: [PortMapping]
    /// The container addresses the ports point at; the attachment's own when `nil`.
    public let containerAddresses: [IPAddress]?
    /// For a teardown with no record of the attachment (its attach was killed before the
    /// record committed): the network whose rules go if nothing else claims them.
    public let unrecorded: FirewallNetwork?

    public init(registry: FirewallRegistry, attachment: AttachmentID, network: FirewallNetwork, usesRules: Bool = true,
                ports: [PortMapping], containerAddresses: [IPAddress]? = nil) {
        self.registry = registry
        self.attachment = attachment
        self.network = { _ in network }
        self.usesRules = usesRules
        self.ports = ports
        self.containerAddresses = containerAddresses
        unrecorded = nil
    }

    /// `ipMasq`: the masquerade of the leased subnets leaving `bridge`, shared by every
    /// attachment on it and removed with the last one.
    ///
    /// - Parameter subnets: for a teardown, the subnets the attachment had (from the runtime's
    ///   result), so the rules an attach killed before its record committed left go too.
    public init(masqueradeOf attachment: AttachmentID, registry: FirewallRegistry, bridge: InterfaceName, subnets: [CIDR]? = nil) {
        self.registry = registry
        self.attachment = attachment
        network = { ip in FirewallNetwork(name: attachment.network, bridge: bridge, subnets: ip.assignments.map(\.address.network)) }
        usesRules = true
        ports = []
        containerAddresses = nil
        unrecorded = subnets.map { FirewallNetwork(name: attachment.network, bridge: bridge, subnets: $0) }
    }

    public var name: String { ports.isEmpty ? "masquerade" : "publish ports" }

    public func publish(_ attached: AttachedInterfaces?, ip: IPConfiguration) throws {
        try registry.attach(attachment, network: network(ip), usesRules: usesRules, ports: ports,
                            containerAddresses: containerAddresses ?? ip.assignments.map(\.address.address))
    }

    public func unpublish() throws {
        let recorded = try unrecorded == nil || registry.isRecorded(attachment)
        try registry.detach(attachment)
        if !recorded, let unrecorded { try registry.dropUnclaimedRules(of: unrecorded) }
    }
}

/// `macspoofchk`: frames from the host end of the attachment's veth must carry the
/// container interface's MAC.
public struct MACGuardPublishing: AttachmentPublishing {
    public let spoofGuard: MACSpoofGuard
    public let attachment: AttachmentID

    public init(spoofGuard: MACSpoofGuard, attachment: AttachmentID) {
        self.spoofGuard = spoofGuard
        self.attachment = attachment
    }

    public var name: String { "macspoofchk" }

    public func publish(_ attached: AttachedInterfaces?, ip: IPConfiguration) throws {
        guard let mac = attached?.container.mac else {
            throw NetworkError(code: .internalError, message: "macspoofchk: the container interface of \(attachment) has no MAC address")
        }
        try spoofGuard.guardPort(attachment.hostInterfaceName, mac: mac, owner: attachment.network)
    }

    public func unpublish() throws {
        try spoofGuard.releasePort(attachment.hostInterfaceName)
    }
}
