import NetCore
import NetctlModel

/// The calls whose request or answer has more to it than IDs.
extension PluginHandler {
    func createNetwork(_ request: PluginRequest) throws -> PluginResponse {
        let id = try request.string("NetworkID")
        var network = DockerNetworkRequest(networkID: id)
        let options = request.body["Options"]
        network.options = try request.stringMap("com.docker.network.generic", in: options)
        network.ipv6 = try request.bool("com.docker.network.enable_ipv6", in: options)
        network.isInternal = try request.bool("com.docker.network.internal", in: options)
        for field in ["IPv4Data", "IPv6Data"] {
            for entry in request.body[field]?.arrayValue ?? [] {
                guard let pool = try request.cidr("Pool", in: entry) else { throw NetworkError.invalid("\(request.method) \(field) Pool", "", "must be a subnet") }
                var data = DockerNetworkRequest.AddressData(pool: pool.network, gateway: try request.cidr("Gateway", in: entry))
                for (name, text) in try request.stringMap("AuxAddresses", in: entry) {
                    guard let address = CIDR(text) else { throw NetworkError.invalid("--aux-address", "\(name)=\(text)", "is not an address") }
                    data.auxAddresses[name] = address
                }
                network.addressData.append(data)
            }
        }
        try model.createDockerNetwork(network)
        namesWanted(id)
        return .ok()
    }

    func createEndpoint(_ request: PluginRequest) throws -> PluginResponse {
        let interface = request.body["Interface"]
        let addresses = try [request.cidr("Address", in: interface), request.cidr("AddressIPv6", in: interface)].compactMap { $0 }
        let mac = try request.optionalString("MacAddress", in: interface).map { try MACAddress(parsing: $0, field: "--mac-address") }
        try model.createDockerEndpoint(networkID: try request.string("NetworkID"), endpointID: try request.string("EndpointID"),
                                       addresses: addresses, mac: mac)
        // Nothing to add: the addresses are dockerd's, and a MAC it did not ask for is the kernel's.
        return .ok()
    }

    func join(_ request: PluginRequest) throws -> PluginResponse {
        let networkID = try request.string("NetworkID")
        let joined = try model.joinDocker(networkID: networkID, endpointID: try request.string("EndpointID"),
                                          sandboxKey: try request.string("SandboxKey"))
        var answer: JSONObject = ["InterfaceName": ["SrcName": .string(joined.interface.rawValue), "DstPrefix": "eth"]]
        if let gateway = joined.gateway { answer["Gateway"] = .string(gateway.description) }
        if let gateway = joined.gatewayIPv6 { answer["GatewayIPv6"] = .string(gateway.description) }
        if joined.disableGatewayService { answer["DisableGatewayService"] = true }
        namesWanted(networkID)
        return .ok(answer)
    }

    /// What netctl knows of the endpoint; dockerd shows none of it (moby/libnetwork#2451), but
    /// `docker network inspect` callers and `netctl port ls` can.
    func endpointInfo(_ request: PluginRequest) throws -> PluginResponse {
        let endpointID = try request.string("EndpointID")
        guard let endpoint = try model.dockerEndpoints().first(where: { $0.id == endpointID }) else { return .ok(["Value": [:]]) }
        var value: JSONObject = ["netctl.interface": .string(endpoint.handOffName.rawValue)]
        if !endpoint.ports.isEmpty { value["netctl.ports"] = .array(endpoint.ports.map { .string($0.description) }) }
        return .ok(["Value": .object(value)])
    }

    func requestPool(_ request: PluginRequest) throws -> PluginResponse {
        var pool = DockerPoolRequest()
        pool.pool = try request.cidr("Pool")
        pool.subPool = try request.cidr("SubPool")
        pool.v6 = try request.bool("V6")
        pool.options = try request.stringMap("Options")
        let granted = try model.requestDockerPool(pool)
        return .ok(["PoolID": .string(granted.id), "Pool": .string(granted.subnet.description), "Data": [:]])
    }

    func requestAddress(_ request: PluginRequest) throws -> PluginResponse {
        let options = try request.stringMap("Options")
        let address = try model.requestDockerAddress(pool: try request.string("PoolID"), address: try request.address("Address"),
                                                     gateway: options["RequestAddressType"] == "com.docker.network.gateway")
        return .ok(["Address": .string(address.description), "Data": [:]])
    }
}
