import NetCore

/// A Docker network the plugin serves, and the netctl network that carries it.
public struct DockerNetworkRecord: Sendable, Hashable {
    /// Docker's network ID.
    public var id: String
    /// The netctl network.
    public var network: String
    /// Whether the netctl network was made for Docker (and goes with it), or given with
    /// `-o netctl.network` (and stays).
    public var made: Bool
    /// Docker's name for it, once asked of dockerd (the plugin API does not send it).
    public var name: String?
}

/// A Docker endpoint from CreateEndpoint to DeleteEndpoint.
public struct DockerEndpointRecord: Sendable, Hashable {
    /// Docker's endpoint ID.
    public var id: String
    public var networkID: String
    /// What dockerd's IPAM gave it (dockerd configures them in the sandbox).
    public var addresses: [CIDR]
    public var mac: MACAddress?
    /// `com.docker.network.portmap`, each with the host port chosen when Docker sent 0.
    public var ports: [PortMapping]
    /// The sandbox's namespace path, from Join to Leave.
    public var sandboxKey: String?
    /// Whether its ports are published (ProgramExternalConnectivity until Revoke).
    public var published = false
    /// Docker's container name, once asked of dockerd.
    public var containerName: String?

    /// The interface the plugin makes and dockerd moves into the sandbox (Join's `SrcName`):
    /// `nc` and 13 digits of the endpoint ID, unique on the host and at most 15 bytes.
    public var handOffName: InterfaceName {
        (try? InterfaceName("nc" + id.prefix(13))) ?? .eth0
    }
}

/// An IPAM pool handed to dockerd (RequestPool until ReleasePool).
public struct DockerPool: Sendable, Hashable {
    /// The pool's ID: its subnet, with the sub-pool after `/` when there is one.
    public var id: String
    public var subnet: CIDR
    /// `--ip-range`: addresses are handed out from here only.
    public var subPool: CIDR?
    /// The gateway, once dockerd asked for it.
    public var gateway: IPAddress?
    /// The netctl network whose subnet the pool is (its leases are that network's), or `nil`
    /// for a pool of its own.
    public var network: String?

    /// Where its leases are kept: the netctl network's, or the pool's own.
    public var leaseNetwork: String {
        network.map(Netctl.stateKey) ?? "docker-pool:\(id)"
    }
}

extension DockerNetworkRecord {
    var json: JSON {
        var object: JSONObject = ["Id": .string(id), "Network": .string(network), "Made": .bool(made)]
        if let name { object["Name"] = .string(name) }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let id = json["Id"]?.stringValue, let network = json["Network"]?.stringValue else {
            throw NetworkError(code: .internalError, message: "stored Docker network is malformed: \(json)")
        }
        self.init(id: id, network: network, made: json["Made"]?.boolValue ?? false, name: json["Name"]?.stringValue)
    }
}

extension DockerEndpointRecord {
    var json: JSON {
        var object: JSONObject = ["Id": .string(id), "NetworkId": .string(networkID),
                                  "Addresses": .array(addresses.map { .string($0.description) }),
                                  "Ports": .array(ports.map { .string($0.description) }), "Published": .bool(published)]
        if let mac { object["MacAddress"] = .string(mac.description) }
        if let sandboxKey { object["SandboxKey"] = .string(sandboxKey) }
        if let containerName { object["ContainerName"] = .string(containerName) }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let id = json["Id"]?.stringValue, let networkID = json["NetworkId"]?.stringValue else {
            throw NetworkError(code: .internalError, message: "stored Docker endpoint is malformed: \(json)")
        }
        self.init(id: id, networkID: networkID,
                  addresses: try (json["Addresses"]?.arrayValue ?? []).map { try CIDR(parsing: $0.stringValue ?? "", field: "stored address") },
                  mac: try json["MacAddress"]?.stringValue.map { try MACAddress(parsing: $0) },
                  ports: try (json["Ports"]?.arrayValue ?? []).map { try PortMapping(parsing: $0.stringValue ?? "") },
                  sandboxKey: json["SandboxKey"]?.stringValue, published: json["Published"]?.boolValue ?? false,
                  containerName: json["ContainerName"]?.stringValue)
    }
}

extension DockerPool {
    var json: JSON {
        var object: JSONObject = ["Id": .string(id), "Subnet": .string(subnet.description)]
        if let subPool { object["SubPool"] = .string(subPool.description) }
        if let gateway { object["Gateway"] = .string(gateway.description) }
        if let network { object["Network"] = .string(network) }
        return .object(object)
    }

    init(json: JSON) throws {
        guard let id = json["Id"]?.stringValue, let subnet = json["Subnet"]?.stringValue else {
            throw NetworkError(code: .internalError, message: "stored Docker pool is malformed: \(json)")
        }
        self.init(id: id, subnet: try CIDR(parsing: subnet, field: "stored pool"),
                  subPool: try json["SubPool"]?.stringValue.map { try CIDR(parsing: $0, field: "stored sub-pool") },
                  gateway: try json["Gateway"]?.stringValue.map { try IPAddress(parsing: $0, field: "stored gateway") },
                  network: json["Network"]?.stringValue)
    }
}
