import NetCore
import Store

/// Reads and writes the `networks`, `sandboxes` and `endpoints` tables (``schema``).
struct ModelTables {
    let database: Database

    // MARK: Networks

    func network(_ name: String) throws -> NetworkRecord? {
        try database.statement("SELECT definition FROM networks WHERE name = ? OR id = ?")
            .firstRow([.text(name), .text(name)]) { try NetworkRecord(json: JSON(parsing: $0.text(0))) }
    }

    func networks() throws -> [NetworkRecord] {
        try database.statement("SELECT definition FROM networks ORDER BY name").rows { try NetworkRecord(json: JSON(parsing: $0.text(0))) }
    }

    func insert(_ network: NetworkRecord) throws {
        try database.statement("INSERT INTO networks (name, id, driver, definition, created) VALUES (?, ?, ?, ?, ?)")
            .run([.text(network.name), .text(network.id), .text(network.driver.description),
                  .text(network.json.serialized()), .integer(network.created)])
    }

    /// Rewrites a network's definition (its name and ID stay).
    func update(_ network: NetworkRecord) throws {
        try database.statement("UPDATE networks SET definition = ? WHERE name = ? AND id = ?")
            .run([.text(network.json.serialized()), .text(network.name), .text(network.id)])
    }

    func deleteNetwork(_ name: String) throws {
        try database.statement("DELETE FROM networks WHERE name = ?").run([.text(name)])
    }

    // MARK: Sandboxes

    func sandbox(_ name: String) throws -> SandboxRecord? {
        try database.statement("SELECT definition FROM sandboxes WHERE name = ? OR id = ? OR path = ?")
            .firstRow([.text(name), .text(name), .text(name)]) { try SandboxRecord(json: JSON(parsing: $0.text(0))) }
    }

    func sandboxes() throws -> [SandboxRecord] {
        try database.statement("SELECT definition FROM sandboxes ORDER BY name").rows { try SandboxRecord(json: JSON(parsing: $0.text(0))) }
    }

    func insert(_ sandbox: SandboxRecord) throws {
        try database.statement("INSERT INTO sandboxes (name, id, path, owned, definition, created) VALUES (?, ?, ?, ?, ?, ?)")
            .run([.text(sandbox.name), .text(sandbox.id), .text(sandbox.path), .int(sandbox.isOwned ? 1 : 0),
                  .text(sandbox.json.serialized()), .integer(sandbox.created)])
    }

    func deleteSandbox(_ name: String) throws {
        try database.statement("DELETE FROM sandboxes WHERE name = ?").run([.text(name)])
    }

    // MARK: Endpoints

    func endpoint(network: String, sandbox: String) throws -> EndpointRecord? {
        try database.statement("SELECT definition FROM endpoints WHERE network = ? AND sandbox = ?")
            .firstRow([.text(network), .text(sandbox)]) { try EndpointRecord(json: JSON(parsing: $0.text(0))) }
    }

    func endpoints(network: String? = nil, sandbox: String? = nil) throws -> [EndpointRecord] {
        try database.statement("""
            SELECT definition FROM endpoints WHERE (?1 IS NULL OR network = ?1) AND (?2 IS NULL OR sandbox = ?2)
            ORDER BY network, sandbox
            """).rows([network.map { .text($0) } ?? .null, sandbox.map { .text($0) } ?? .null]) {
            try EndpointRecord(json: JSON(parsing: $0.text(0)))
        }
    }

    /// Every interface name endpoints hold, with the namespace path of their sandbox and
    /// whether netctl made that namespace.
    func interfacesInUse() throws -> [(interface: String, path: String, isOwned: Bool)] {
        try database.statement("""
            SELECT e.interface, s.path, s.owned FROM endpoints e JOIN sandboxes s ON s.name = e.sandbox WHERE e.interface != ''
            """).rows([]) { ($0.text(0), $0.text(1), $0.int64(2) != 0) }
    }

    /// The endpoints that publish ports; the others' definitions are not decoded.
    func endpointsPublishingPorts() throws -> [EndpointRecord] {
        try database.statement("SELECT definition FROM endpoints WHERE json_array_length(definition, '$.Ports') > 0")
            .rows([]) { try EndpointRecord(json: JSON(parsing: $0.text(0))) }
    }

    /// A new endpoint row; one of the same network and sandbox is a constraint error.
    func insert(_ endpoint: EndpointRecord) throws {
        try database.statement("INSERT INTO endpoints (network, sandbox, interface, definition) VALUES (?, ?, ?, ?)")
            .run([.text(endpoint.network), .text(endpoint.sandbox), .text(endpoint.interface), .text(endpoint.json.serialized())])
    }

    /// Rewrites the row `insert` reserved, once the endpoint is set up.
    func update(_ endpoint: EndpointRecord) throws {
        try database.statement("UPDATE endpoints SET interface = ?, definition = ? WHERE network = ? AND sandbox = ?")
            .run([.text(endpoint.interface), .text(endpoint.json.serialized()), .text(endpoint.network), .text(endpoint.sandbox)])
    }

    func deleteEndpoint(network: String, sandbox: String) throws {
        try database.statement("DELETE FROM endpoints WHERE network = ? AND sandbox = ?").run([.text(network), .text(sandbox)])
    }
}
