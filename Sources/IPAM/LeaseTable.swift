import NetCore
import Store
import Synchronization

/// The SQL behind the allocator: every query is on an index, none loads the whole table.
///
/// Callers wrap these in a transaction; on its own each call is one statement.
struct LeaseTable {
    let database: Database

    private static let columns =
        "network, family, address, prefix_length, gateway, container_id, interface"

    /// How many leases this table has read out of the store: the tests hold GC to reading
    /// only what it deletes.
    let leasesRead = ReadCount()

    // MARK: Reading

    /// `INDEXED BY`: without statistics SQLite's planner prefers walking the primary key
    /// through every lease of the network to seeking the key index, which made a lookup O(n).
    /// A key holds a lease or two, so they are sorted here rather than in SQL.
    func leases(for key: LeaseKey) throws -> [Lease] {
        try database.statement("""
            SELECT \(Self.columns) FROM ipam_leases INDEXED BY ipam_leases_by_key
            WHERE network = ?1 AND container_id = ?2 AND interface = ?3
            """).rows(Self.bind(key), lease).sorted(by: Self.addressOrder)
    }

    /// IPv4 before IPv6, then numerically.
    private static func addressOrder(_ lhs: Lease, _ rhs: Lease) -> Bool { lhs.address.address < rhs.address.address }

    func leases(network: String) throws -> [Lease] {
        try database.statement(
            "SELECT \(Self.columns) FROM ipam_leases WHERE network = ?1 ORDER BY family, address"
        ).rows([.text(network)], lease)
    }

    /// The lease on `address`, if any.
    func lease(network: String, address: IPAddress) throws -> Lease? {
        try database.statement("""
            SELECT \(Self.columns) FROM ipam_leases WHERE network = ?1 AND family = ?2 AND address = ?3
            """).firstRow(Self.bind(network, address), lease)
    }

    /// The lowest address in `lo...hi` that is neither leased nor in `excluded` (sorted).
    ///
    /// Walks the primary-key index upward from `lo` and stops at the first gap, so the cost is
    /// O(log n) to seek plus one step per leased address directly after `lo` — with round-robin
    /// allocation that run is short, whatever the number of leases in the pool. The worst case
    /// is a nearly full pool whose only gap lies far from the cursor: then the walk is O(n),
    /// about a microsecond per leased address stepped over.
    func firstFree(
        network: String, family: IPAddress.Family, from lo: UInt128, through hi: UInt128,
        excluded: [UInt128]
    ) throws -> UInt128? {
        guard lo <= hi else { return nil }
        let statement = try database.statement("""
            SELECT address FROM ipam_leases
            WHERE network = ?1 AND family = ?2 AND address >= ?3 AND address <= ?4 ORDER BY address
            """)
        try statement.bind([
            .text(network), .integer(AddressBlob.column(family)),
            .blob(AddressBlob.encode(lo)), .blob(AddressBlob.encode(hi)),
        ])
        defer { statement.reset() }
        var candidate = lo
        var nextExcluded = excluded.firstIndex { $0 >= lo } ?? excluded.endIndex
        while true {
            while nextExcluded < excluded.endIndex, excluded[nextExcluded] <= candidate {
                if excluded[nextExcluded] == candidate {
                    if candidate == hi { return nil }
                    candidate += 1
                }
                nextExcluded += 1
            }
            guard try statement.step() else { return candidate }
            guard let leased = AddressBlob.decode(statement.blob(0)) else { continue }
            if leased > candidate { return candidate }
            if leased == candidate {
                if candidate == hi { return nil }
                candidate += 1
            }
        }
    }

    // MARK: Writing

    func insert(_ lease: Lease, bootID: String) throws {
        try database.statement("""
            INSERT INTO ipam_leases (\(Self.columns), boot_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """).run([
                .text(lease.key.network), .integer(AddressBlob.column(lease.address.family)),
                .blob(AddressBlob.encode(lease.address.address)), .int(lease.address.prefixLength),
                .optionalBlob(lease.gateway.map(AddressBlob.encode)),
                .text(lease.key.containerID), .text(lease.key.interface.rawValue), .text(bootID),
            ])
    }

    /// Deletes the key's leases and returns them.
    func delete(_ key: LeaseKey) throws -> [Lease] {
        try database.statement("""
            DELETE FROM ipam_leases INDEXED BY ipam_leases_by_key
            WHERE network = ?1 AND container_id = ?2 AND interface = ?3
            RETURNING \(Self.columns)
            """).rows(Self.bind(key), lease)
    }

    func delete(_ lease: Lease) throws {
        try database.statement("DELETE FROM ipam_leases WHERE network = ?1 AND family = ?2 AND address = ?3")
            .run(Self.bind(lease.key.network, lease.address.address))
    }

    /// Deletes the leases of `network` whose holder is not in `valid` and returns them, in
    /// one statement: the valid holders go in as a JSON array, and only the stale leases are
    /// ever read out (a network of 50 000 leases with one stale decodes one).
    func deleteLeases(network: String, notHeldBy valid: Set<LeaseKey>) throws -> [Lease] {
        let holders = JSON.array(valid.filter { $0.network == network }.map { .array([.string($0.containerID), .string($0.interface.rawValue)]) })
        return try database.statement("""
            DELETE FROM ipam_leases WHERE network = ?1 AND NOT EXISTS (
                SELECT 1 FROM json_each(?2) AS holder
                WHERE holder.value ->> 0 = ipam_leases.container_id AND holder.value ->> 1 = ipam_leases.interface)
            RETURNING \(Self.columns)
            """).rows([.text(network), .text(holders.serialized())], lease)
    }

    /// Deletes the round-robin cursors of `network` but those of `rangeSets` (all when empty):
    /// a network whose ranges changed keeps no cursor of ranges it no longer has.
    func deleteCursors(network: String, keeping rangeSets: [String] = []) throws {
        try database.statement("""
            DELETE FROM ipam_cursors WHERE network = ?1 AND range_set NOT IN (SELECT value FROM json_each(?2))
            """).run([.text(network), .text(JSON.array(rangeSets.map(JSON.string)).serialized())])
    }

    /// Deletes every lease not stamped with `bootID` and returns them. Two index range scans
    /// on `boot_id`, rather than a scan of every lease.
    func deleteLeases(notFromBoot bootID: String) throws -> [Lease] {
        try database.statement("""
            DELETE FROM ipam_leases WHERE boot_id < ?1 OR boot_id > ?1 RETURNING \(Self.columns)
            """).rows([.text(bootID)], lease)
    }

    // MARK: Cursor and metadata

    /// The last address handed out from `rangeSet` on `network`.
    func cursor(network: String, rangeSet: String) throws -> UInt128? {
        try database.statement("SELECT address FROM ipam_cursors WHERE network = ?1 AND range_set = ?2")
            .firstRow([.text(network), .text(rangeSet)]) { AddressBlob.decode($0.blob(0)) } ?? nil
    }

    func setCursor(network: String, rangeSet: String, to value: UInt128) throws {
        try database.statement("""
            INSERT INTO ipam_cursors (network, range_set, address) VALUES (?1, ?2, ?3)
            ON CONFLICT (network, range_set) DO UPDATE SET address = excluded.address
            """).run([.text(network), .text(rangeSet), .blob(AddressBlob.encode(value))])
    }

    func meta(_ key: String) throws -> String? {
        try database.statement("SELECT value FROM store_meta WHERE key = ?1").firstRow([.text(key)]) { $0.text(0) }
    }

    func setMeta(_ key: String, _ value: String) throws {
        try database.statement("""
            INSERT INTO store_meta (key, value) VALUES (?1, ?2)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """).run([.text(key), .text(value)])
    }

    // MARK: Rows

    private static func bind(_ key: LeaseKey) -> [SQLValue] {
        [.text(key.network), .text(key.containerID), .text(key.interface.rawValue)]
    }

    private static func bind(_ network: String, _ address: IPAddress) -> [SQLValue] {
        [.text(network), .integer(AddressBlob.column(address.family)), .blob(AddressBlob.encode(address))]
    }

    /// Decodes a row selected with ``columns``.
    ///
    /// - Throws: ``NetworkError`` with code `internalError` when the row cannot be a lease.
    private func lease(_ row: Statement) throws -> Lease {
        leasesRead.value.add(1, ordering: .relaxed)
        return try Self.lease(row)
    }

    private static func lease(_ row: Statement) throws -> Lease {
        let network = row.text(0)
        guard let family = AddressBlob.family(column: row.int64(1)),
              let value = AddressBlob.decode(row.blob(2)),
              let address = IPAddress(family: family, integerValue: value)
        else {
            throw NetworkError(code: .internalError, message: "a stored lease on network \"\(network)\" is corrupt")
        }
        var gateway: IPAddress?
        if !row.isNull(4), let raw = AddressBlob.decode(row.blob(4)) {
            gateway = IPAddress(family: family, integerValue: raw)
        }
        let key = try LeaseKey(
            network: network, containerID: row.text(5),
            interface: InterfaceName(row.text(6), field: "stored interface name"))
        return Lease(
            key: key, address: try CIDR(address: address, prefixLength: Int(row.int64(3))), gateway: gateway)
    }
}

/// A counter shared by the copies of one table.
final class ReadCount: Sendable {
    let value = Atomic<Int>(0)
}
