#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Drivers
import NetCore

/// The options of `network create --driver overlay`, and what the agent keeps on each host's
/// record of an overlay network.
enum OverlayOption {
    static let hostSubnetSize = "host_subnet_size"
    static let vni = "vni"
    static let port = "vxlan_port"
    /// The whole overlay subnet (the record's own subnet is the host's share).
    static let subnet = "overlay.subnet"
    /// The network's VXLAN device on this host.
    static let tunnel = "overlay.tunnel"
}

/// What is overlay about a network's record: `nil` for other drivers.
struct OverlayLocal {
    var subnet: CIDR?
    var tunnel: InterfaceName?

    init?(_ network: NetworkRecord) {
        guard network.driver == .overlay else { return nil }
        subnet = network.options[OverlayOption.subnet].flatMap(CIDR.init)
        tunnel = network.options[OverlayOption.tunnel].flatMap { try? InterfaceName($0) }
    }
}

/// What the agent wants on this host for one overlay network.
public struct OverlayApplication: Sendable {
    public var name: String
    public var config: OverlayNetworkConfig
    /// This host's share.
    public var share: OverlayShare
    /// Every host's share, this host's included.
    public var shares: [OverlayShare]

    public init(name: String, config: OverlayNetworkConfig, share: OverlayShare, shares: [OverlayShare]) {
        self.name = name
        self.config = config
        self.share = share
        self.shares = shares
    }
}

extension Netctl {
    /// Leases the CNI `overlay` plugin takes under a netctl overlay network's key carry this
    /// prefix on their container ID (plugins/overlay.swift).
    static let cniLeasePrefix = "cni:"

    /// The network's VXLAN device: `vx-` and twelve digits of its ID (15 bytes at most).
    public static func tunnelName(networkID: String) -> String { "vx-" + networkID.prefix(12) }

    /// The MAC of a host's VXLAN device on a network: derived from the host's ID and the VNI
    /// (FNV-1a), locally administered and unicast, so it is the same after every restart and
    /// the other hosts' neighbour entries stay right.
    public static func vtepMAC(hostID: String, vni: UInt32) -> MACAddress {
        let hash = FNV1a.hash(Array(hostID.utf8) + withUnsafeBytes(of: vni.bigEndian, Array.init))
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        // Six bytes always make a MAC address.
        return (try? MACAddress(bytes: bytes)) ?? MACAddress.zero
    }

    // MARK: The agent's record

    /// This host's ID in every overlay: random on first use, then kept in the store.
    public func overlayHostID() throws -> String {
        try store.database.immediateTransaction {
            if let id = try overlay.value(OverlayTables.hostIDKey) { return id }
            let id = String(Self.newID().prefix(16))
            try overlay.setValue(OverlayTables.hostIDKey, id)
            return id
        }
    }

    /// What the agent last recorded; `nil` when none ever ran here.
    public func overlayAgent() throws -> OverlayAgentRecord? { try overlay.agent() }

    public func recordOverlayAgent(_ record: OverlayAgentRecord) throws {
        try overlay.setValue(OverlayTables.agentKey, record.json.serialized())
    }

    /// The shares of `network` (every network's when `nil`) as the agent last saw them in etcd.
    public func overlayShares(network: String? = nil) throws -> [OverlayShare] { try overlay.shares(network: network) }

    /// This host's records of overlay networks.
    public func localOverlayNetworks() throws -> [NetworkRecord] {
        try tables.networks().filter { $0.driver == .overlay }
    }

    /// Endpoints on each overlay network of this host (Docker's included).
    public func overlayEndpointCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for network in try localOverlayNetworks() {
            counts[network.name] = try tables.endpoints(network: network.name).count
                + docker.networks(carriedBy: network.name).reduce(0) { $0 + (try docker.endpoints(networkID: $1.id).count) }
        }
        return counts
    }

    /// The interface with the underlay address `address`, and its MTU.
    public func overlayUnderlay(of address: IPAddress) throws -> (name: String, mtu: UInt32) {
        let underlay = try OverlayFabric.onHost().underlay(of: address)
        return (underlay.name.rawValue, underlay.mtu)
    }

    // MARK: What the agent applies

    /// Makes or updates the network on this host: its record (on the host's share), its
    /// firewall rules, its VXLAN device and one neighbour, FDB entry and route per other host.
    /// A record left from an earlier network of the same name, or on another share, goes first.
    ///
    /// - Returns: the peers added and removed.
    @discardableResult
    public func applyOverlay(_ application: OverlayApplication, agent: OverlayAgentRecord) throws -> OverlayPeerChanges {
        let config = application.config
        let mtu = config.mtu ?? agent.underlayMTU - OverlayNetworkConfig.encapsulationOverhead
        let tunnelName = try InterfaceName(Self.tunnelName(networkID: config.id), field: "VXLAN device name")
        if let existing = try tables.network(application.name) {
            guard existing.driver == .overlay else {
                throw NetworkError(code: .alreadyExists, message: "overlay network \"\(application.name)\" clashes with this host's \(existing.driver) network of that name")
            }
            if existing.id != config.id || existing.subnets.first?.subnet != application.share.subnet {
                try removeOverlayLocally(application.name)
            }
        }
        var options = [OverlayOption.subnet: config.subnet.description, OverlayOption.tunnel: tunnelName.rawValue,
                       OverlayOption.vni: String(config.vni), OverlayOption.port: String(config.port),
                       OverlayOption.hostSubnetSize: String(config.shareLength), NetworkOption.mtu: String(mtu)]
        if let bridgeName = try tables.network(application.name)?.options[NetworkOption.bridgeName] {
            options[NetworkOption.bridgeName] = bridgeName
        }
        try store.database.immediateTransaction {
            if var record = try tables.network(application.name) {
                if record.options != options {
                    record.options = options
                    try tables.update(record)
                }
            } else {
                let share = application.share.subnet
                let gateway = IPAddress(family: share.family, integerValue: share.networkAddress.integerValue + 1)
                var record = NetworkRecord(name: application.name, id: config.id, driver: .overlay,
                                           subnets: [SubnetSpec(subnet: share, gateway: gateway)], auxAddresses: [:], options: options,
                                           labels: config.labels, isInternal: config.isInternal, ipv6: false, created: config.created)
                record.dnsEnabled = false
                try UndoStack.transaction { uncommitted in
                    try firewall().addNetwork(firewallNetwork(record), name: Self.stateKey(record.name), ifNotCommitted: &uncommitted)
                    try tables.insert(record)
                }
            }
            try overlay.replaceShares(network: application.name, application.shares)
        }
        let fabric = try OverlayFabric.onHost()
        let underlay = try InterfaceName(agent.underlayInterface, field: "underlay interface")
        try fabric.ensure(OverlayTunnel(name: tunnelName, vni: config.vni, port: config.port, local: agent.underlay, underlay: underlay,
                                        mac: Self.vtepMAC(hostID: agent.hostID, vni: config.vni), mtu: mtu,
                                        address: application.share.tunnelAddress))
        let peers = application.shares.filter { $0.hostID != agent.hostID }.map { share in
            OverlayPeer(subnet: share.subnet, mac: share.vtepMAC, underlay: share.underlay)
        }
        return try fabric.program(tunnelName, peers: Set(peers))
    }

    /// Takes the network off this host: its endpoints, bridge, VXLAN device, rules, leases and
    /// records. Idempotent.
    public func removeOverlayLocally(_ name: String) throws {
        guard let network = try tables.network(name), network.driver == .overlay else { return }
        removesOverlayLocally = true
        defer { removesOverlayLocally = false }
        try removeNetwork(name, force: true)
    }

    /// UDP to `port` is taken only from `peers` (the other hosts' underlay addresses).
    public func setOverlayTunnelPeers(port: UInt16, peers: Set<IPAddress>) throws {
        try firewall().setTunnelPeers(port: port, peers: peers)
    }

    /// No overlay uses `port` any more: UDP to it passes untouched again.
    public func removeOverlayTunnelPort(_ port: UInt16) throws {
        try firewall().removeTunnelPort(port)
    }

    /// The kernel side of ``removeNetwork(_:force:)`` for an overlay network, in its transaction.
    func removeOverlayFabric(_ network: NetworkRecord) throws {
        if let tunnel = OverlayLocal(network)?.tunnel { try OverlayFabric.onHost().remove(tunnel) }
        try overlay.deleteShares(network: network.name)
    }
}
