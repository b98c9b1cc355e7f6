import Drivers
import NetCore

/// NetworkDriver.CreateNetwork, as dockerd sends it.
public struct DockerNetworkRequest: Sendable {
    /// One entry of `IPv4Data` / `IPv6Data`: the pool and gateway dockerd's IPAM gave.
    public struct AddressData: Sendable {
        public var pool: CIDR
        public var gateway: CIDR?
        public var auxAddresses: [String: CIDR]

        public init(pool: CIDR, gateway: CIDR? = nil, auxAddresses: [String: CIDR] = [:]) {
            self.pool = pool
            self.gateway = gateway
            self.auxAddresses = auxAddresses
        }
    }

    public var networkID: String
    /// `com.docker.network.generic`: the `-o key=value` options.
    public var options: [String: String] = [:]
    public var ipv6 = false
    public var isInternal = false
    public var addressData: [AddressData] = []

    public init(networkID: String) {
        self.networkID = networkID
    }
}

extension Netctl {
    /// The Docker networks the plugin serves.
    public func dockerNetworks() throws -> [DockerNetworkRecord] { try docker.networks() }

    /// Creates the netctl network that carries a Docker network (`-o netctl.driver`, bridge by
    /// default, named `docker-` and 12 digits of Docker's ID, its bridge named as Docker's
    /// bridge driver names its own), or takes the netctl network named by `-o netctl.network`.
    /// Repeating it for a network already served is success.
    ///
    /// - Throws: ``NetworkError`` naming the `-o` option, `--subnet` or `--gateway` at fault.
    public func createDockerNetwork(_ request: DockerNetworkRequest) throws {
        try Self.validateDockerID(request.networkID, field: "NetworkID")
        // The network's rules go back out of the ruleset when its records do not commit.
        try UndoStack.transaction { uncommitted in try store.database.immediateTransaction {
            if try docker.network(id: request.networkID) != nil { return }
            if let given = request.options[DockerOption.network] {
                try adoptForDocker(given, request)
                try docker.upsert(DockerNetworkRecord(id: request.networkID, network: given, made: false))
                return
            }
            var options = request.options
            let driverName = options.removeValue(forKey: DockerOption.driver) ?? "bridge"
            let driver = try DriverKind(parsing: driverName, field: "-o \(DockerOption.driver)")
            guard driver == .bridge || driver == .macvlan else {
                throw NetworkError.invalid("-o \(DockerOption.driver)", driverName, "must be bridge or macvlan")
            }
            let known = NetworkOption.known(for: driver)
            for key in options.keys.sorted() where !known.contains(key) {
                let takes = (known.sorted() + [DockerOption.driver, DockerOption.network]).joined(separator: ", ")
                throw NetworkError.invalid("-o \(key)", options[key] ?? "", "is not an option of netctl's \(driver) driver (it takes: \(takes))")
            }
            var network = NetworkRequest(name: "docker-" + request.networkID.prefix(12), driver: driver)
            network.fixedID = request.networkID
            // Docker's own resolver (127.0.0.11) serves its containers.
            network.dnsEnabled = false
            network.options = options
            network.isInternal = request.isInternal
            network.ipv6 = request.ipv6
            for data in request.addressData {
                network.subnets.append(data.pool)
                if let gateway = data.gateway?.address { network.gateways.append(gateway) }
                for (name, address) in data.auxAddresses { network.auxAddresses[name] = address.address }
            }
            let record = try createNetwork(network, ifNotCommitted: &uncommitted)
            try docker.upsert(DockerNetworkRecord(id: request.networkID, network: record.name, made: true))
        } }
    }

    /// Checks that the netctl network `name` can carry the Docker network: it exists, makes
    /// its interfaces, and dockerd's pools are its subnets.
    private func adoptForDocker(_ name: String, _ request: DockerNetworkRequest) throws {
        let field = "-o \(DockerOption.network)"
        guard let network = try tables.network(name) else { throw NetworkError.invalid(field, name, "no such netctl network") }
        guard network.netctlMakesItsInterfaces else {
            throw NetworkError.invalid(field, name, "is a \(network.driver) network; only bridge, macvlan and overlay networks can carry Docker's containers")
        }
        if try docker.networks().contains(where: { $0.network == name && $0.made }) {
            throw NetworkError.invalid(field, name, "was made for another Docker network")
        }
        let others = request.options.keys.filter { $0 != DockerOption.network }.sorted()
        if let other = others.first {
            throw NetworkError.invalid("-o \(other)", request.options[other] ?? "", "does not apply with \(field): the network is taken as it is")
        }
        let subnets = network.subnets.map(\.subnet)
        for data in request.addressData where !subnets.contains(data.pool) {
            throw NetworkError.invalid("--subnet", data.pool.description,
                                       "is not a subnet of netctl network \"\(name)\" (\(subnets.map(\.description).joined(separator: ", "))): create the Docker network with those, and --ipam-driver netctl to share its addresses")
        }
    }

    /// Stops serving a Docker network: the netctl network made for it goes (its bridge and
    /// rules), one given with `-o netctl.network` stays. Unknown is success.
    public func deleteDockerNetwork(id: String) throws {
        guard let record = try docker.network(id: id) else { return }
        for endpoint in try docker.endpoints(networkID: id) { try deleteDockerEndpoint(networkID: id, endpointID: endpoint.id) }
        try store.database.immediateTransaction {
            try docker.deleteNetwork(id: id)
            if record.made { try removeNetwork(record.network) }
        }
    }

    /// Records the names dockerd gave a network and its containers (the plugin API sends only
    /// IDs): `netctl network ls` and `port ls` show them.
    public func recordDockerNames(networkID: String, name: String?, containers: [String: String]) throws {
        try store.database.immediateTransaction {
            if var network = try docker.network(id: networkID), let name, network.name != name {
                network.name = name
                try docker.upsert(network)
            }
            for (endpointID, container) in containers {
                guard var endpoint = try docker.endpoint(id: endpointID), endpoint.containerName != container else { continue }
                endpoint.containerName = container
                try docker.upsert(endpoint)
            }
        }
    }

    /// Refuses to remove (through netctl) a network Docker holds.
    func refuseIfDockerHolds(_ network: NetworkRecord) throws {
        let holders = try docker.networks(carriedBy: network.name)
        guard let holder = holders.first else { return }
        let name = holder.name ?? String(holder.id.prefix(12))
        throw NetworkError(code: .busy, message: holder.made
            ? "network \"\(network.name)\" is Docker network \"\(name)\": remove it with `docker network rm \(name)`"
            : "network \"\(network.name)\" carries Docker network \"\(name)\": remove that first (`docker network rm \(name)`)")
    }

    /// Docker's IDs are hex digits; anything else never came from dockerd.
    static func validateDockerID(_ id: String, field: String) throws {
        guard !id.isEmpty, id.utf8.count <= 128, id.utf8.allSatisfy({ byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
        }) else {
            throw NetworkError.invalid(field, id, "must be an ID of letters and digits, as dockerd sends")
        }
    }
}
