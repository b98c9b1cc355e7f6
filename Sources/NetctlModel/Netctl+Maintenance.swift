import Drivers
import Firewall
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

    init(network: String, sandbox: String, mapping: PortMapping, containerAddress: String, proxyPID: Int32?) {
        self.network = network
        self.sandbox = sandbox
        self.mapping = mapping
        self.containerAddress = containerAddress
        self.proxyPID = proxyPID
    }
}

/// What `netctl gc` removed.
public struct GCReport: Sendable {
    public var endpoints: [String] = []
    public var sandboxes: [String] = []
    public var firewallRecords: [String] = []
    public var leases: [String] = []
}

extension Netctl {
    /// Every published port of every endpoint, with the proxy serving its loopback side.
    public func publishedPorts() throws -> [PublishedPortRow] {
        let sandboxes = Dictionary(try tables.sandboxes().map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var rows: [PublishedPortRow] = []
        for endpoint in try tables.endpoints() where !endpoint.ports.isEmpty {
            let network = try network(endpoint.network)
            guard case .bridge = network.driver else { continue }
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
        return rows
    }

    /// Rebuilds the firewall from the store (after `nft flush ruleset`) and restarts proxies.
    public func reloadFirewall() throws {
        try firewall().reload()
    }

    /// Removes what nothing refers to any more: endpoints and sandboxes whose namespace is
    /// gone, then firewall records and leases of netctl networks without an endpoint.
    public func gc() throws -> GCReport {
        var report = GCReport()
        for sandbox in try tables.sandboxes() where (try? NetNamespace.open(path: sandbox.path)) == nil {
            for endpoint in try tables.endpoints(sandbox: sandbox.name) {
                try disconnect(network: endpoint.network, sandbox: sandbox.name, force: true)
                report.endpoints.append("\(endpoint.network)/\(sandbox.name)")
            }
            try removeSandbox(sandbox.name, force: true)
            report.sandboxes.append(sandbox.name)
        }
        for network in try tables.networks() {
            // Endpoints read and stale state removed in one transaction: a connect reserves its
            // endpoint row before it takes a lease, so no lease of a connect under way is stale.
            try store.database.immediateTransaction { try collect(network, into: &report) }
        }
        return report
    }

    private func collect(_ network: NetworkRecord, into report: inout GCReport) throws {
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
        if case .bridge = network.driver {
            report.firewallRecords += try firewall().gc(network: key, keep: valid).map(\.description)
        }
        report.leases += try allocator().gc(network: key, valid: leases).map(\.description)
    }
}
