import Drivers
import IPAM
import NetCore

/// IpamDriver.RequestPool, as dockerd sends it.
public struct DockerPoolRequest: Sendable {
    public var pool: CIDR?
    public var subPool: CIDR?
    public var v6 = false
    /// `--ipam-opt`; `netctl.network=NAME` takes the pool from that netctl network.
    public var options: [String: String] = [:]

    public init() {}
}

/// The `--ipam-opt` that gives a Docker network the addresses of an existing netctl network.
public enum DockerOption {
    public static let network = "netctl.network"
    public static let driver = "netctl.driver"
}

extension Netctl {
    /// Hands dockerd a pool: the subnet asked for, the subnet of the netctl network named by
    /// `--ipam-opt netctl.network` (whose leases it then shares), or a free one (IPv4: from
    /// Docker's pools, avoiding the host's routes; IPv6: a unique local /64).
    ///
    /// - Throws: ``NetworkError`` naming `Pool`, `SubPool` or the option when the request
    ///   overlaps another network or pool, or names what does not exist.
    public func requestDockerPool(_ request: DockerPoolRequest) throws -> DockerPool {
        let family: IPAddress.Family = request.v6 ? .v6 : .v4
        if let pool = request.pool {
            guard pool.family == family else { throw NetworkError.invalid("Pool", pool.description, "is not an \(request.v6 ? "IPv6" : "IPv4") subnet") }
            guard pool.address == pool.networkAddress else {
                throw NetworkError.invalid("Pool", pool.description, "has host bits set; the network is \(pool.network)")
            }
        }
        if let subPool = request.subPool {
            guard let pool = request.pool, pool.contains(subPool.networkAddress), subPool.prefixLength >= pool.prefixLength else {
                throw NetworkError.invalid("SubPool", subPool.description, "is not inside the pool \(request.pool?.description ?? "(none)")")
            }
        }
        for key in request.options.keys.sorted() where key != DockerOption.network {
            throw NetworkError.invalid("--ipam-opt", key, "is not an option of netctl's IPAM (it takes: \(DockerOption.network))")
        }
        return try store.database.immediateTransaction {
            let bound = try boundNetwork(request, family: family)
            let subnet: CIDR
            if let bound {
                subnet = bound.subnet
            } else if let pool = request.pool {
                subnet = pool
                try checkPoolIsFree(pool)
            } else {
                subnet = try freeSubnet(family)
            }
            let pool = DockerPool(id: Self.poolID(subnet, subPool: request.subPool), subnet: subnet, subPool: request.subPool?.network,
                                  gateway: bound?.gateway, network: bound?.network)
            if try docker.pool(id: pool.id) != nil {
                throw NetworkError(code: .alreadyExists, message: "Pool \(subnet) is already held by another Docker network")
            }
            try docker.upsert(pool)
            return pool
        }
    }

    /// The pool's ID as dockerd sees it: `netctl/SUBNET[/SUBPOOL]`.
    static func poolID(_ subnet: CIDR, subPool: CIDR?) -> String {
        "netctl/\(subnet)" + (subPool.map { "/\($0.network)" } ?? "")
    }

    /// The netctl network (and its subnet of `family`) whose addresses the pool shares: the one
    /// named by the option, or the one whose subnet is exactly the requested pool.
    private func boundNetwork(_ request: DockerPoolRequest, family: IPAddress.Family) throws -> (network: String, subnet: CIDR, gateway: IPAddress?)? {
        let named = request.options[DockerOption.network]
        let candidates: [NetworkRecord]
        if let named {
            guard let network = try tables.network(named) else {
                throw NetworkError.invalid("--ipam-opt \(DockerOption.network)", named, "no such netctl network")
            }
            candidates = [network]
        } else {
            let made = Set(try docker.networks().filter(\.made).map(\.network))
            candidates = try tables.networks().filter { !made.contains($0.name) }
        }
        for network in candidates {
            for spec in network.subnets where spec.subnet.family == family && (request.pool.map { $0 == spec.subnet } ?? (named != nil)) {
                guard network.netctlMakesItsInterfaces else {
                    throw NetworkError.invalid("--ipam-opt \(DockerOption.network)", network.name,
                                               "is a \(network.driver) network; only bridge, macvlan and overlay networks can carry Docker's containers")
                }
                return (network.name, spec.subnet, spec.gateway)
            }
        }
        if let named {
            throw NetworkError.invalid("--ipam-opt \(DockerOption.network)", named,
                                       "has no \(family == .v4 ? "IPv4" : "IPv6") subnet\(request.pool.map { " \($0)" } ?? "")")
        }
        return nil
    }

    /// Refuses a pool that overlaps a netctl network or another pool, naming it.
    private func checkPoolIsFree(_ pool: CIDR) throws {
        for network in try tables.networks() {
            if let clash = network.subnets.first(where: { $0.subnet.overlaps(pool) }) {
                throw NetworkError.invalid("Pool", pool.description, "overlaps \(clash.subnet) of netctl network \"\(network.name)\"")
            }
        }
        if let clash = try docker.pools().first(where: { $0.subnet.overlaps(pool) }) {
            throw NetworkError.invalid("Pool", pool.description, "overlaps pool \(clash.subnet) of another Docker network")
        }
    }

    private func freeSubnet(_ family: IPAddress.Family) throws -> CIDR {
        let used = try tables.networks().flatMap { $0.subnets.map(\.subnet) } + docker.pools().map(\.subnet)
        if family == .v4 { return try SubnetSelector().select(family: .v4, used: used, hostRoutes: HostLinks.routeTable()) }
        while true {
            var generator = SystemRandomNumberGenerator()
            // fdXX:XXXX:XXXX::/64, 40 random bits as RFC 4193 asks.
            let bits = (0..<3).map { _ in String(generator.next() as UInt16, radix: 16) }
            let first = String(bits[0].suffix(2))
            let candidate = try CIDR(parsing: "fd\(first.count == 1 ? "0" + first : first):\(bits[1]):\(bits[2])::/64", field: "generated IPv6 pool")
            if !used.contains(where: { $0.overlaps(candidate) }) { return candidate }
        }
    }

    /// Gives a pool back, with every address still leased from it. An unknown pool is success.
    public func releaseDockerPool(id: String) throws {
        try store.database.immediateTransaction {
            guard let pool = try docker.pool(id: id) else { return }
            for lease in try dockerLeases(of: pool) { _ = try allocator().release(key: lease.key) }
            try docker.deletePool(id: id)
        }
    }

    /// An address of a pool for dockerd: the gateway when `gateway`, the one asked for, or the
    /// next free one (from the sub-pool when there is one).
    ///
    /// - Returns: the address with the pool's prefix length.
    /// - Throws: ``NetworkError`` naming `PoolID` or `Address`, and who holds a taken address.
    public func requestDockerAddress(pool id: String, address: IPAddress?, gateway: Bool) throws -> CIDR {
        try store.database.immediateTransaction {
            guard var pool = try docker.pool(id: id) else { throw NetworkError.invalid("PoolID", id, "no such pool") }
            if let address, !pool.subnet.contains(address) {
                throw NetworkError.invalid("Address", address.description, "is not inside the pool \(pool.subnet)")
            }
            if gateway {
                let chosen = try address ?? pool.gateway ?? firstHost(of: pool.subnet)
                if pool.network != nil, let fixed = pool.gateway, fixed != chosen {
                    throw NetworkError.invalid("Address", chosen.description, "is not the gateway of the netctl network (\(fixed))")
                }
                pool.gateway = chosen
                try docker.upsert(pool)
                return try CIDR(address: chosen, prefixLength: pool.subnet.prefixLength)
            }
            let key = try LeaseKey(network: pool.leaseNetwork, containerID: Self.dockerLeasePrefix + Self.newID().prefix(24), interface: .eth0)
            do {
                let lease = try allocator().allocate(key: key, rangeSets: [try rangeSet(of: pool, forRequested: address != nil)],
                                                     requested: address.map { [$0] } ?? [])
                guard let leased = lease.first else { throw NetworkError(code: .internalError, message: "no address leased from \(pool.subnet)") }
                return leased.address
            } catch let error as NetworkError where error.code == .alreadyExists {
                throw NetworkError(code: .alreadyExists, message: "Address \(address?.description ?? ""): \(try holder(of: address, in: pool))")
            } catch let error as NetworkError where error.code == .exhausted {
                throw NetworkError(code: .exhausted, message: "pool \(pool.subnet)\(pool.subPool.map { " (--ip-range \($0))" } ?? "") has no free address left")
            }
        }
    }

    /// Who holds a taken address, in words a Docker user can act on.
    private func holder(of address: IPAddress?, in pool: DockerPool) throws -> String {
        guard let address, let lease = try allocator().leases(network: pool.leaseNetwork).first(where: { $0.address.address == address }) else {
            return "is already in use"
        }
        if lease.key.containerID.hasPrefix(Self.dockerLeasePrefix) {
            if let endpoint = try docker.endpoints().first(where: { $0.addresses.contains { $0.address == address } }) {
                return "is already in use by Docker endpoint \(endpoint.id.prefix(12))\(endpoint.containerName.map { " (container \($0))" } ?? "")"
            }
            return "is already in use by another Docker endpoint or auxiliary address"
        }
        let sandbox = try tables.sandboxes().first { $0.id == lease.key.containerID }?.name ?? lease.key.containerID
        return "is already in use by netctl sandbox \"\(sandbox)\" (interface \(lease.key.interface))"
    }

    /// The addresses a pool hands out: its sub-pool (or subnet) for the next free one; the
    /// whole subnet for one asked for, as Docker allows `--ip` outside `--ip-range`.
    private func rangeSet(of pool: DockerPool, forRequested: Bool) throws -> RangeSet {
        if let network = pool.network, !forRequested, let bound = try tables.network(network) {
            if let set = try rangeSets(bound).first(where: { $0.family == pool.subnet.family && $0.ranges.contains { $0.subnet == pool.subnet } }) {
                return set
            }
        }
        let range = forRequested ? nil : pool.subPool
        return RangeSet(try AddressRange(subnet: pool.subnet, start: range?.networkAddress, end: range?.lastAddress, gateway: pool.gateway))
    }

    private func firstHost(of subnet: CIDR) throws -> IPAddress {
        guard let first = IPAddress(family: subnet.family, integerValue: subnet.networkAddress.integerValue + 1), subnet.contains(first) else {
            throw NetworkError.invalid("Pool", subnet.description, "has no room for a gateway")
        }
        return first
    }

    /// Gives an address back; the gateway, an unknown pool or an address not leased is success.
    /// An address a Docker endpoint still holds stays: dockerd releases after DeleteEndpoint,
    /// so such a holder is a new endpoint that got the address after `netctl gc` released it.
    public func releaseDockerAddress(pool id: String, address: IPAddress) throws {
        try store.database.immediateTransaction {
            guard let pool = try docker.pool(id: id),
                  try !docker.endpoints().contains(where: { $0.addresses.contains { $0.address == address } }) else { return }
            for lease in try dockerLeases(of: pool) where lease.address.address == address {
                _ = try allocator().release(key: lease.key)
            }
        }
    }

    /// The leases dockerd holds in a pool (a bound pool's network has netctl's own too).
    func dockerLeases(of pool: DockerPool) throws -> [Lease] {
        try allocator().leases(network: pool.leaseNetwork).filter { $0.key.containerID.hasPrefix(Self.dockerLeasePrefix) && pool.subnet.contains($0.address.address) }
    }
}

extension Netctl {
    /// What the leases of Docker's pools hold instead of a container ID (dockerd asks for an
    /// address before the endpoint exists).
    static let dockerLeasePrefix = "docker:"
}
