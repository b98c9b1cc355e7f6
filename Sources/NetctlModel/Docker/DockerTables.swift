import NetCore
import Store

/// Reads and writes the `docker_networks`, `docker_endpoints` and `docker_pools` tables
/// (``schema``).
struct DockerTables {
    let database: Database

    // MARK: Networks

    func network(id: String) throws -> DockerNetworkRecord? {
        try database.statement("SELECT definition FROM docker_networks WHERE id = ?")
            .firstRow([.text(id)]) { try DockerNetworkRecord(json: JSON(parsing: $0.text(0))) }
    }

    /// The Docker networks a netctl network carries (every one when `network` is `nil`).
    func networks(carriedBy network: String? = nil) throws -> [DockerNetworkRecord] {
        try database.statement("SELECT definition FROM docker_networks WHERE ?1 IS NULL OR network = ?1 ORDER BY id")
            .rows([network.map { .text($0) } ?? .null]) { try DockerNetworkRecord(json: JSON(parsing: $0.text(0))) }
    }

    func upsert(_ network: DockerNetworkRecord) throws {
        try database.statement("INSERT OR REPLACE INTO docker_networks (id, network, made, definition) VALUES (?, ?, ?, ?)")
            .run([.text(network.id), .text(network.network), .int(network.made ? 1 : 0), .text(network.json.serialized())])
    }

    func deleteNetwork(id: String) throws {
        try database.statement("DELETE FROM docker_networks WHERE id = ?").run([.text(id)])
    }

    // MARK: Endpoints

    func endpoint(id: String) throws -> DockerEndpointRecord? {
        try database.statement("SELECT definition FROM docker_endpoints WHERE id = ?")
            .firstRow([.text(id)]) { try DockerEndpointRecord(json: JSON(parsing: $0.text(0))) }
    }

    /// The endpoints of a Docker network (every one when `networkID` is `nil`).
    func endpoints(networkID: String? = nil) throws -> [DockerEndpointRecord] {
        try database.statement("SELECT definition FROM docker_endpoints WHERE ?1 IS NULL OR network_id = ?1 ORDER BY id")
            .rows([networkID.map { .text($0) } ?? .null]) { try DockerEndpointRecord(json: JSON(parsing: $0.text(0))) }
    }

    func upsert(_ endpoint: DockerEndpointRecord) throws {
        try database.statement("INSERT OR REPLACE INTO docker_endpoints (id, network_id, definition) VALUES (?, ?, ?)")
            .run([.text(endpoint.id), .text(endpoint.networkID), .text(endpoint.json.serialized())])
    }

    func deleteEndpoint(id: String) throws {
        try database.statement("DELETE FROM docker_endpoints WHERE id = ?").run([.text(id)])
    }

    // MARK: Pools

    func pool(id: String) throws -> DockerPool? {
        try database.statement("SELECT definition FROM docker_pools WHERE id = ?")
            .firstRow([.text(id)]) { try DockerPool(json: JSON(parsing: $0.text(0))) }
    }

    func pools() throws -> [DockerPool] {
        try database.statement("SELECT definition FROM docker_pools ORDER BY id").rows([]) { try DockerPool(json: JSON(parsing: $0.text(0))) }
    }

    func upsert(_ pool: DockerPool) throws {
        try database.statement("INSERT OR REPLACE INTO docker_pools (id, lease_network, definition) VALUES (?, ?, ?)")
            .run([.text(pool.id), .text(pool.leaseNetwork), .text(pool.json.serialized())])
    }

    func deletePool(id: String) throws {
        try database.statement("DELETE FROM docker_pools WHERE id = ?").run([.text(id)])
    }
}
