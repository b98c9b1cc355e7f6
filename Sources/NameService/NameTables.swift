import NetCore
import Store

/// A network the resolver serves: the addresses it listens on (the network's gateways) and
/// the subnets its clients are in (queries from anywhere else are refused).
public struct NameNetwork: Sendable, Hashable {
    /// The state key: `netctl:NAME` or `cni:NAME`.
    public var key: String
    public var listen: [IPAddress]
    public var subnets: [CIDR]

    public init(key: String, listen: [IPAddress], subnets: [CIDR]) {
        self.key = key
        self.listen = listen
        self.subnets = subnets
    }
}

/// A name and an address it resolves to on one network, owned by one attachment.
public struct NameRecord: Sendable, Hashable {
    public var network: String
    public var owner: String
    /// Lower case: names compare without regard to case.
    public var name: String
    public var address: IPAddress

    public init(network: String, owner: String, name: String, address: IPAddress) {
        self.network = network
        self.owner = owner
        self.name = name.lowercased()
        self.address = address
    }
}

/// Reads and writes `dns_networks` and `dns_records` (``schema``), whose every change
/// bumps `store_meta`'s `dns_generation` (the triggers of its step 2).
public struct NameTables {
    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// The count of changes to the names: any write to `dns_networks` or `dns_records`
    /// changes it, in the same transaction; `nil` when the row is missing.
    public func generation() throws -> Int64? {
        try database.statement("SELECT value FROM store_meta WHERE key = 'dns_generation'").firstRow([]) { Int64($0.text(0)) } ?? nil
    }

    /// What the resolver answers: the networks, the records and the generation they are of,
    /// read in one transaction.
    public func snapshot() throws -> (generation: Int64?, networks: [NameNetwork], records: [NameRecord]) {
        if database.isInTransaction { return (try generation(), try networks(), try records()) }
        try database.execute("BEGIN")
        do {
            let result = (try generation(), try networks(), try records())
            try database.execute("COMMIT")
            return result
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
    }

    public func networks() throws -> [NameNetwork] {
        try database.statement("SELECT network, definition FROM dns_networks ORDER BY network").rows([]) { row in
            let definition = try JSON(parsing: row.text(1))
            return NameNetwork(key: row.text(0),
                               listen: (definition["Listen"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(IPAddress.init) },
                               subnets: (definition["Subnets"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(CIDR.init) })
        }
    }

    public func upsert(_ network: NameNetwork) throws {
        let definition: JSON = ["Listen": .array(network.listen.map { .string($0.description) }),
                                "Subnets": .array(network.subnets.map { .string($0.description) })]
        try database.statement("INSERT OR REPLACE INTO dns_networks (network, definition) VALUES (?, ?)")
            .run([.text(network.key), .text(definition.serialized())])
    }

    /// Removes a network and every record on it.
    public func removeNetwork(_ key: String) throws {
        try database.statement("DELETE FROM dns_records WHERE network = ?").run([.text(key)])
        try database.statement("DELETE FROM dns_networks WHERE network = ?").run([.text(key)])
    }

    public func records() throws -> [NameRecord] {
        try database.statement("SELECT network, owner, name, address FROM dns_records ORDER BY network, name").rows([]) { row in
            IPAddress(row.text(3)).map { NameRecord(network: row.text(0), owner: row.text(1), name: row.text(2), address: $0) }
        }.compactMap { $0 }
    }

    /// Gives `owner` on `network` exactly these names for these addresses (what it had goes).
    public func replace(owner: String, on network: String, names: [String], addresses: [IPAddress]) throws {
        try database.immediateTransaction {
            try removeRecords(owner: owner, on: network)
            let insert = try database.statement("INSERT OR IGNORE INTO dns_records (network, owner, name, address) VALUES (?, ?, ?, ?)")
            for name in names {
                for address in addresses {
                    try insert.run([.text(network), .text(owner), .text(name.lowercased()), .text(address.description)])
                    insert.reset()
                }
            }
        }
    }

    /// Removes the records of `owner` (on `network`, or on every network when `nil`).
    public func removeRecords(owner: String, on network: String? = nil) throws {
        try database.statement("DELETE FROM dns_records WHERE owner = ?1 AND (?2 IS NULL OR network = ?2)")
            .run([.text(owner), network.map { .text($0) } ?? .null])
    }
}
