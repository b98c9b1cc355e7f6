import Drivers
import IPAM
import NetCore
import Publishing

/// What `netctl network create` asks for.
public struct NetworkRequest: Sendable {
    public var name: String
    public var driver: DriverKind
    public var subnets: [CIDR] = []
    public var ipRanges: [CIDR] = []
    public var gateways: [IPAddress] = []
    public var auxAddresses: [String: IPAddress] = [:]
    public var options: [String: String] = [:]
    public var labels: [String: String] = [:]
    public var isInternal = false
    public var ipv6 = false
    /// `--disable-dns` clears it: only bridge networks have the resolver.
    public var dnsEnabled = true
    /// The ID to give the network (Docker's, for a network made for Docker); a new one when `nil`.
    var fixedID: String?

    public init(name: String, driver: DriverKind) {
        self.name = name
        self.driver = driver
    }
}

/// Driver options netctl understands, by Docker's name where Docker has one.
enum NetworkOption {
    static let bridgeName = "com.docker.network.bridge.name"
    static let mtu = "com.docker.network.driver.mtu"
    static let parent = "parent"
    static let macvlanMode = "macvlan_mode"
    /// Serve `127.0.0.1:PORT` by DNAT (route_localnet on this bridge, guarded) instead of the proxy.
    static let localhostDNAT = "localhost_dnat"

    static func known(for driver: DriverKind) -> Set<String> {
        switch driver {
        case .bridge: [bridgeName, mtu, localhostDNAT]
        case .macvlan: [parent, macvlanMode, mtu]
        case .overlay: [mtu, OverlayOption.hostSubnetSize, OverlayOption.vni, OverlayOption.port]
        case .cni: [] // passed to the plugin as they are
        case .null, .host: []
        }
    }
}

extension Netctl {
    /// Every network, with the Docker networks each carries.
    public func networks() throws -> [NetworkRecord] {
        let carried = Dictionary(grouping: try docker.networks(), by: \.network)
        return try tables.networks().map { network in
            var network = network
            network.dockerNetworks = carried[network.name] ?? []
            return network
        }
    }

    /// A network by name or ID (its Docker network's name or ID too), with the Docker networks it carries.
    public func network(_ name: String) throws -> NetworkRecord {
        let viaDocker = try tables.network(name) == nil ? try docker.networks().first { $0.name == name || $0.id == name }?.network : nil
        guard var network = try tables.network(viaDocker ?? name) else { throw Self.notFound("network", name) }
        network.dockerNetworks = try docker.networks(carriedBy: network.name)
        if network.driver.spansHosts { network.overlayShares = try overlay.shares(network: network.name) }
        return network
    }

    /// Creates a network; its bridge and addresses appear with the first endpoint.
    ///
    /// - Throws: ``NetworkError`` naming the flag and value that is wrong, or `.alreadyExists`.
    public func createNetwork(_ request: NetworkRequest) throws -> NetworkRecord {
        if request.driver.spansHosts { return try createOverlayNetwork(request) }
        // The rules go back out of the ruleset when the network's record does not commit.
        return try UndoStack.transaction { uncommitted in try createNetwork(request, ifNotCommitted: &uncommitted) }
    }

    /// ``createNetwork(_:)`` in the caller's store transaction, with what to undo in the
    /// ruleset when that does not commit.
    func createNetwork(_ request: NetworkRequest, ifNotCommitted uncommitted: inout UndoStack) throws -> NetworkRecord {
        try Self.validateName(request.name, field: "network name")
        try validateOptions(request)
        return try store.database.immediateTransaction {
            if try tables.network(request.name) != nil {
                throw NetworkError(code: .alreadyExists, message: "network \"\(request.name)\" already exists")
            }
            let id = request.fixedID ?? Self.newID()
            var record = NetworkRecord(name: request.name, id: id, driver: request.driver, subnets: [],
                                       auxAddresses: request.auxAddresses, options: request.options, labels: request.labels,
                                       isInternal: request.isInternal, ipv6: request.ipv6, created: Self.now())
            record.subnets = try subnets(for: request, id: id)
            try checkOverlaps(record)
            if case .bridge = record.driver {
                _ = try InterfaceName(record.bridgeName, field: names.option(NetworkOption.bridgeName))
                try firewall().addNetwork(firewallNetwork(record), name: Self.stateKey(record.name), ifNotCommitted: &uncommitted)
                record.dnsEnabled = request.dnsEnabled
                if record.dnsEnabled { try nameTables.upsert(nameNetwork(record)) }
            }
            try tables.insert(record)
            return record
        }
    }

    /// Removes a network. With endpoints attached it is refused unless `force`, which
    /// disconnects them first. A network that does not exist is success.
    ///
    /// A bridge network's bridge and rules go with it; a `cni:` network gets a CNI GC with no
    /// valid attachment, and the host links its plugin made (``NetworkRecord/createdLinks``)
    /// are deleted unless something else uses them.
    ///
    /// - Returns: whether there was a network to remove.
    @discardableResult
    public func removeNetwork(_ name: String, force: Bool = false) throws -> Bool {
        guard var network = try tables.network(name) else { return false }
        try refuseIfDockerHolds(network)
        if network.driver.spansHosts, !removesOverlayLocally {
            try removeOverlayEverywhere(network, force: force)
            return true
        }
        if case .cni = network.driver {
            // The plugins' GC runs outside the store transaction (they open the same store), so
            // first, in one transaction with the endpoint check, the network is marked: no
            // connect reserves an endpoint on it from then on, whose veth and lease GC would take.
            let marked: NetworkRecord? = try store.database.immediateTransaction {
                guard var current = try tables.network(network.name), current.id == network.id else { return nil }
                let endpoints = try tables.endpoints(network: current.name)
                guard endpoints.isEmpty || force else { throw Self.inUse(current, endpoints) }
                current.isBeingRemoved = true
                try tables.update(current)
                return current
            }
            guard let marked else { return false } // removed meanwhile
            network = marked
        }
        let endpoints = try tables.endpoints(network: network.name)
        if !endpoints.isEmpty {
            guard force else { throw Self.inUse(network, endpoints) }
            for endpoint in endpoints { try disconnect(network: network.name, sandbox: endpoint.sandbox, force: true) }
        }
        if case .cni(let type) = network.driver {
            // No endpoint is left and none can come. Best effort: every endpoint had its DEL,
            // and a plugin without GC must not keep the network alive.
            try? CNINetwork(network: network, type: type).collectAll()
        }
        // In one transaction with the check, so no connect reserves an endpoint meanwhile.
        try store.database.immediateTransaction {
            // As it is now: a connect may have recorded links its plugin made meanwhile.
            guard let network = try tables.network(network.name) else { return }
            let endpoints = try tables.endpoints(network: network.name)
            guard endpoints.isEmpty else { throw Self.inUse(network, endpoints) }
            switch try backend(network) {
            case .driver(let driver):
                if driver.offersPublishing { try firewall().removeNetwork(name: Self.stateKey(network.name)) }
                try driver.removeNetwork()
                if network.driver.spansHosts { try removeOverlayFabric(network) }
            case .cni:
                try removeLinksThePluginMade(network)
            }
            try allocator().forget(network: Self.stateKey(network.name))
            try nameTables.removeNetwork(Self.stateKey(network.name))
            try tables.deleteNetwork(network.name)
        }
        return true
    }

    private static func inUse(_ network: NetworkRecord, _ endpoints: [EndpointRecord]) -> NetworkError {
        NetworkError(code: .busy, message: "network \"\(network.name)\" has \(endpoints.count) endpoint(s) (\(endpoints.map(\.sandbox).joined(separator: ", "))); disconnect them or use --force")
    }

    /// The host links a `cni:` network's plugin made, unless another network names them or a
    /// port (anyone's) is still on them.
    private func removeLinksThePluginMade(_ network: NetworkRecord) throws {
        guard !network.createdLinks.isEmpty else { return }
        let others = try tables.networks().filter { $0.name != network.name }
        for name in network.createdLinks {
            let namedElsewhere = others.contains { other in
                other.createdLinks.contains(name) || Self.hostBridge(of: other) == name
            }
            guard !namedElsewhere, let bridge = try? InterfaceName(name) else { continue }
            try HostLinks.deleteBridgeIfUnused(bridge)
        }
    }

    /// Removes every network without endpoints; returns their names.
    public func pruneNetworks() throws -> [String] {
        var removed: [String] = []
        let heldByDocker = Set(try docker.networks().map(\.network))
        // Overlay networks span hosts: removing one is never a side effect of tidying this one.
        for network in try tables.networks() where try !network.driver.spansHosts && !heldByDocker.contains(network.name) && tables.endpoints(network: network.name).isEmpty {
            if try removeNetwork(network.name) { removed.append(network.name) }
        }
        return removed
    }

    // MARK: Pieces

    /// The network as the firewall sees it.
    ///
    /// An overlay network's subnets are the whole overlay's, so traffic to the other hosts'
    /// shares is not masqueraded, and its VXLAN device belongs to it as its bridge does.
    func firewallNetwork(_ network: NetworkRecord) throws -> PublishingNetwork {
        let overlay = OverlayLocal(network)
        return PublishingNetwork(name: network.name, bridge: try InterfaceName(network.bridgeName, field: "bridge name"),
                                 subnets: overlay?.subnet.map { [$0] } ?? network.subnets.map(\.subnet), masquerade: !network.isInternal,
                                 isInternal: network.isInternal, localhostDNAT: network.options[NetworkOption.localhostDNAT] == "true",
                                 tunnel: overlay?.tunnel)
    }

    /// The network's address ranges for IPAM: one range set per subnet.
    func rangeSets(_ network: NetworkRecord) throws -> [RangeSet] {
        try network.subnets.map { spec in
            var start: IPAddress?, end: IPAddress?
            if let range = spec.ipRange {
                start = range.networkAddress
                end = range.lastAddress
            }
            let reserved = network.auxAddresses.values.filter { spec.subnet.contains($0) }
            return RangeSet(try AddressRange(subnet: spec.subnet, start: start, end: end, gateway: spec.gateway, reserved: Array(reserved)))
        }
    }

    private func validateOptions(_ request: NetworkRequest) throws {
        let known = NetworkOption.known(for: request.driver)
        if case .cni = request.driver {} else {
            for key in request.options.keys.sorted() where !known.contains(key) {
                let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
                throw NetworkError.invalid(names.option, key, "is not an option of the \(request.driver) driver (it takes: \(list))")
            }
        }
        if let mtu = request.options[NetworkOption.mtu], UInt32(mtu).map({ (68...65535).contains($0) }) != true {
            throw NetworkError.invalid(names.option(NetworkOption.mtu), mtu, "must be a number from 68 to 65535")
        }
        if let mode = request.options[NetworkOption.macvlanMode], !MacvlanOptions.modeNames.contains(mode) {
            throw NetworkError.invalid(names.option(NetworkOption.macvlanMode), mode, "must be one of \(MacvlanOptions.modeNames.joined(separator: ", "))")
        }
        if let parent = request.options[NetworkOption.parent] { _ = try InterfaceName(parent, field: names.option(NetworkOption.parent)) }
        if let value = request.options[NetworkOption.localhostDNAT], value != "true", value != "false" {
            throw NetworkError.invalid(names.option(NetworkOption.localhostDNAT), value, "must be true or false")
        }
        switch request.driver {
        case .null, .host:
            if !request.subnets.isEmpty || !request.ipRanges.isEmpty || !request.gateways.isEmpty || !request.auxAddresses.isEmpty {
                throw NetworkError.invalid(names.driver, request.driver.description,
                                           "has no addresses: \(names.subnet), \(names.ipRange), \(names.gateway) and \(names.auxAddress) do not apply")
            }
        case .macvlan:
            guard !request.subnets.isEmpty else {
                throw NetworkError.invalid(names.subnet, "(none)", "a macvlan network shares the parent's link: give the subnet of that link")
            }
        case .cni(let type):
            let runtime = CNINetwork(network: NetworkRecord(name: request.name, id: "", driver: request.driver, subnets: [],
                                                            auxAddresses: [:], options: [:], labels: [:], isInternal: false,
                                                            ipv6: false, created: 0), type: type).runtime
            guard runtime.invoker.find(type, in: runtime.pluginDirectories) != nil else {
                throw NetworkError.invalid(names.driver, request.driver.description,
                                           "no CNI plugin \"\(type)\" in \(runtime.pluginDirectories.joined(separator: ":")) (set CNI_PATH)")
            }
        case .bridge, .overlay: break
        }
    }

    /// The request's subnets with their IP ranges and gateways; a bridge network without an
    /// IPv4 subnet gets a free one from Docker's pools, and with `--ipv6` but no IPv6 subnet a
    /// unique local /64 derived from its ID.
    private func subnets(for request: NetworkRequest, id: String) throws -> [SubnetSpec] {
        var specs: [SubnetSpec] = []
        for subnet in request.subnets {
            guard subnet.address == subnet.networkAddress else {
                throw NetworkError.invalid(names.subnet, subnet.description, "has host bits set; the network is \(subnet.network)")
            }
            if subnet.family == .v6, !request.ipv6 {
                throw NetworkError.invalid(names.subnet, subnet.description, "is IPv6: turn on \(names.ipv6) for the network")
            }
            specs.append(SubnetSpec(subnet: subnet))
        }
        if case .bridge = request.driver {
            if !specs.contains(where: { $0.subnet.family == .v4 }) {
                let used = try tables.networks().flatMap { $0.subnets.map(\.subnet) }
                let selected = try SubnetSelector().select(family: .v4, used: used, hostRoutes: HostLinks.routeTable())
                specs.insert(SubnetSpec(subnet: selected), at: 0)
            }
            if request.ipv6, !specs.contains(where: { $0.subnet.family == .v6 }) {
                let hex = Array(id.prefix(10))
                let text = "fd\(String(hex[0..<2])):\(String(hex[2..<6])):\(String(hex[6..<10]))::/64"
                specs.append(SubnetSpec(subnet: try CIDR(parsing: text, field: "generated IPv6 subnet")))
            }
        }
        try assign(request.ipRanges, names.ipRange, to: &specs) { spec, range in
            guard spec.ipRange == nil else { throw NetworkError.invalid(names.ipRange, range.description, "is the second range for subnet \(spec.subnet)") }
            guard spec.subnet.contains(range.networkAddress), range.prefixLength >= spec.subnet.prefixLength else {
                throw NetworkError.invalid(names.ipRange, range.description, "is not inside subnet \(spec.subnet)")
            }
            spec.ipRange = range.network
        } address: { $0.networkAddress }
        try assign(request.gateways, names.gateway, to: &specs) { spec, gateway in
            guard spec.gateway == nil else { throw NetworkError.invalid(names.gateway, gateway.description, "is the second gateway for subnet \(spec.subnet)") }
            spec.gateway = gateway
        } address: { $0 }
        for (name, address) in request.auxAddresses where !specs.contains(where: { $0.subnet.contains(address) }) {
            throw NetworkError.invalid(names.auxAddress, "\(name)=\(address)", "is in none of the network's subnets")
        }
        // The gateway is the first address unless given: the bridge carries it.
        for index in specs.indices where specs[index].gateway == nil && request.driver.hasAddresses {
            let subnet = specs[index].subnet
            if let first = IPAddress(family: subnet.family, integerValue: subnet.networkAddress.integerValue + 1), subnet.contains(first) {
                specs[index].gateway = first
            }
        }
        return specs
    }

    /// Pairs each value with the subnet that contains it, naming the flag when none does.
    private func assign<Value: CustomStringConvertible>(
        _ values: [Value], _ flag: String, to specs: inout [SubnetSpec],
        _ apply: (inout SubnetSpec, Value) throws -> Void, address: (Value) -> IPAddress
    ) throws {
        for value in values {
            guard let index = specs.firstIndex(where: { $0.subnet.contains(address(value)) }) else {
                throw NetworkError.invalid(flag, value.description, "is in none of the subnets (\(specs.map(\.subnet.description).joined(separator: ", ")))")
            }
            try apply(&specs[index], value)
        }
    }

    private func checkOverlaps(_ record: NetworkRecord) throws {
        guard case .bridge = record.driver else { return }
        for other in try tables.networks() {
            for mine in record.subnets {
                if let clash = other.subnets.first(where: { $0.subnet.overlaps(mine.subnet) }) {
                    throw NetworkError.invalid(names.subnet, mine.subnet.description, "overlaps \(clash.subnet) of network \"\(other.name)\"")
                }
            }
        }
    }
}
