import IPAM
import Namespaces
import NetCore

extension Netctl {
    /// Docker endpoints whose sandbox is gone (a dockerd killed before Leave or DeleteEndpoint,
    /// a plugin killed in between): their ports, interface, row and leases go. An endpoint
    /// never joined is left alone: dockerd may still join it.
    func collectDockerEndpoints(into report: inout GCReport, _ attempt: (String, () throws -> Void) -> Bool) {
        guard let endpoints = try? docker.endpoints() else { return }
        for endpoint in endpoints {
            guard let key = endpoint.sandboxKey, (try? NetNamespace.open(path: key)) == nil else { continue }
            let network = (try? docker.network(id: endpoint.networkID))??.network ?? String(endpoint.networkID.prefix(12))
            let name = "\(network)/\(endpoint.sandboxName)"
            let removed = attempt("endpoint \(name)") {
                try deleteDockerEndpoint(networkID: endpoint.networkID, endpointID: endpoint.id)
                try releaseDockerAddresses(of: endpoint)
            }
            if removed { report.endpoints.append(name) }
        }
    }

    /// The leases of an endpoint's addresses in Docker's pools, which dockerd would have
    /// released after DeleteEndpoint.
    private func releaseDockerAddresses(of endpoint: DockerEndpointRecord) throws {
        try store.database.immediateTransaction {
            for pool in try docker.pools() {
                for lease in try dockerLeases(of: pool) where endpoint.addresses.contains(where: { $0.address == lease.address.address }) {
                    _ = try allocator().release(key: lease.key)
                }
            }
        }
    }
}
