import Attachment
import Drivers
import IPAM
import Namespaces
import NetCore
import Publishing

/// One entry of `com.docker.network.portmap`. A host port of 0 asks netctl to choose one;
/// a host port range with one container port asks for any free port of the range.
public struct DockerPortBinding: Sendable, Hashable {
    public var transport: TransportProtocol
    public var containerPort: UInt16
    public var hostIP: IPAddress?
    public var hostPort: UInt16
    public var hostPortEnd: UInt16

    public init(transport: TransportProtocol, containerPort: UInt16, hostIP: IPAddress?, hostPort: UInt16, hostPortEnd: UInt16) {
        self.transport = transport
        self.containerPort = containerPort
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.hostPortEnd = hostPortEnd
    }
}

/// What Join answers dockerd: the interface to move into the sandbox and its way out.
public struct DockerJoin: Sendable {
    public var interface: InterfaceName
    public var gateway: IPAddress?
    public var gatewayIPv6: IPAddress?
    /// An internal network has no way out, and dockerd must not add one (docker_gwbridge).
    public var disableGatewayService: Bool
}

extension Netctl {
    /// The endpoints Docker holds (every one when `networkID` is `nil`).
    public func dockerEndpoints(networkID: String? = nil) throws -> [DockerEndpointRecord] {
        try docker.endpoints(networkID: networkID)
    }

    /// Records an endpoint with the addresses dockerd's IPAM gave it. Repeating it is success.
    ///
    /// - Throws: ``NetworkError`` naming `NetworkID` or `EndpointID`.
    public func createDockerEndpoint(networkID: String, endpointID: String, addresses: [CIDR], mac: MACAddress?) throws {
        try Self.validateDockerID(endpointID, field: "EndpointID")
        try store.database.immediateTransaction {
            _ = try dockerNetwork(networkID)
            if let existing = try docker.endpoint(id: endpointID) {
                guard existing.networkID == networkID else {
                    throw NetworkError(code: .alreadyExists, message: "EndpointID \(endpointID) is already an endpoint of network \(existing.networkID)")
                }
                return
            }
            try docker.upsert(DockerEndpointRecord(id: endpointID, networkID: networkID, addresses: addresses, mac: mac, ports: []))
        }
    }

    /// Makes the endpoint's interface on the host for dockerd to move into `sandboxKey`'s
    /// namespace (a veth pair on the bridge, or a macvlan), with the bridge's gateways on it.
    public func joinDocker(networkID: String, endpointID: String, sandboxKey: String) throws -> DockerJoin {
        let (_, carried, endpoint) = try dockerEndpoint(networkID, endpointID)
        guard case .driver(let driver) = try backend(carried), driver.addsInterface else {
            throw NetworkError(code: .unsupported, message: "network \"\(carried.name)\" (\(carried.driver)) gives no interface to Docker's containers")
        }
        let id = attachmentID(carried, endpoint)
        let ip = try ipConfiguration(carried, endpoint)
        try UndoStack.transaction { undo in
            _ = try driver.prepareHandOff(id, ip: ip, mac: endpoint.mac)
            undo.push("remove \(id.interface)") { try driver.removeHandOff(id) }
            try store.database.immediateTransaction {
                guard var current = try docker.endpoint(id: endpointID) else { throw Self.notFound("endpoint", endpointID) }
                current.sandboxKey = sandboxKey
                try docker.upsert(current)
            }
        }
        let routesOut = !carried.isInternal
        let gateways = ip.assignments.compactMap(\.gateway)
        return DockerJoin(interface: id.interface,
                          gateway: routesOut ? gateways.first { $0.family == .v4 } : nil,
                          gatewayIPv6: routesOut ? gateways.first { $0.family == .v6 } : nil,
                          disableGatewayService: !routesOut)
    }

    /// Publishes the endpoint's ports (`com.docker.network.portmap`) as `netctl connect -p`
    /// does: DNAT, and the proxy for loopback. Host port 0 gets a free port, which
    /// `netctl port ls` shows. A driver without published ports (macvlan) or an internal
    /// network publishes nothing.
    ///
    /// - Returns: the mappings published.
    @discardableResult
    public func publishDockerPorts(networkID: String, endpointID: String, bindings: [DockerPortBinding]) throws -> [PortMapping] {
        let (_, carried, endpoint) = try dockerEndpoint(networkID, endpointID)
        guard case .driver(let driver) = try backend(carried), driver.offersPublishing, !carried.isInternal, !bindings.isEmpty else { return [] }
        let id = attachmentID(carried, endpoint)
        let ports = try store.database.immediateTransaction {
            let ports = try choosePorts(bindings, for: endpointID)
            try checkPortsAreFree(ports, besidesDockerEndpoint: endpointID)
            return ports
        }
        let publishing = RegistryPublishing(registry: try firewall(), attachment: id, network: try firewallNetwork(carried), ports: ports,
                                            containerAddresses: endpoint.addresses.map(\.address))
        try UndoStack.transaction { undo in
            try publishing.publish(nil, ip: IPConfiguration())
            undo.push("unpublish the ports of \(id)") { try publishing.unpublish() }
            try store.database.immediateTransaction {
                guard var current = try docker.endpoint(id: endpointID) else { throw Self.notFound("endpoint", endpointID) }
                current.ports = ports
                current.published = true
                try docker.upsert(current)
            }
        }
        return ports
    }

    /// Takes back what ``publishDockerPorts(networkID:endpointID:bindings:)`` published.
    /// Unknown or unpublished is success.
    public func unpublishDockerPorts(networkID: String, endpointID: String) throws {
        guard let endpoint = try docker.endpoint(id: endpointID), endpoint.published,
              let record = try docker.network(id: endpoint.networkID), let carried = try tables.network(record.network) else { return }
        try firewall().detach(attachmentID(carried, endpoint))
        try store.database.immediateTransaction {
            guard var current = try docker.endpoint(id: endpointID) else { return }
            current.ports = []
            current.published = false
            try docker.upsert(current)
        }
    }

    /// Removes the endpoint's interface from the host (dockerd still has it in the sandbox:
    /// deleting the veth's host end takes both). Unknown is success.
    public func leaveDocker(networkID: String, endpointID: String) throws {
        try unpublishDockerPorts(networkID: networkID, endpointID: endpointID)
        guard let endpoint = try docker.endpoint(id: endpointID),
              let record = try docker.network(id: endpoint.networkID), let carried = try tables.network(record.network) else { return }
        if case .driver(let driver) = try backend(carried) { try driver.removeHandOff(attachmentID(carried, endpoint)) }
        try store.database.immediateTransaction {
            guard var current = try docker.endpoint(id: endpointID) else { return }
            current.sandboxKey = nil
            try docker.upsert(current)
        }
    }

    /// Forgets an endpoint, removing whatever of it is left (a macvlan dockerd gave back after
    /// Leave). Unknown is success.
    public func deleteDockerEndpoint(networkID: String, endpointID: String) throws {
        try leaveDocker(networkID: networkID, endpointID: endpointID)
        try docker.deleteEndpoint(id: endpointID)
    }

    // MARK: Pieces

    private func dockerNetwork(_ networkID: String) throws -> (DockerNetworkRecord, NetworkRecord) {
        guard let record = try docker.network(id: networkID) else { throw NetworkError.invalid("NetworkID", networkID, "no such network") }
        guard let carried = try tables.network(record.network) else {
            throw NetworkError(code: .notFound, message: "netctl network \"\(record.network)\" that carries Docker network \(networkID.prefix(12)) is gone")
        }
        return (record, carried)
    }

    private func dockerEndpoint(_ networkID: String, _ endpointID: String) throws -> (DockerNetworkRecord, NetworkRecord, DockerEndpointRecord) {
        let (record, carried) = try dockerNetwork(networkID)
        guard let endpoint = try docker.endpoint(id: endpointID), endpoint.networkID == networkID else {
            throw NetworkError.invalid("EndpointID", endpointID, "no such endpoint on network \(networkID.prefix(12))")
        }
        return (record, carried, endpoint)
    }

    /// The key of everything netctl makes for the endpoint: the carrying network's, Docker's
    /// endpoint ID as the container, the interface handed to dockerd.
    func attachmentID(_ carried: NetworkRecord, _ endpoint: DockerEndpointRecord) -> AttachmentID {
        AttachmentID(network: Self.stateKey(carried.name), containerID: endpoint.id, interface: endpoint.handOffName)
    }

    /// The endpoint's addresses with the gateway of their subnet.
    private func ipConfiguration(_ carried: NetworkRecord, _ endpoint: DockerEndpointRecord) throws -> IPConfiguration {
        IPConfiguration(assignments: endpoint.addresses.map { address in
            let gateway = carried.subnets.first { $0.subnet.contains(address.address) }?.gateway
            return IPConfiguration.Assignment(address: address, gateway: gateway)
        })
    }

    /// The bindings as mappings, a host port chosen for each that names none (the one chosen
    /// before, when dockerd asks again).
    private func choosePorts(_ bindings: [DockerPortBinding], for endpointID: String) throws -> [PortMapping] {
        let before = try docker.endpoint(id: endpointID)?.ports ?? []
        var taken = try tables.endpointsPublishingPorts().flatMap(\.ports)
            + docker.endpoints().filter { $0.id != endpointID }.flatMap(\.ports)
        var mappings: [PortMapping] = []
        for binding in bindings {
            var hostPort = binding.hostPort
            if hostPort == 0 || binding.hostPortEnd > binding.hostPort {
                let range: ClosedRange<UInt16>? = hostPort == 0 ? nil : hostPort...max(hostPort, binding.hostPortEnd)
                let chosenBefore = before.first { earlier in
                    earlier.transport == binding.transport && earlier.hostIP == binding.hostIP
                        && earlier.containerPorts.lowerBound == binding.containerPort && range.map { $0.contains(earlier.hostPorts.lowerBound) } ?? true
                        && !mappings.contains { $0.sharesAHostPort(with: earlier) }
                }
                hostPort = try chosenBefore?.hostPorts.lowerBound ?? FreeHostPort.choose(binding.transport, hostIP: binding.hostIP, from: range) { port in
                    taken.contains { $0.transport == binding.transport && $0.hostPorts.contains(port) }
                }
            }
            let mapping = try PortMapping(hostIP: binding.hostIP, hostPort: hostPort, containerPort: binding.containerPort, transport: binding.transport)
            taken.append(mapping)
            mappings.append(mapping)
        }
        return mappings
    }
}

extension Netctl {
    /// Docker's endpoints as the model shows endpoints: on the netctl network that carries
    /// them, in a sandbox named after Docker's container.
    func dockerEndpointsAsEndpoints(network: String?, sandbox: String?) throws -> [EndpointRecord] {
        var result: [EndpointRecord] = []
        for record in try docker.networks(carriedBy: network) {
            for endpoint in try docker.endpoints(networkID: record.id) {
                let shown = EndpointRecord(network: record.network, sandbox: endpoint.sandboxName, interface: "",
                                           addresses: endpoint.addresses, mac: endpoint.mac?.description, aliases: [],
                                           ports: endpoint.ports, dockerEndpointID: endpoint.id)
                if sandbox == nil || sandbox == shown.sandbox { result.append(shown) }
            }
        }
        return result
    }
}

extension DockerEndpointRecord {
    /// How netctl names the endpoint's sandbox: Docker's container name, or `docker:` and the
    /// endpoint's short ID until dockerd told the name.
    public var sandboxName: String { containerName ?? "docker:\(id.prefix(12))" }
}
