import NetCore

extension PortEntry {
    /// Checks `ports` against `network` and the host, and expands them port by port.
    ///
    /// Loopback host IPs are left out unless the network serves localhost by DNAT (IPv4
    /// only): the userland proxy serves them, see ``PublishedPort/isServedByDNAT(on:)``.
    ///
    /// - Parameters:
    ///   - hostAddresses: this host's addresses; `nil` skips the check (reload, where a
    ///     stored mapping must come back even if its address is briefly missing).
    ///   - claims: the entries already accepted in the same operation, which these must not
    ///     collide with; updated with the new ones.
    /// - Throws: ``NetworkError`` naming the port and the problem.
    static func entries(for ports: [PublishedPort], on network: FirewallNetwork,
                        hostAddresses: Set<IPAddress>?, claims: inout PortClaims) throws -> [PortEntry] {
        var entries: [PortEntry] = []
        for port in ports {
            guard let scope = try scope(of: port, on: network, hostAddresses: hostAddresses) else { continue }
            for hostPort in port.mapping.hostPorts {
                let entry = PortEntry(scope: scope, transport: port.mapping.transport, hostPort: hostPort,
                                      containerAddress: port.containerAddress,
                                      containerPort: port.mapping.containerPort(for: hostPort),
                                      servesLoopback: scope == .anyAddress && port.containerAddress.family == .v4
                                          && network.localhostDNAT,
                                      owner: port.owner)
                try claims.claim(entry, for: port)
                entries.append(entry)
            }
        }
        return entries
    }

    /// Expands `ports` for removal: no checks, and whatever publishing would have refused
    /// or left to the proxy is skipped, since there is nothing of it to remove.
    static func entriesForRemoval(of ports: [PublishedPort], on network: FirewallNetwork) -> [PortEntry] {
        var seen = Set<PortEntry>()
        var entries: [PortEntry] = []
        for port in ports {
            guard let hostIP = port.mapping.hostIP, hostIP.integerValue != 0 else {
                entries += expand(port, scope: .anyAddress, network: network).filter { seen.insert($0).inserted }
                continue
            }
            // Loopback entries may exist from a time the network had localhost DNAT.
            guard hostIP.family == port.containerAddress.family, hostIP != .v6(.loopback) else { continue }
            entries += expand(port, scope: .hostAddress(hostIP), network: network).filter { seen.insert($0).inserted }
        }
        return entries
    }

    private static func expand(_ port: PublishedPort, scope: Scope, network: FirewallNetwork) -> [PortEntry] {
        port.mapping.hostPorts.map { hostPort in
            PortEntry(scope: scope, transport: port.mapping.transport, hostPort: hostPort,
                      containerAddress: port.containerAddress, containerPort: port.mapping.containerPort(for: hostPort),
                      servesLoopback: scope == .anyAddress && port.containerAddress.family == .v4 && network.localhostDNAT,
                      owner: port.owner)
        }
    }

    /// The scope `port` is published with, or `nil` when DNAT does not serve it.
    private static func scope(of port: PublishedPort, on network: FirewallNetwork,
                              hostAddresses: Set<IPAddress>?) throws -> Scope? {
        if network.isInternal {
            throw NetworkError.invalid("network", network.name, "is internal: nothing outside it can reach a published port")
        }
        let container = port.containerAddress
        guard network.contains(container) else {
            let subnets = network.subnets.map(\.description).joined(separator: ", ")
            throw NetworkError.invalid("container address", container.description,
                                       "is not in network \"\(network.name)\" (\(subnets.isEmpty ? "no subnets" : subnets))")
        }
        guard let hostIP = port.mapping.hostIP, hostIP.integerValue != 0 else {
            if let hostIP = port.mapping.hostIP, hostIP.family != container.family {
                throw familyMismatch(port, hostIP)
            }
            return .anyAddress
        }
        guard hostIP.family == container.family else { throw familyMismatch(port, hostIP) }
        if hostIP.isLoopback {
            return hostIP.family == .v4 && network.localhostDNAT ? .hostAddress(hostIP) : nil
        }
        if let hostAddresses, !hostAddresses.contains(hostIP) {
            throw NetworkError.invalid("host IP in \"\(port.mapping)\"", hostIP.description, "is not an address of this host")
        }
        return .hostAddress(hostIP)
    }

    private static func familyMismatch(_ port: PublishedPort, _ hostIP: IPAddress) -> NetworkError {
        NetworkError(code: .unsupported, message:
            "cannot publish \"\(port.mapping)\" by DNAT: host IP \(hostIP) is \(hostIP.family) but the container address \(port.containerAddress) is \(port.containerAddress.family); the userland proxy serves it")
    }
}

/// The (family, scope, protocol, host port) claims of one operation, so a request (or a
/// stored state) that publishes one port twice is refused before anything is sent.
struct PortClaims {
    private typealias Owner = (entry: PortEntry, port: PublishedPort)
    private var owners: [PortEntry.Claim: Owner] = [:]
    /// One host-address owner per port, keyed by its any-address claim, for overlap checks.
    private var hostAddressOwners: [PortEntry.Claim: Owner] = [:]

    /// Records `entry`, published by `port`.
    ///
    /// - Throws: ``NetworkError`` `.alreadyExists` naming both mappings when the port is
    ///   taken, including an any-address claim against a host-address one.
    mutating func claim(_ entry: PortEntry, for port: PublishedPort) throws {
        if let other = owners[entry.claim] ?? overlapping(entry) {
            guard other.port.owner != port.owner else {
                throw NetworkError.invalid("port mapping", port.mapping.description,
                                           "takes port \(entry.hostDescription), as \"\(other.port.mapping)\" of the same container (\(port.owner)) does")
            }
            throw NetworkError(code: .alreadyExists, message:
                "port \(entry.hostDescription) of \"\(port.mapping)\" (\(port.owner)) is also published by \"\(other.port.mapping)\" (\(other.port.owner))")
        }
        owners[entry.claim] = (entry, port)
        if entry.scope != .anyAddress { hostAddressOwners[Self.anyAddressClaim(entry)] = (entry, port) }
    }

    private func overlapping(_ entry: PortEntry) -> Owner? {
        switch entry.scope {
        case .hostAddress: owners[Self.anyAddressClaim(entry)]
        case .anyAddress: hostAddressOwners[entry.claim]
        }
    }

    private static func anyAddressClaim(_ entry: PortEntry) -> PortEntry.Claim {
        var claim = entry.claim
        claim.scope = .anyAddress
        return claim
    }
}

extension PublishedPort {
    /// Whether the firewall serves this port by DNAT on `network`. The rest is the userland
    /// proxy's job: loopback host IPs unless the network has localhost DNAT (IPv4 only),
    /// and a host IP of the other family than the container's.
    public func isServedByDNAT(on network: FirewallNetwork) -> Bool {
        guard let hostIP = mapping.hostIP else { return true }
        guard hostIP.family == containerAddress.family else { return false }
        return !hostIP.isLoopback || (hostIP.family == .v4 && network.localhostDNAT)
    }
}
