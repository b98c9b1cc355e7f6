import Drivers
import IPAM
import Namespaces
import NetCore

/// One published port as `netctl port ls` shows it.
public struct PublishedPortRow: Sendable, Hashable {
    public var network: String
    public var sandbox: String
    public var mapping: PortMapping
    public var containerAddress: String
    public var proxyPID: Int32?
    /// Docker's endpoint ID, for a port Docker published through the plugin (`docker ps`
    /// cannot show those).
    public var dockerEndpointID: String?

    init(network: String, sandbox: String, mapping: PortMapping, containerAddress: String, proxyPID: Int32?,
         dockerEndpointID: String? = nil) {
        self.dockerEndpointID = dockerEndpointID
        self.network = network
        self.sandbox = sandbox
        self.mapping = mapping
        self.containerAddress = containerAddress
        self.proxyPID = proxyPID
    }
}

/// What `netctl gc` removed, and what it could not.
public struct GCReport: Sendable {
    public var endpoints: [String] = []
    public var sandboxes: [String] = []
    public var firewallRecords: [String] = []
    public var leases: [String] = []
    /// `what: error`, one for each thing left in place (the next GC tries it again).
    public var failures: [String] = []
}

extension Netctl {
    /// Every published port of every endpoint, with the proxy serving its loopback side.
    public func publishedPorts() throws -> [PublishedPortRow] {
        let sandboxes = Dictionary(try tables.sandboxes().map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var rows: [PublishedPortRow] = []
        for endpoint in try tables.endpoints() where !endpoint.ports.isEmpty {
            let network = try network(endpoint.network)
            guard network.driver.hasHostBridge else { continue }
            let published = try firewall().published().filter {
                $0.attachment.network == Self.stateKey(endpoint.network) && sandboxes[$0.attachment.containerID] == endpoint.sandbox
            }
            let pid = published.first?.proxyPID
            let address = endpoint.addresses.first { $0.family == .v4 }?.address.description
                ?? endpoint.addresses.first?.address.description ?? ""
            for mapping in endpoint.ports {
                rows.append(PublishedPortRow(network: endpoint.network, sandbox: endpoint.sandbox, mapping: mapping,
                                             containerAddress: address, proxyPID: pid))
            }
        }
        return rows + (try dockerPublishedPorts())
    }

    /// The ports Docker's endpoints publish, with the proxy serving their loopback side.
    private func dockerPublishedPorts() throws -> [PublishedPortRow] {
        let endpoints = try docker.endpoints().filter { !$0.ports.isEmpty }
        guard !endpoints.isEmpty else { return [] }
        let proxies = Dictionary(try firewall().published().map { ($0.attachment.containerID, $0.proxyPID) }, uniquingKeysWith: { first, _ in first })
        var rows: [PublishedPortRow] = []
        for endpoint in endpoints {
            guard let network = try docker.network(id: endpoint.networkID) else { continue }
            let address = endpoint.addresses.first { $0.family == .v4 }?.address.description ?? endpoint.addresses.first?.address.description ?? ""
            for mapping in endpoint.ports {
                rows.append(PublishedPortRow(network: network.network, sandbox: endpoint.sandboxName, mapping: mapping, containerAddress: address,
                                             proxyPID: proxies[endpoint.id] ?? nil, dockerEndpointID: endpoint.id))
            }
        }
        return rows
    }

    /// Rebuilds the firewall from the store (after `nft flush ruleset`) and restarts proxies.
    public func reloadFirewall() throws {
        try firewall().reload()
    }

    /// Removes what nothing refers to any more: endpoints and sandboxes whose namespace is
    /// gone, then firewall records and leases of netctl networks without an endpoint.
    ///
    /// What is stale is read under a store transaction and torn down outside it, one endpoint,
    /// sandbox, record or lease at a time: a failure leaves that one for the next GC, the rest
    /// still goes, and every failure is in ``GCReport/failures``.
    public func gc() throws -> GCReport {
        var report = GCReport()
        func attempt(_ what: String, _ body: () throws -> Void) -> Bool {
            do {
                try body()
                return true
            } catch {
                report.failures.append("\(what): \(error)")
                return false
            }
        }
        for sandbox in try tables.sandboxes() where (try? NetNamespace.open(path: sandbox.path)) == nil {
            var detached = true
            for endpoint in try tables.endpoints(sandbox: sandbox.name) {
                let name = "\(endpoint.network)/\(sandbox.name)"
                if attempt("endpoint \(name)", { try disconnect(network: endpoint.network, sandbox: sandbox.name, force: true) }) {
                    report.endpoints.append(name)
                } else {
                    detached = false
                }
            }
            if detached, attempt("sandbox \(sandbox.name)", { try removeSandbox(sandbox.name, force: true) }) {
                report.sandboxes.append(sandbox.name)
            }
        }
        collectDockerEndpoints(into: &report, attempt)
        // Connects killed before they finished, in sandboxes that are still there.
        for endpoint in try tables.endpoints() where endpoint.reservedBy?.isGone == true {
            let name = "\(endpoint.network)/\(endpoint.sandbox)"
            if attempt("endpoint \(name)", { try disconnect(network: endpoint.network, sandbox: endpoint.sandbox, force: true) }) {
                report.endpoints.append(name)
            }
        }
        for network in try tables.networks() {
            var stale = StaleState(attachments: [], leases: [])
            guard attempt("network \(network.name)", { stale = try store.database.immediateTransaction { try staleState(of: network) } }) else {
                continue
            }
            // The firewall first: a lease whose address DNAT still points at stays with it.
            // Each record is checked again just before it goes (its removal changes the
            // ruleset, so it cannot wait inside the store transaction with the check).
            var kept = Set<LeaseKey>()
            for id in stale.attachments {
                let removed = attempt("firewall record \(id)") {
                    guard try isStale(network: network, containerID: id.containerID, interface: id.interface.rawValue) else { return }
                    try firewall().detach(id)
                    report.firewallRecords.append(id.description)
                }
                if !removed, let key = try? LeaseKey(network: id.network, containerID: id.containerID, interface: id.interface) { kept.insert(key) }
            }
            for key in stale.leases where !kept.contains(key) {
                _ = attempt("lease \(key)") {
                    // Checked and released in one transaction: a connect reserves its endpoint
                    // row before it takes a lease, so no lease of a connect under way goes.
                    let released = try store.database.immediateTransaction { () throws -> [Lease] in
                        guard try isStale(network: network, containerID: key.containerID, interface: key.interface.rawValue) else { return [] }
                        return try allocator().release(key: key)
                    }
                    report.leases += released.map(\.description)
                }
            }
        }
        return report
    }

    /// What of a network nothing refers to: firewall records and leases of attachments that
    /// are not an endpoint of it.
    private struct StaleState {
        var attachments: [AttachmentID]
        var leases: [LeaseKey]
    }

    private func staleState(of network: NetworkRecord) throws -> StaleState {
        let sandboxes = try tables.sandboxes()
        let key = Self.stateKey(network.name)
        var valid = Set<AttachmentID>()
        var leases = Set<LeaseKey>()
        for endpoint in try tables.endpoints(network: network.name) {
            guard let sandbox = sandboxes.first(where: { $0.name == endpoint.sandbox }),
                  let interface = try? InterfaceName(endpoint.interface) else { continue }
            valid.insert(AttachmentID(network: key, containerID: sandbox.id, interface: interface))
            if let lease = try? LeaseKey(network: key, containerID: sandbox.id, interface: interface) { leases.insert(lease) }
        }
        for record in try docker.networks(carriedBy: network.name) {
            for endpoint in try docker.endpoints(networkID: record.id) { valid.insert(attachmentID(network, endpoint)) }
        }
        var stale = StaleState(attachments: [], leases: [])
        if network.driver.hasHostBridge {
            stale.attachments = try firewall().published().map(\.attachment).filter { $0.network == key && !valid.contains($0) }
        }
        var seen = Set<LeaseKey>()
        // Leases of Docker's pools are dockerd's until it releases them (or its endpoint goes);
        // the CNI `overlay` plugin's are its runtime's (its GC takes them).
        stale.leases = try allocator().leases(network: key).map(\.key)
            .filter { !leases.contains($0) && !$0.containerID.hasPrefix(Self.dockerLeasePrefix) && !$0.containerID.hasPrefix(Self.cniLeasePrefix)
                && seen.insert($0).inserted }
        return stale
    }

    /// Whether no endpoint of `network` is the attachment of this container and interface now.
    private func isStale(network: NetworkRecord, containerID: String, interface: String) throws -> Bool {
        if try docker.endpoint(id: containerID) != nil { return false }
        let sandboxes = Set(try tables.sandboxes().filter { $0.id == containerID }.map(\.name))
        return !(try tables.endpoints(network: network.name)).contains { sandboxes.contains($0.sandbox) && $0.interface == interface }
    }
}
