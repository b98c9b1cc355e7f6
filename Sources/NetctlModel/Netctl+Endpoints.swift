import Drivers
import Firewall
import IPAM
import Namespaces
import NetCore
import Netlink

/// What `netctl connect` asks for besides the network and the sandbox.
public struct ConnectRequest: Sendable {
    public var addresses: [IPAddress] = []
    public var mac: MACAddress?
    public var aliases: [String] = []
    public var ports: [PortMapping] = []

    public init() {}
}

extension Netctl {
    public func endpoints(network: String? = nil, sandbox: String? = nil) throws -> [EndpointRecord] {
        try tables.endpoints(network: network, sandbox: sandbox)
    }

    /// Attaches a sandbox (by name, or any netns path) to a network: an interface with
    /// addresses from the network's pools, routes, and the published ports. All or nothing.
    ///
    /// - Throws: ``NetworkError``: `.alreadyExists` when already connected, `.invalidArgument`
    ///   naming a bad address or port, `.unsupported` for ports on a driver without them.
    public func connect(network name: String, sandbox nameOrPath: String, _ request: ConnectRequest = ConnectRequest()) throws -> EndpointRecord {
        let network = try network(name)
        let sandbox = try sandbox(forConnecting: nameOrPath)
        if try tables.endpoint(network: network.name, sandbox: sandbox.name) != nil {
            throw NetworkError(code: .alreadyExists, message: "sandbox \"\(sandbox.name)\" is already connected to network \"\(network.name)\"")
        }
        try validate(request, for: network)
        let interface = try nextInterface(in: sandbox)
        var endpoint = EndpointRecord(network: network.name, sandbox: sandbox.name, interface: interface.rawValue,
                                      addresses: [], mac: request.mac?.description, aliases: request.aliases, ports: request.ports)
        switch network.driver {
        case .null, .host:
            if network.driver == .host, sandbox.path != Self.hostNamespacePath {
                throw NetworkError.invalid("sandbox", sandbox.name, "has a namespace of its own; only a sandbox made with --network host joins the host network")
            }
        case .bridge, .macvlan:
            try UndoStack.transaction { undo in
                endpoint = try attach(network, sandbox, interface, request, endpoint, undo: &undo)
                try tables.insert(endpoint)
            }
            return endpoint
        case .cni(let type):
            let cni = CNINetwork(network: network, type: type)
            try tables.insert(endpoint) // first: a concurrent connect cannot take the same interface
            do {
                endpoint.addresses = try cni.add(sandbox, interface: interface.rawValue, ports: request.ports)
                try tables.insert(endpoint)
            } catch {
                try? cni.delete(sandbox, interface: interface.rawValue)
                try? tables.deleteEndpoint(network: network.name, sandbox: sandbox.name)
                throw error
            }
            return endpoint
        }
        try tables.insert(endpoint)
        return endpoint
    }

    /// Detaches a sandbox from a network: ports, interface, addresses. Not connected is success.
    /// `force` goes on past a namespace that is gone and reports nothing it could not undo.
    public func disconnect(network name: String, sandbox nameOrPath: String, force: Bool = false) throws {
        guard let network = try tables.network(name) else {
            if force { return }
            throw Self.notFound("network", name)
        }
        guard let sandbox = try tables.sandbox(nameOrPath),
              let endpoint = try tables.endpoint(network: network.name, sandbox: sandbox.name) else { return }
        var failures: [(name: String, error: any Error)] = []
        func attempt(_ step: String, _ body: () throws -> Void) {
            do { try body() } catch { failures.append((step, error)) }
        }
        if let interface = try? InterfaceName(endpoint.interface) {
            let id = AttachmentID(network: Self.stateKey(network.name), containerID: sandbox.id, interface: interface)
            let namespace = try? NetNamespace.open(path: sandbox.path)
            switch network.driver {
            case .bridge:
                attempt("unpublish ports") { try firewall().detach(id) }
                attempt("remove the interface") { try bridgeDriver(network).detach(id, namespace: namespace) }
            case .macvlan:
                attempt("remove the interface") { try macvlanDriver(network).detach(id, namespace: namespace) }
            case .cni(let type):
                attempt("CNI DEL") { try CNINetwork(network: network, type: type).delete(sandbox, interface: endpoint.interface) }
            case .null, .host: break
            }
            attempt("release the addresses") {
                _ = try allocator().release(key: LeaseKey(network: Self.stateKey(network.name), containerID: sandbox.id, interface: interface))
            }
        }
        if !failures.isEmpty && !force {
            throw NetworkError.teardown("disconnecting \(sandbox.name) from \(network.name)", failures: failures)
        }
        try tables.deleteEndpoint(network: network.name, sandbox: sandbox.name)
    }

    // MARK: Drivers

    private func attach(_ network: NetworkRecord, _ sandbox: SandboxRecord, _ interface: InterfaceName, _ request: ConnectRequest,
                        _ endpoint: EndpointRecord, undo: inout UndoStack) throws -> EndpointRecord {
        var endpoint = endpoint
        let key = Self.stateKey(network.name)
        let namespace = try NetNamespace.open(path: sandbox.path)
        let leaseKey = try LeaseKey(network: key, containerID: sandbox.id, interface: interface)
        let allocator = try allocator()
        let leases = try allocator.allocate(key: leaseKey, rangeSets: rangeSets(network), requested: request.addresses)
        undo.push("release \(leaseKey)") { _ = try allocator.release(key: leaseKey) }
        endpoint.addresses = leases.map(\.address)
        let id = AttachmentID(network: key, containerID: sandbox.id, interface: interface)
        var ip = IPConfiguration(assignments: leases.map { IPConfiguration.Assignment(address: $0.address, gateway: $0.gateway) })
        switch network.driver {
        case .bridge:
            let driver = try bridgeDriver(network)
            let attached = try driver.attach(id, namespace: namespace, ip: ip, mac: request.mac)
            undo.push("detach \(id)") { try driver.detach(id, namespace: namespace) }
            endpoint.mac = attached.container.mac?.description
            if !request.ports.isEmpty {
                try firewall().attach(id, network: firewallNetwork(network), ports: request.ports,
                                      containerAddresses: leases.map(\.address.address))
                undo.push("unpublish ports of \(id)") { try self.firewall().detach(id) }
            }
        case .macvlan:
            // A default route through each gateway; an internal network has no way out.
            if network.isInternal { ip.assignments = ip.assignments.map { .init(address: $0.address) } }
            ip.routes = ip.defaultRoutesViaGateways
            let driver = try macvlanDriver(network)
            let attached = try driver.attach(id, namespace: namespace, ip: ip, mac: request.mac)
            undo.push("detach \(id)") { try driver.detach(id, namespace: namespace) }
            endpoint.mac = attached.container.mac?.description
        case .null, .host, .cni: break
        }
        return endpoint
    }

    func bridgeDriver(_ network: NetworkRecord) throws -> BridgeDriver {
        let options = BridgeOptions(
            bridge: try InterfaceName(network.bridgeName, field: "bridge name"),
            mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init),
            isGateway: true, isDefaultGateway: !network.isInternal, hairpin: true)
        return BridgeDriver(options: options, host: try RouteSocket.open(), hostNamespace: try NetNamespace.current())
    }

    func macvlanDriver(_ network: NetworkRecord) throws -> MacvlanDriver {
        let options = MacvlanOptions(
            parent: try network.options[NetworkOption.parent].map { try InterfaceName($0, field: "-o parent") },
            mode: network.options[NetworkOption.macvlanMode].flatMap(MacvlanMode.init(rawValue:)) ?? .bridge,
            mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init))
        return MacvlanDriver(options: options, host: try RouteSocket.open())
    }

    private func validate(_ request: ConnectRequest, for network: NetworkRecord) throws {
        for address in request.addresses where !network.subnets.contains(where: { $0.subnet.contains(address) }) {
            throw NetworkError.invalid(address.family == .v4 ? "--ip" : "--ip6", address.description,
                                       "is in none of network \"\(network.name)\"'s subnets (\(network.subnets.map(\.subnet.description).joined(separator: ", ")))")
        }
        if !request.ports.isEmpty {
            switch network.driver {
            case .bridge:
                if network.isInternal {
                    throw NetworkError.invalid("-p", request.ports[0].description, "network \"\(network.name)\" is internal: nothing outside it can reach a published port")
                }
            case .cni: break // the chain's portmap publishes them
            case .host, .null, .macvlan:
                throw NetworkError(code: .unsupported, message:
                    "-p \(request.ports[0]): the \(network.driver) driver has no published ports (a \(network.driver) endpoint is reached at its own address)")
            }
        }
    }

    /// `eth0`, `eth1`, …: the first name no endpoint of the sandbox (or of a sandbox sharing
    /// its namespace) uses.
    private func nextInterface(in sandbox: SandboxRecord) throws -> InterfaceName {
        let sharing = try tables.sandboxes().filter { $0.path == sandbox.path }.map(\.name)
        let used = Set(try sharing.flatMap { try tables.endpoints(sandbox: $0) }.map(\.interface))
        var index = 0
        while used.contains("eth\(index)") { index += 1 }
        return try InterfaceName("eth\(index)")
    }
}
