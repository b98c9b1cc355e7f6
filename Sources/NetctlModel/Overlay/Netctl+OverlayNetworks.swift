#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

extension Netctl {
    /// `network create --driver overlay`: the network goes into etcd (through netctld, with the
    /// endpoints this host's agent uses), every agent takes a share of it, and this call returns
    /// once this host's agent has made it here.
    func createOverlayNetwork(_ request: NetworkRequest) throws -> NetworkRecord {
        try Self.validateName(request.name, field: "network name")
        let config = try overlayConfig(for: request)
        _ = try runningOverlayAgent()
        if try tables.network(request.name) != nil {
            throw NetworkError(code: .alreadyExists, message: "network \"\(request.name)\" already exists")
        }
        _ = try overlayControl(["create", "--name", request.name, "--config", config.json.serialized()])
        return try waitForOverlayAgent("to make network \"\(request.name)\" on this host") { try tables.network(request.name) }
    }

    /// `network rm` of an overlay network: gone from every host once none has endpoints on it;
    /// refused, naming the hosts, while some do. `force` disconnects this host's endpoints first.
    func removeOverlayEverywhere(_ network: NetworkRecord, force: Bool) throws {
        _ = try runningOverlayAgent()
        if force {
            for endpoint in try tables.endpoints(network: network.name) { try disconnect(network: network.name, sandbox: endpoint.sandbox, force: true) }
        }
        // This host's endpoints are known here and now; the other hosts' come from their shares.
        let local = try overlayEndpointCounts()[network.name] ?? 0
        _ = try overlayControl(["remove", "--name", network.name, "--id", network.id, "--local-endpoints", String(local)])
        _ = try waitForOverlayAgent("to take network \"\(network.name)\" off this host") {
            try tables.network(network.name) == nil ? true : nil
        }
    }

    /// The agent of this host, which must be running for an overlay operation.
    private func runningOverlayAgent() throws -> OverlayAgentRecord {
        guard let agent = try overlayAgent() else {
            throw NetworkError(code: .unsupported, message: "overlay networks need an agent and an etcd store: no overlay agent has run on this host (start one: netctl agent --store URL --advertise UNDERLAY_IP)")
        }
        guard agent.isRunning else {
            throw NetworkError(code: .unsupported, message: "the overlay agent of this host is not running (it used etcd at \(agent.endpoints.joined(separator: ","))): start it again with netctl agent")
        }
        return agent
    }

    /// Polls the store until `done` gives a value: the agent applies what etcd says within
    /// milliseconds; five seconds means it is stuck, and the operation is said to be half done.
    private func waitForOverlayAgent<T>(_ what: String, _ done: () throws -> T?) throws -> T {
        for _ in 0..<500 {
            if let value = try done() { return value }
            usleep(10_000)
        }
        throw NetworkError(code: .busy, message: "etcd has the change, but this host's overlay agent did not manage \(what) within 5 s: see its log")
    }

    /// The request as the network's config in etcd, every field checked here first.
    private func overlayConfig(for request: NetworkRequest) throws -> OverlayNetworkConfig {
        guard request.subnets.count == 1, let subnet = request.subnets.first, subnet.family == .v4 else {
            throw NetworkError.invalid(names.subnet, request.subnets.map(\.description).joined(separator: ",").isEmpty ? "(none)" : request.subnets.map(\.description).joined(separator: ","),
                                       "an overlay network takes exactly one IPv4 subnet, which each host gets a share of")
        }
        guard subnet.address == subnet.networkAddress else {
            throw NetworkError.invalid(names.subnet, subnet.description, "has host bits set; the network is \(subnet.network)")
        }
        if !request.ipRanges.isEmpty || !request.gateways.isEmpty || !request.auxAddresses.isEmpty || request.ipv6 {
            throw NetworkError.invalid(names.driver, "overlay", "takes no \(names.ipRange), \(names.gateway), \(names.auxAddress) or \(names.ipv6): each host's gateway is the first address of its share")
        }
        let known = NetworkOption.known(for: .overlay)
        for key in request.options.keys.sorted() where !known.contains(key) {
            throw NetworkError.invalid(names.option, key, "is not an option of the overlay driver (it takes: \(known.sorted().joined(separator: ", ")))")
        }
        let shareLength: Int = try request.options[OverlayOption.hostSubnetSize].map { text -> Int in
            guard let value = Int(text), value > subnet.prefixLength, value <= 30 else {
                throw NetworkError.invalid(names.option(OverlayOption.hostSubnetSize), text, "must be a prefix length from \(subnet.prefixLength + 1) to 30")
            }
            return value
        } ?? OverlayNetworkConfig.defaultShareLength(for: subnet)
        guard shareLength > subnet.prefixLength else {
            throw NetworkError.invalid(names.subnet, subnet.description, "is too small to share between hosts: give a /28 or larger")
        }
        let vni: UInt32 = try request.options[OverlayOption.vni].map { text -> UInt32 in
            guard let value = UInt32(text), (1...16_777_215).contains(value) else {
                throw NetworkError.invalid(names.option(OverlayOption.vni), text, "must be a VXLAN network identifier from 1 to 16777215")
            }
            return value
        } ?? 0 // chosen by netctld: the first free one from 4096
        let port: UInt16 = try request.options[OverlayOption.port].map { text -> UInt16 in
            guard let value = UInt16(text), value > 0 else {
                throw NetworkError.invalid(names.option(OverlayOption.port), text, "must be a UDP port from 1 to 65535")
            }
            return value
        } ?? OverlayNetworkConfig.defaultPort
        let mtu: UInt32? = try request.options[NetworkOption.mtu].map { text -> UInt32 in
            guard let value = UInt32(text), (68...65535).contains(value) else {
                throw NetworkError.invalid(names.option(NetworkOption.mtu), text, "must be a number from 68 to 65535")
            }
            return value
        }
        return OverlayNetworkConfig(id: request.fixedID ?? Self.newID(), subnet: subnet, shareLength: shareLength, vni: vni, port: port,
                                    mtu: mtu, isInternal: request.isInternal, labels: request.labels, created: Self.now())
    }
}
