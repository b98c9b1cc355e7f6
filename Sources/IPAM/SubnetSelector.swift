import NetCore

/// Picks a subnet for a network created without `--subnet`: the first subnet of the pools, in
/// order, that neither another network uses nor a host route covers or falls inside — so a VPN
/// or LAN route is never shadowed by a container bridge.
public struct SubnetSelector: Sendable {
    public let pools: [AddressPool]

    /// - Parameter pools: tried in order; Docker's defaults unless configured.
    public init(pools: [AddressPool] = AddressPool.dockerDefaults) {
        self.pools = pools
    }

    /// The most candidate subnets examined in one pool, so an IPv6 pool of 2^64 subnets
    /// cannot turn selection into an endless loop.
    static let maximumCandidatesPerPool: UInt128 = 65_536

    /// - Parameters:
    ///   - family: the family wanted; pools of the other family are skipped.
    ///   - used: subnets of existing networks.
    ///   - hostRoutes: the host's routes; default routes (prefix 0) are ignored.
    /// - Returns: a free subnet.
    /// - Throws: ``NetworkError`` with code `exhausted` listing the pools when none is free;
    ///   whatever `hostRoutes` throws.
    public func select(family: IPAddress.Family = .v4, used: [CIDR], hostRoutes: some HostRoutes) throws -> CIDR {
        let taken = used + (try hostRoutes.routeDestinations()).filter { $0.prefixLength > 0 }
        for pool in pools where pool.base.family == family {
            var index: UInt128 = 0
            while index < min(pool.subnetCount, Self.maximumCandidatesPerPool) {
                defer { index += 1 }
                guard let candidate = pool.subnet(at: index) else { break }
                if !taken.contains(where: { $0.network.overlaps(candidate) }) { return candidate }
            }
        }
        let names = pools.filter { $0.base.family == family }.map(\.description).joined(separator: ", ")
        throw NetworkError(
            code: .exhausted,
            message: "no free \(family) subnet left in the address pools (\(names.isEmpty ? "none configured" : names)); "
                + "pass a subnet explicitly or configure more pools")
    }
}
