#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Attachment
import Drivers
import IPAM
import Namespaces
import NetCore
import Publishing

/// What `netctl connect` asks for besides the network and the sandbox.
public struct ConnectRequest: Sendable {
    public var addresses: [IPAddress] = []
    public var mac: MACAddress?
    public var aliases: [String] = []
    public var ports: [PortMapping] = []

    public init() {}
}

extension Netctl {
    /// The endpoints of a network, of a sandbox, or all; Docker's among them.
    public func endpoints(network: String? = nil, sandbox: String? = nil) throws -> [EndpointRecord] {
        try tables.endpoints(network: network, sandbox: sandbox) + dockerEndpointsAsEndpoints(network: network, sandbox: sandbox)
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
        let backend = try backend(network)
        try validate(request, for: network, backend)
        var namespace: NetNamespace?
        let sandbox = try sandbox(forConnecting: nameOrPath) { path in
            namespace = try openNamespace(path, named: nameOrPath, for: network, backend)
        }
        // The sandbox's namespace (opened once, above) and the sockets of this attachment, for every step.
        let context = backend.addsInterface ? AttachmentContext(id: .placeholder, namespace: namespace) : nil
        var endpoint: EndpointRecord
        do {
            endpoint = try reserveEndpoint(network, sandbox, request, context: context)
        } catch is AbandonedConnect {
            // What a connect killed before it finished made, taken down; then this one goes on.
            try disconnect(network: network.name, sandbox: sandbox.name, force: true)
            endpoint = try reserveEndpoint(network, sandbox, request, context: context)
        }
        do {
            switch backend {
            case .driver(let driver):
                guard let context, let namespace = context.namespace else { break }
                let interface = try InterfaceName(endpoint.interface)
                context.id = AttachmentID(network: Self.stateKey(network.name), containerID: sandbox.id, interface: interface)
                let recipe = try attachmentRecipe(network, driver, context.id, request)
                try Self.whileLocking(namespace) {
                    try UndoStack.transaction { undo in
                        let attached = try recipe.run(context, mac: request.mac, undo: &undo)
                        endpoint.addresses = attached.ip.assignments.map(\.address)
                        endpoint.mac = attached.interfaces?.container.mac?.description
                        endpoint.reservedBy = nil
                        try recordNames(&endpoint, sandbox: sandbox, network: network)
                        try tables.update(endpoint)
                    }
                }
                if network.dnsEnabled {
                    startResolver()
                    writeResolvConf(for: sandbox)
                }
            case .cni(let cni):
                let linksMade = cni.linksMadeProbe()
                defer { try? recordCreatedLinks(linksMade(), of: network) }
                let namespace = try namespace ?? NetNamespace.open(path: sandbox.path)
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

    /// The recipe of one attachment to a network of `driver`: a lease from the network's
    /// pools, the driver's interface with a default route of each family the sandbox lacks
    /// (as in Docker: the first endpoint with a gateway of a family gives it; a second would
    /// clash), and the published ports.
    private func attachmentRecipe(_ network: NetworkRecord, _ driver: any NetworkDriver, _ id: AttachmentID,
                                  _ request: ConnectRequest) throws -> AttachmentRecipe {
        let leasing = AllocatorLeasing(allocator: try allocator(), key: try LeaseKey(id), rangeSets: try rangeSets(network),
                                       requested: request.addresses)
        var publishing: [any AttachmentPublishing] = []
        if driver.offersPublishing, !request.ports.isEmpty {
            publishing.append(RegistryPublishing(registry: try firewall(), attachment: id, network: try firewallNetwork(network),
                                                 ports: request.ports))
        }
        let routesOut = !network.isInternal
        return AttachmentRecipe(driver: driver, addresses: leasing, publishing: publishing) { ip, context in
            if routesOut { ip.addDefaultRoutes(besides: try context.defaultRouteFamilies()) }
        }
    }

    /// Opens the sandbox's namespace, once for the whole connect, when the driver works in it
    /// or must check it: refuses an interface into the host's namespace, and a host network
    /// for a sandbox with a namespace of its own. `nil` for a driver that does neither (null).
    private func openNamespace(_ path: String, named sandbox: String, for network: NetworkRecord,
                               _ backend: NetworkBackend) throws -> NetNamespace? {
        guard backend.addsInterface || backend.joinsHostNamespace else { return nil }
        let namespace = try NetNamespace.open(path: path)
        let isHost = Self.isHostNamespace(namespace)
        if backend.joinsHostNamespace, !isHost {
            throw NetworkError.invalid("sandbox", sandbox, "has a namespace of its own; only a sandbox made with --network host joins the host network")
        }
        if backend.addsInterface, isHost {
            throw NetworkError(code: .unsupported, message:
                "sandbox \"\(sandbox)\" is in the host's network namespace (--network host): connecting it to \(network.driver) network \"\(network.name)\" would put an interface into the host namespace")
        }
        return namespace
    }

    /// Inserts the endpoint row with the first free interface name, in one transaction with
    /// the "already connected" check; the row is updated once the driver has done its work.
    private func reserveEndpoint(_ network: NetworkRecord, _ sandbox: SandboxRecord, _ request: ConnectRequest,
                                 context: AttachmentContext?) throws -> EndpointRecord {
        // The links already in the sandbox, which a new interface must not take the name of;
        // none when the namespace cannot be read.
        let present = (try? context?.containerLinkNames()) ?? []
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
    /// here rather than by the kernel. Docker's endpoints count too, but for the one asking.
    func checkPortsAreFree(_ ports: [PortMapping], besidesDockerEndpoint endpointID: String? = nil) throws {
        guard !ports.isEmpty else { return }
        for other in try tables.endpointsPublishingPorts() {
            for theirs in other.ports {
                guard let mine = ports.first(where: { $0.sharesAHostPort(with: theirs) }) else { continue }
                throw NetworkError(code: .alreadyExists, message:
                    "\(names.port) \(mine): a host port of it is already published by sandbox \"\(other.sandbox)\" on network \"\(other.network)\" (\(theirs))")
            }
        }
        for other in try docker.endpoints() where other.id != endpointID {
            for theirs in other.ports {
                guard let mine = ports.first(where: { $0.sharesAHostPort(with: theirs) }) else { continue }
                throw NetworkError(code: .alreadyExists, message:
                    "\(names.port) \(mine): a host port of it is already published by Docker endpoint \(other.id.prefix(12))\(other.containerName.map { " (container \($0))" } ?? "") (\(theirs))")
            }
        }
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
            // A namespace that is gone is no error here: teardown goes on without it.
            let context = AttachmentContext(id: id, namespace: try? NetNamespace.open(path: sandbox.path))
            switch try backend(network) {
            case .driver(let driver):
                if endpoint.reservedBy != nil, driver.offersPublishing {
                    // A connect killed before its firewall record committed leaves DNAT
                    // entries no record knows; the lease tells where they point.
                    attempt("unpublish ports") { try unpublishUnrecorded(id, network: network, ports: endpoint.ports) }
                }
                failures += try teardownRecipe(network, driver, id).detach(context)
            case .cni(let cni):
                attempt("CNI DEL") { try cni.delete(sandbox, interface: endpoint.interface) }
                attempt("release the addresses") { _ = try allocator().release(key: LeaseKey(id)) }
            }
            if let namespace = context.namespace, network.netctlMakesItsInterfaces, !network.isInternal {
                // The network is gone from the sandbox either way: a failure here is told, and
                // does not make the disconnect fail (a retry could not do better).
                do {
                    try Self.whileLocking(namespace) { try restoreDefaultRoutes(sandbox, context, after: endpoint) }
                } catch {
                    warn("sandbox \"\(sandbox.name)\" lost its default route with network \"\(network.name)\" and got none from its other networks: \(error)")
                }
            }
        }
        if !failures.isEmpty && !force {
            throw NetworkError.teardown("disconnecting \(sandbox.name) from \(network.name)", failures: failures)
        }
        try store.database.immediateTransaction {
            try forgetNames(sandbox: sandbox, interface: endpoint.interface, network: network)
            try tables.deleteEndpoint(network: network.name, sandbox: sandbox.name)
        }
        if !endpoint.nameservers.isEmpty { writeResolvConf(for: sandbox) }
    }

    /// The mirror of ``attachmentRecipe``: the published ports (every record of the
    /// attachment, whatever it published), the interface, the addresses.
    private func teardownRecipe(_ network: NetworkRecord, _ driver: any NetworkDriver, _ id: AttachmentID) throws -> AttachmentRecipe {
        let leasing = AllocatorLeasing(allocator: try allocator(), key: try LeaseKey(id), rangeSets: [])
        var publishing: [any AttachmentPublishing] = []
        if driver.offersPublishing {
            publishing.append(RegistryPublishing(registry: try firewall(), attachment: id, network: try firewallNetwork(network), ports: []))
        }
        return AttachmentRecipe(driver: driver, addresses: leasing, publishing: publishing)
    }

    /// The DNAT entries of `ports` a connect killed before its firewall record committed left,
    /// where they still point at the attachment's leased addresses.
    private func unpublishUnrecorded(_ id: AttachmentID, network: NetworkRecord, ports: [PortMapping]) throws {
        let addresses = try allocator().leases(for: LeaseKey(id)).map(\.address.address)
        try firewall().unpublishUnrecorded(id, network: firewallNetwork(network), ports: ports, containerAddresses: addresses)
    }

    /// When `removed` gave the sandbox its default route of a family, another endpoint with a
    /// gateway of that family gives it instead (the first by network name), as in Docker:
    /// disconnecting one network must not cut the sandbox off from the others' way out.
    private func restoreDefaultRoutes(_ sandbox: SandboxRecord, _ context: AttachmentContext, after removed: EndpointRecord) throws {
        var missing = Set(removed.addresses.map(\.address.family)).subtracting(try context.defaultRouteFamilies())
        for other in try tables.endpoints(sandbox: sandbox.name) where !missing.isEmpty && other.network != removed.network {
            guard let network = try tables.network(other.network), network.netctlMakesItsInterfaces, !network.isInternal,
                  let interface = try? InterfaceName(other.interface) else { continue }
            let ranges = try rangeSets(network)
            for address in other.addresses where missing.contains(address.address.family) {
                guard let gateway = ranges.lazy.compactMap({ $0.range(containing: address.address)?.gateway }).first else { continue }
                do {
                    try context.addDefaultRoute(via: gateway, interface: interface)
                } catch let error as NetworkError where error.code == .notFound {
                    continue // that endpoint's interface is gone too
                }
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

    private func validate(_ request: ConnectRequest, for network: NetworkRecord, _ backend: NetworkBackend) throws {
        // A CNI network without subnets of netctl's has its addresses in its own IPAM options:
        // the plugin judges the address.
        let checksSubnets: Bool
        if case .cni = backend { checksSubnets = !network.subnets.isEmpty } else { checksSubnets = true }
        for address in request.addresses where checksSubnets && !network.subnets.contains(where: { $0.subnet.contains(address) }) {
            throw NetworkError.invalid(names.address(address.family), address.description,
                                       "is in none of network \"\(network.name)\"'s subnets (\(network.subnets.map(\.subnet.description).joined(separator: ", ")))")
        }
        if !request.addresses.isEmpty || request.mac != nil, !backend.addsInterface {
            let flag = request.addresses.first.map { names.address($0.family) } ?? names.mac
            throw NetworkError(code: .unsupported, message: "\(flag): the \(network.driver) driver adds no interface to give an address to")
        }
        for alias in request.aliases { try Self.validateAlias(alias, field: names.alias) }
        for (index, port) in request.ports.enumerated() {
            if let earlier = request.ports[..<index].first(where: { $0.sharesAHostPort(with: port) }) {
                throw NetworkError.invalid(names.port, port.description, "shares a host port with \(names.port) \(earlier)")
            }
        }
        if let port = request.ports.first {
            guard backend.offersPublishing else {
                throw NetworkError(code: .unsupported, message:
                    "\(names.port) \(port): the \(network.driver) driver has no published ports (a \(network.driver) endpoint is reached at its own address)")
            }
            // A CNI chain's portmap decides for itself.
            if case .driver = backend, network.isInternal {
                throw NetworkError.invalid(names.port, port.description, "network \"\(network.name)\" is internal: nothing outside it can reach a published port")
            }
        }
    }

    /// An alias is a DNS name: dot-separated labels of 1-63 letters, digits and hyphens, not
    /// starting or ending with a hyphen, 253 characters at most (RFC 1123): on a network with
    /// DNS, the resolver answers it.
    static func validateAlias(_ alias: String, field: String = FieldNames().alias) throws {
        func isLabel(_ label: Substring) -> Bool {
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                }
        }
        guard alias.utf8.count <= 253, alias.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabel) else {
            throw NetworkError.invalid(field, alias,
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
        // Two namespaces netctl made are two namespaces unless they are one path (a
        // `container:` sandbox names its owner's): only a runtime's paths need a stat, so a
        // host with a thousand netctl sandboxes makes none.
        for holder in try tables.interfacesInUse() where !used.contains(holder.interface)
            && !(holder.isOwned && sandbox.isOwned && holder.path != sandbox.path) && sharesTheNamespace(holder.path) {
            used.insert(holder.interface)
        }
        var index = 0
        while used.contains("eth\(index)") { index += 1 }
        return try InterfaceName("eth\(index)")
    }
}
