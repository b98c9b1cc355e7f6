#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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
    /// The endpoint row, with its interface name, is reserved first in one store transaction:
    /// of concurrent connects of one sandbox to one network exactly one goes on, and concurrent
    /// connects of one sandbox to several networks get distinct interfaces.
    ///
    /// - Throws: ``NetworkError``: `.alreadyExists` when already connected, `.invalidArgument`
    ///   naming a bad address, alias or port, `.unsupported` for ports on a driver without them
    ///   and for an interface into the host's namespace (a `--network host` sandbox).
    public func connect(network name: String, sandbox nameOrPath: String, _ request: ConnectRequest = ConnectRequest()) throws -> EndpointRecord {
        let network = try network(name)
        try validate(request, for: network)
        let sandbox = try sandbox(forConnecting: nameOrPath) { path in try checkNamespace(path, named: nameOrPath, for: network) }
        var endpoint: EndpointRecord
        do {
            endpoint = try reserveEndpoint(network, sandbox, request)
        } catch is AbandonedConnect {
            // What a connect killed before it finished made, taken down; then this one goes on.
            try disconnect(network: network.name, sandbox: sandbox.name, force: true)
            endpoint = try reserveEndpoint(network, sandbox, request)
        }
        do {
            switch network.driver {
            case .null, .host:
                break
            case .bridge, .macvlan:
                let interface = try InterfaceName(endpoint.interface)
                let namespace = try NetNamespace.open(path: sandbox.path)
                try Self.whileLocking(namespace) {
                    try UndoStack.transaction { undo in
                        endpoint = try attach(network, sandbox, namespace, interface, request, endpoint, undo: &undo)
                        endpoint.reservedBy = nil
                        try tables.update(endpoint)
                    }
                }
            case .cni(let type):
                let cni = CNINetwork(network: network, type: type)
                let linksMade = cni.linksMadeProbe()
                defer { try? recordCreatedLinks(linksMade(), of: network) }
                let namespace = try NetNamespace.open(path: sandbox.path)
                try Self.whileLocking(namespace) {
                    do {
                        let attached = try cni.add(sandbox, namespace: namespace, interface: endpoint.interface, request: request)
                        endpoint.addresses = attached.addresses
                        endpoint.mac = attached.mac
                        endpoint.reservedBy = nil
                        try tables.update(endpoint)
                    } catch {
                        try? cni.delete(sandbox, interface: endpoint.interface)
                        throw error
                    }
                }
            }
        } catch {
            try? tables.deleteEndpoint(network: network.name, sandbox: sandbox.name)
            throw error
        }
        return endpoint
    }

    /// Refuses an interface into the host's namespace, and a host network for a sandbox of
    /// its own namespace.
    private func checkNamespace(_ path: String, named sandbox: String, for network: NetworkRecord) throws {
        switch network.driver {
        case .null:
            return
        case .host:
            guard try Self.isHostNamespace(path) else {
                throw NetworkError.invalid("sandbox", sandbox, "has a namespace of its own; only a sandbox made with --network host joins the host network")
            }
        case .bridge, .macvlan, .cni:
            if try Self.isHostNamespace(path) {
                throw NetworkError(code: .unsupported, message:
                    "sandbox \"\(sandbox)\" is in the host's network namespace (--network host): connecting it to \(network.driver) network \"\(network.name)\" would put an interface into the host namespace")
            }
        }
    }

    /// Inserts the endpoint row with the first free interface name, in one transaction with
    /// the "already connected" check; the row is updated once the driver has done its work.
    private func reserveEndpoint(_ network: NetworkRecord, _ sandbox: SandboxRecord, _ request: ConnectRequest) throws -> EndpointRecord {
        let present = presentLinks(in: sandbox, for: network)
        return try store.database.immediateTransaction {
            guard let current = try tables.network(network.name), current.id == network.id else { throw Self.notFound("network", network.name) }
            guard !current.isBeingRemoved else {
                throw NetworkError(code: .busy, message:
                    "network \"\(network.name)\" is being removed (if no `netctl network rm` of it is under way, one did not finish: run it again)")
            }
            guard try tables.sandbox(sandbox.name) != nil else { throw Self.notFound("sandbox", sandbox.name) }
            if let existing = try tables.endpoint(network: network.name, sandbox: sandbox.name) {
                if existing.reservedBy?.isGone == true { throw AbandonedConnect() }
                throw NetworkError(code: .alreadyExists, message: "sandbox \"\(sandbox.name)\" is already connected to network \"\(network.name)\"")
            }
            try checkPortsAreFree(request.ports)
            let interface = network.addsInterfaces ? try nextInterface(in: sandbox, skipping: present).rawValue : ""
            // Null and host endpoints are whole once the row is in.
            let endpoint = EndpointRecord(network: network.name, sandbox: sandbox.name, interface: interface,
                                          addresses: [], mac: request.mac?.description, aliases: request.aliases, ports: request.ports,
                                          reservedBy: network.addsInterfaces ? .current() : nil)
            try tables.insert(endpoint)
            return endpoint
        }
    }

    /// The row of this network and sandbox is a connect's that was killed before it finished.
    private struct AbandonedConnect: Error {}

    /// Refuses a host port another endpoint publishes, naming it. Called in the transaction that
    /// inserts the endpoint row with its ports, so of two concurrent connects one is refused
    /// here rather than by the kernel.
    private func checkPortsAreFree(_ ports: [PortMapping]) throws {
        guard !ports.isEmpty else { return }
        for other in try tables.endpointsPublishingPorts() {
            for theirs in other.ports {
                guard let mine = ports.first(where: { $0.sharesAHostPort(with: theirs) }) else { continue }
                throw NetworkError(code: .alreadyExists, message:
                    "-p \(mine): a host port of it is already published by sandbox \"\(other.sandbox)\" on network \"\(other.network)\" (\(theirs))")
            }
        }
    }

    /// The links already in the sandbox's namespace, which a new interface must not take the
    /// name of; none for drivers that add no interface, or when the namespace cannot be read.
    private func presentLinks(in sandbox: SandboxRecord, for network: NetworkRecord) -> Set<String> {
        guard network.addsInterfaces, let namespace = try? NetNamespace.open(path: sandbox.path),
              let links = try? RouteSocket.open(in: namespace).links() else { return [] }
        return Set(links.map(\.name))
    }

    /// Adds links a CNI plugin made to the network's record, so `network rm` removes them.
    private func recordCreatedLinks(_ links: [String], of network: NetworkRecord) throws {
        guard !links.isEmpty else { return }
        try store.database.immediateTransaction {
            guard var current = try tables.network(network.name), current.id == network.id else { return }
            let missing = links.filter { !current.createdLinks.contains($0) }
            guard !missing.isEmpty else { return }
            current.createdLinks += missing
            try tables.update(current)
        }
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
                attempt("unpublish ports") {
                    try firewall().detach(id)
                    if endpoint.reservedBy != nil {
                        // A connect killed before its firewall record committed leaves DNAT
                        // entries no record knows; the lease tells where they point.
                        let leaseKey = try LeaseKey(network: id.network, containerID: sandbox.id, interface: interface)
                        let addresses = try allocator().leases(for: leaseKey).map(\.address.address)
                        try firewall().unpublishUnrecorded(id, network: firewallNetwork(network), ports: endpoint.ports,
                                                           containerAddresses: addresses)
                    }
                }
                attempt("remove the interface") { try bridgeDriver(network).detach(id, namespace: namespace) }
            case .macvlan:
                attempt("remove the interface") { try macvlanDriver(network).detach(id, namespace: namespace) }
            case .cni(let type):
                attempt("CNI DEL") { try CNINetwork(network: network, type: type).delete(sandbox, interface: endpoint.interface) }
            case .null, .host: break
            }
            if let namespace, network.netctlMakesItsInterfaces, !network.isInternal {
                // The network is gone from the sandbox either way: a failure here is told, and
                // does not make the disconnect fail (a retry could not do better).
                do {
                    try Self.whileLocking(namespace) { try restoreDefaultRoutes(sandbox, namespace, after: endpoint) }
                } catch {
                    warn("sandbox \"\(sandbox.name)\" lost its default route with network \"\(network.name)\" and got none from its other networks: \(error)")
                }
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

    /// When `removed` gave the sandbox its default route of a family, another endpoint with a
    /// gateway of that family gives it instead (the first by network name), as in Docker:
    /// disconnecting one network must not cut the sandbox off from the others' way out.
    private func restoreDefaultRoutes(_ sandbox: SandboxRecord, _ namespace: NetNamespace, after removed: EndpointRecord) throws {
        let socket = try RouteSocket.open(in: namespace)
        var missing = Set(removed.addresses.map(\.address.family)).subtracting(try socket.defaultRouteFamilies())
        for other in try tables.endpoints(sandbox: sandbox.name) where !missing.isEmpty && other.network != removed.network {
            guard let network = try tables.network(other.network), network.netctlMakesItsInterfaces, !network.isInternal,
                  let link = try socket.link(named: InterfaceName(other.interface)) else { continue }
            let ranges = try rangeSets(network)
            for address in other.addresses where missing.contains(address.address.family) {
                guard let gateway = ranges.lazy.compactMap({ $0.range(containing: address.address)?.gateway }).first else { continue }
                try socket.addRoute(.defaultRoute(via: gateway, device: .index(link.index)))
                missing.remove(address.address.family)
            }
        }
    }

    // MARK: Drivers

    /// Runs `body` holding an exclusive `flock` on the namespace itself (its nsfs inode, the
    /// same whatever the path), so connects into one namespace set up one at a time: each sees
    /// the default routes of those before it.
    static func whileLocking<T>(_ namespace: NetNamespace, _ body: () throws -> T) throws -> T {
        while flock(namespace.descriptor, LOCK_EX) != 0 {
            let error = Errno.current
            guard error == .interrupted else {
                throw NetworkError(code: .system, message: "cannot lock network namespace \"\(namespace.path)\"", cause: error)
            }
        }
        defer { flock(namespace.descriptor, LOCK_UN) }
        return try body()
    }

    private func attach(_ network: NetworkRecord, _ sandbox: SandboxRecord, _ namespace: NetNamespace, _ interface: InterfaceName,
                        _ request: ConnectRequest, _ endpoint: EndpointRecord, undo: inout UndoStack) throws -> EndpointRecord {
        var endpoint = endpoint
        let key = Self.stateKey(network.name)
        let leaseKey = try LeaseKey(network: key, containerID: sandbox.id, interface: interface)
        let allocator = try allocator()
        let leases = try allocator.allocate(key: leaseKey, rangeSets: rangeSets(network), requested: request.addresses)
        undo.push("release \(leaseKey)") { _ = try allocator.release(key: leaseKey) }
        endpoint.addresses = leases.map(\.address)
        let id = AttachmentID(network: key, containerID: sandbox.id, interface: interface)
        var ip = IPConfiguration(assignments: leases.map { IPConfiguration.Assignment(address: $0.address, gateway: $0.gateway) })
        // The default route of each family comes from the first endpoint that has a gateway of
        // it, as in Docker: a second one would clash with it (EEXIST). So the drivers are asked
        // for none, and the routes are given explicitly where the namespace has none yet.
        if !network.isInternal {
            var families = try RouteSocket.open(in: namespace).defaultRouteFamilies()
            for gateway in leases.compactMap(\.gateway) where families.insert(gateway.family).inserted {
                ip.routes.append(.defaultRoute(via: gateway))
            }
        }
        switch network.driver {
        case .bridge:
            let driver = try bridgeDriver(network, defaultGateway: false)
            let attached = try driver.attach(id, namespace: namespace, ip: ip, mac: request.mac)
            undo.push("detach \(id)") { try driver.detach(id, namespace: namespace) }
            endpoint.mac = attached.container.mac?.description
            if !request.ports.isEmpty {
                try firewall().attach(id, network: firewallNetwork(network), ports: request.ports,
                                      containerAddresses: leases.map(\.address.address))
                undo.push("unpublish ports of \(id)") { try self.firewall().detach(id) }
            }
        case .macvlan:
            let driver = try macvlanDriver(network)
            let attached = try driver.attach(id, namespace: namespace, ip: ip, mac: request.mac)
            undo.push("detach \(id)") { try driver.detach(id, namespace: namespace) }
            endpoint.mac = attached.container.mac?.description
        case .null, .host, .cni: break
        }
        return endpoint
    }

    /// The network's bridge driver; `defaultGateway: false` leaves the default route to the
    /// caller (``attach``), which knows what the namespace has already.
    func bridgeDriver(_ network: NetworkRecord, defaultGateway: Bool = true) throws -> BridgeDriver {
        let options = BridgeOptions(
            bridge: try InterfaceName(network.bridgeName, field: "bridge name"),
            mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init),
            isGateway: true, isDefaultGateway: defaultGateway && !network.isInternal, hairpin: true)
        return BridgeDriver(options: options, host: try RouteSocket.open(), hostNamespace: try NetNamespace.current(),
                            linkDeletion: .fromEnvironment())
    }

    func macvlanDriver(_ network: NetworkRecord) throws -> MacvlanDriver {
        let options = MacvlanOptions(
            parent: try network.options[NetworkOption.parent].map { try InterfaceName($0, field: "-o parent") },
            mode: network.options[NetworkOption.macvlanMode].flatMap(MacvlanMode.init(rawValue:)) ?? .bridge,
            mtu: network.options[NetworkOption.mtu].flatMap(UInt32.init))
        return MacvlanDriver(options: options, host: try RouteSocket.open(), linkDeletion: .fromEnvironment())
    }

    private func validate(_ request: ConnectRequest, for network: NetworkRecord) throws {
        // A CNI network without subnets of netctl's has its addresses in its own IPAM options:
        // the plugin judges the address.
        let checksSubnets: Bool
        if case .cni = network.driver { checksSubnets = !network.subnets.isEmpty } else { checksSubnets = true }
        for address in request.addresses where checksSubnets && !network.subnets.contains(where: { $0.subnet.contains(address) }) {
            throw NetworkError.invalid(address.family == .v4 ? "--ip" : "--ip6", address.description,
                                       "is in none of network \"\(network.name)\"'s subnets (\(network.subnets.map(\.subnet.description).joined(separator: ", ")))")
        }
        if !request.addresses.isEmpty || request.mac != nil {
            switch network.driver {
            case .null, .host:
                let flag = request.addresses.first.map { $0.family == .v4 ? "--ip" : "--ip6" } ?? "--mac"
                throw NetworkError(code: .unsupported, message: "\(flag): the \(network.driver) driver adds no interface to give an address to")
            case .bridge, .macvlan, .cni: break
            }
        }
        for alias in request.aliases { try Self.validateAlias(alias) }
        for (index, port) in request.ports.enumerated() {
            if let earlier = request.ports[..<index].first(where: { $0.sharesAHostPort(with: port) }) {
                throw NetworkError.invalid("-p", port.description, "shares a host port with -p \(earlier)")
            }
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

    /// An alias is a DNS name: dot-separated labels of 1-63 letters, digits and hyphens, not
    /// starting or ending with a hyphen, 253 characters at most. For now it only labels the
    /// endpoint; nothing resolves it yet.
    static func validateAlias(_ alias: String) throws {
        func isLabel(_ label: Substring) -> Bool {
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                }
        }
        guard alias.utf8.count <= 253, alias.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabel) else {
            throw NetworkError.invalid("--alias", alias,
                                       "must be a DNS name: dot-separated labels of 1-63 letters, digits and hyphens, not starting or ending with a hyphen")
        }
    }

    /// `eth0`, `eth1`, …: the first name that no endpoint of a sandbox in the same namespace
    /// (compared by device and inode, whatever the paths) uses and no link there has.
    private func nextInterface(in sandbox: SandboxRecord, skipping present: Set<String>) throws -> InterfaceName {
        let identity = NetNamespace.Identity.of(path: sandbox.path)
        var sharing: [String: Bool] = [:] // by path: one stat each, only of paths holding a name not yet used
        func sharesTheNamespace(_ path: String) -> Bool {
            if path == sandbox.path { return true }
            guard let identity else { return false }
            if let known = sharing[path] { return known }
            let shares = NetNamespace.Identity.of(path: path) == identity
            sharing[path] = shares
            return shares
        }
        var used = present
        for holder in try tables.interfacesInUse() where !used.contains(holder.interface) && sharesTheNamespace(holder.path) {
            used.insert(holder.interface)
        }
        var index = 0
        while used.contains("eth\(index)") { index += 1 }
        return try InterfaceName("eth\(index)")
    }
}

extension RouteSocket {
    /// The families this socket's namespace has a default route of (main table).
    func defaultRouteFamilies() throws -> Set<IPAddress.Family> {
        var families: Set<IPAddress.Family> = []
        for family in [IPAddress.Family.v4, .v6] where try routes(family: family).contains(where: \.isDefault) {
            families.insert(family)
        }
        return families
    }
}
