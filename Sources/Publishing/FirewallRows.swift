import Firewall
import NetCore
import ProxyClient
import Store

extension FirewallRegistry {
    /// The store key of a firewall record: an attachment, or a network on its own (empty
    /// container and interface).
    struct Key: Hashable, CustomStringConvertible {
        var network: String
        var containerID: String
        var interface: String

        init(network: String, containerID: String, interface: String) {
            self.network = network
            self.containerID = containerID
            self.interface = interface
        }

        init(_ attachment: AttachmentID) {
            self.init(network: attachment.network, containerID: attachment.containerID, interface: attachment.interface.rawValue)
        }

        var isNetwork: Bool { containerID.isEmpty }

        var attachmentID: AttachmentID? {
            guard !isNetwork, let interface = try? InterfaceName(interface) else { return nil }
            return AttachmentID(network: network, containerID: containerID, interface: interface)
        }

        var description: String { isNetwork ? "network \"\(network)\"" : "\(network)/\(containerID)/\(interface)" }
    }

    /// One row of `firewall_attachments`.
    struct Row {
        var key: Key
        var network: FirewallNetwork
        var usesRules: Bool
        var ports: [PublishedPort]
        /// What the proxy serves: what DNAT leaves of the mappings, as the attach planned it.
        var proxyRules: [ForwardRule] = []
        var proxyPID: Int32?
    }
}

/// Reads and writes `firewall_attachments` (``schema``).
struct FirewallRows {
    typealias Row = FirewallRegistry.Row
    let database: Database
    /// The namespace whose ruleset this registry changes (`DEVICE:INODE`): rows it writes
    /// carry it, and a bridge's claims are counted among the rows of it (and older rows
    /// without one).
    let hostNamespace: String

    private static let columns = "network, container_id, interface, definition, uses_rules, ports, proxy_pid, proxy_rules"

    func find(_ key: FirewallRegistry.Key) throws -> Row? {
        try database.statement("SELECT \(Self.columns) FROM firewall_attachments WHERE network = ? AND container_id = ? AND interface = ?")
            .firstRow([.text(key.network), .text(key.containerID), .text(key.interface)], Self.row)
    }

    /// The rows of this host namespace (and older rows without one).
    func allOfThisHost() throws -> [Row] {
        try database.statement("SELECT \(Self.columns) FROM firewall_attachments WHERE host_namespace IN (?, '')")
            .rows([.text(hostNamespace)], Self.row)
    }

    func all(network: String? = nil) throws -> [Row] {
        if let network {
            return try database.statement("SELECT \(Self.columns) FROM firewall_attachments WHERE network = ?").rows([.text(network)], Self.row)
        }
        return try database.statement("SELECT \(Self.columns) FROM firewall_attachments").rows([], Self.row)
    }

    /// The distinct network definitions of the other records that keep `bridge`'s rules: a
    /// bridge with 200 containers usually has one, so this stays cheap as containers come.
    func ruleHolders(bridge: InterfaceName, except key: FirewallRegistry.Key) throws -> [FirewallNetwork] {
        try database.statement("""
            SELECT DISTINCT definition FROM firewall_attachments
            WHERE bridge = ? AND host_namespace IN (?, '') AND uses_rules = 1 AND NOT (network = ? AND container_id = ? AND interface = ?)
            """).rows([.text(bridge.rawValue), .text(hostNamespace), .text(key.network), .text(key.containerID), .text(key.interface)]) {
            try FirewallNetwork(record: JSON(parsing: $0.text(0)))
        }
    }

    /// Whether another record keeps `bridge`'s rules, and (with `definition`) one with exactly
    /// that network definition: one indexed probe that stops at the first such row, where
    /// ``ruleHolders(bridge:except:)`` reads every record on the bridge.
    func hasRuleHolder(bridge: InterfaceName, definition: FirewallNetwork? = nil, except key: FirewallRegistry.Key) throws -> Bool {
        let sameDefinition = definition == nil ? "" : " AND definition = ?6"
        var values: [SQLValue] = [.text(bridge.rawValue), .text(hostNamespace), .text(key.network), .text(key.containerID), .text(key.interface)]
        if let definition { values.append(.text(definition.record.serialized())) }
        return try database.statement("""
            SELECT 1 FROM firewall_attachments
            WHERE bridge = ?1 AND host_namespace IN (?2, '') AND uses_rules = 1 AND NOT (network = ?3 AND container_id = ?4 AND interface = ?5)\(sameDefinition)
            LIMIT 1
            """).firstRow(values) { _ in true } ?? false
    }

    /// The container addresses of the records on `bridge` that publish ports without holding
    /// its rules (portmap with `snat` off): removing the rules must leave their mappings.
    func portOnlyAddresses(bridge: InterfaceName, except key: FirewallRegistry.Key) throws -> Set<IPAddress> {
        let rows = try database.statement("""
            SELECT ports FROM firewall_attachments
            WHERE bridge = ? AND host_namespace IN (?, '') AND uses_rules = 0 AND ports != '[]'
                AND NOT (network = ? AND container_id = ? AND interface = ?)
            """).rows([.text(bridge.rawValue), .text(hostNamespace), .text(key.network), .text(key.containerID), .text(key.interface)]) {
            try PublishedPort.from(records: JSON(parsing: $0.text(0)))
        }
        return Set(rows.joined().map(\.containerAddress))
    }

    /// Inserts or replaces the row of `row.key`.
    func insert(_ row: Row) throws {
        try database.statement("""
            INSERT OR REPLACE INTO firewall_attachments
                (network, container_id, interface, bridge, definition, uses_rules, ports, proxy_pid, proxy_rules, host_namespace)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run([.text(row.key.network), .text(row.key.containerID), .text(row.key.interface),
                      .text(row.network.bridge.rawValue), .text(row.network.record.serialized()), .int(row.usesRules ? 1 : 0),
                      .text(PublishedPort.records(row.ports).serialized()), row.proxyPID.map { .int($0) } ?? .null,
                      .text(JSON.array(ForwardRule.specs(for: row.proxyRules).map(JSON.string)).serialized()),
                      .text(hostNamespace)])
    }

    func delete(_ key: FirewallRegistry.Key) throws {
        try database.statement("DELETE FROM firewall_attachments WHERE network = ? AND container_id = ? AND interface = ?")
            .run([.text(key.network), .text(key.containerID), .text(key.interface)])
    }

    private static func row(_ statement: Statement) throws -> Row {
        Row(key: .init(network: statement.text(0), containerID: statement.text(1), interface: statement.text(2)),
            network: try FirewallNetwork(record: JSON(parsing: statement.text(3))),
            usesRules: statement.int64(4) != 0,
            ports: try PublishedPort.from(records: JSON(parsing: statement.text(5))),
            proxyRules: try JSON(parsing: statement.text(7)).arrayValue?.compactMap(\.stringValue).flatMap(ForwardRule.parse) ?? [],
            proxyPID: statement.isNull(6) ? nil : Int32(truncatingIfNeeded: statement.int64(6)))
    }
}

/// Reads and writes `firewall_tunnel_ports` and `firewall_tunnel_peers` (``schema``)
/// of one host namespace.
struct TunnelPeerRows {
    let database: Database
    let hostNamespace: String

    /// The peers recorded for `port`, or `nil` when the port is not recorded.
    func peers(port: UInt16) throws -> Set<IPAddress>? {
        guard try database.statement("SELECT 1 FROM firewall_tunnel_ports WHERE host_namespace = ? AND port = ?")
            .firstRow([.text(hostNamespace), .int(port)], { _ in true }) != nil else { return nil }
        return Set(try database.statement("SELECT address FROM firewall_tunnel_peers WHERE host_namespace = ? AND port = ?")
            .rows([.text(hostNamespace), .int(port)]) { try Self.address($0) })
    }

    /// Every recorded port with its peers.
    func all() throws -> [UInt16: Set<IPAddress>] {
        var result: [UInt16: Set<IPAddress>] = [:]
        for port in try database.statement("SELECT port FROM firewall_tunnel_ports WHERE host_namespace = ?")
            .rows([.text(hostNamespace)], { UInt16(truncatingIfNeeded: $0.int64(0)) }) {
            result[port] = []
        }
        let peers = try database.statement("SELECT port, address FROM firewall_tunnel_peers WHERE host_namespace = ?")
            .rows([.text(hostNamespace)]) { (port: UInt16(truncatingIfNeeded: $0.int64(0)), address: try Self.address($0, column: 1)) }
        for (port, address) in peers where result[port] != nil { result[port]?.insert(address) }
        return result
    }

    /// Records `port` with exactly `peers`.
    func replace(port: UInt16, peers: Set<IPAddress>) throws {
        try delete(port: port)
        try database.statement("INSERT INTO firewall_tunnel_ports (host_namespace, port) VALUES (?, ?)")
            .run([.text(hostNamespace), .int(port)])
        let insert = try database.statement("INSERT INTO firewall_tunnel_peers (host_namespace, port, address) VALUES (?, ?, ?)")
        for peer in peers.sorted() {
            try insert.run([.text(hostNamespace), .int(port), .text(peer.description)])
        }
    }

    /// Forgets `port` and its peers.
    func delete(port: UInt16) throws {
        for table in ["firewall_tunnel_ports", "firewall_tunnel_peers"] {
            try database.statement("DELETE FROM \(table) WHERE host_namespace = ? AND port = ?").run([.text(hostNamespace), .int(port)])
        }
    }

    private static func address(_ statement: Statement, column: Int32 = 0) throws -> IPAddress {
        try IPAddress(parsing: statement.text(column), field: "stored tunnel peer")
    }
}
