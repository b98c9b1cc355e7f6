import NetCore
import Store

/// Reads and writes `overlay_agent` and `overlay_shares` (``schema``).
struct OverlayTables {
    let database: Database

    static let agentKey = "agent"
    static let hostIDKey = "host-id"

    func value(_ key: String) throws -> String? {
        try database.statement("SELECT value FROM overlay_agent WHERE key = ?").firstRow([.text(key)]) { $0.text(0) }
    }

    func setValue(_ key: String, _ value: String) throws {
        try database.statement("INSERT INTO overlay_agent (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .run([.text(key), .text(value)])
    }

    func agent() throws -> OverlayAgentRecord? {
        try value(Self.agentKey).map { try OverlayAgentRecord(json: JSON(parsing: $0)) }
    }

    func shares(network: String? = nil) throws -> [OverlayShare] {
        try database.statement("SELECT definition FROM overlay_shares WHERE ?1 IS NULL OR network = ?1 ORDER BY network, subnet")
            .rows([network.map { .text($0) } ?? .null]) { try OverlayShare(json: JSON(parsing: $0.text(0))) }
    }

    /// Replaces the shares recorded for `network`.
    func replaceShares(network: String, _ shares: [OverlayShare]) throws {
        try deleteShares(network: network)
        for share in shares {
            try database.statement("INSERT INTO overlay_shares (network, subnet, host, definition) VALUES (?, ?, ?, ?)")
                .run([.text(network), .text(share.subnet.description), .text(share.hostID), .text(share.json.serialized())])
        }
    }

    func deleteShares(network: String) throws {
        try database.statement("DELETE FROM overlay_shares WHERE network = ?").run([.text(network)])
    }
}
