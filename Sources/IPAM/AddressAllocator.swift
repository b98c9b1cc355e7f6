/// The `IPAM` module: address pools with durable leases in netctl's SQLite store.
///
/// Serves both front ends: the CNI `host-local` plugin (range sets, requested addresses, DEL by
/// attachment, GC with valid attachments) and the `netctl` CLI (subnets, `--ip-range`, gateway,
/// auxiliary addresses, automatic subnet selection). It knows nothing of links or netlink.
///
/// Leases live in the `Store` module's SQLite database, reached through the raw sqlite3 C API
/// rather than a wrapper such as GRDB, and the module imports no Foundation: the CNI plugin
/// runs it in a freshly exec'd process, so start-up cost is paid on every container.
import NetCore
import Store

/// Hands out addresses from range sets and keeps the leases in a ``StateStore``.
///
/// Every operation is one `BEGIN IMMEDIATE` transaction, so any number of processes may share
/// a database: they queue on SQLite's write lock, and the `(network, family, address)` primary
/// key makes a duplicate impossible even in principle. A process killed mid-operation leaves
/// its transaction uncommitted, which SQLite rolls back; what a dead container still holds,
/// ``gc(network:valid:)`` frees, and what an earlier boot left behind is reclaimed on open.
///
/// Not `Sendable`: it owns one database connection. Open one per process.
public final class AddressAllocator {
    let database: Database
    let table: LeaseTable
    /// The boot ID stamped on new leases.
    public let bootID: String
    /// The leases of earlier boots that opening this allocator reclaimed.
    public let reclaimedLeases: [Lease]

    /// The `store_meta` key recording which boot last reclaimed leases.
    static let bootMetaKey = "ipam.boot_id"

    /// Opens the allocator and reclaims the leases of earlier boots (once per boot: later opens
    /// see the boot ID already recorded and skip the work).
    ///
    /// - Parameters:
    ///   - store: the state store.
    ///   - bootID: this boot's ID; read from `/proc` when `nil`. Tests inject one.
    /// - Throws: ``SQLiteError``, or ``SystemCallError`` when the boot ID cannot be read.
    public init(store: StateStore, bootID: String? = nil) throws {
        database = store.database
        table = LeaseTable(database: store.database)
        let bootID = try bootID ?? BootID.current()
        self.bootID = bootID
        reclaimedLeases = try Self.reclaimEarlierBoots(table: table, database: store.database, bootID: bootID)
        PhaseTrace.mark("boot ID checked")
    }

    private static func reclaimEarlierBoots(table: LeaseTable, database: Database, bootID: String) throws -> [Lease] {
        if try table.meta(bootMetaKey) == bootID { return [] }
        return try database.immediateTransaction {
            if try table.meta(bootMetaKey) == bootID { return [] }
            let reclaimed = try table.deleteLeases(notFromBoot: bootID)
            try table.setMeta(bootMetaKey, bootID)
            return reclaimed
        }
    }

    /// Releases the key's leases. Releasing a key that holds nothing is success.
    ///
    /// - Returns: the leases released, for logging.
    /// - Throws: ``SQLiteError``.
    @discardableResult
    public func release(key: LeaseKey) throws -> [Lease] {
        try database.immediateTransaction { try table.delete(key) }
    }

    /// Releases every lease on `network` whose key is not in `valid`: CNI's GC with the
    /// runtime's valid attachments, or netctl's reconciliation with its endpoints.
    ///
    /// - Returns: the leases released.
    /// - Throws: ``SQLiteError``.
    @discardableResult
    public func gc(network: String, valid: Set<LeaseKey>) throws -> [Lease] {
        try database.immediateTransaction {
            try table.deleteLeases(network: network, notHeldBy: valid)
        }
    }

    /// Forgets a network that is gone: its leases and its round-robin cursors.
    ///
    /// - Returns: the leases released.
    @discardableResult
    public func forget(network: String) throws -> [Lease] {
        try database.immediateTransaction {
            let released = try table.deleteLeases(network: network, notHeldBy: [])
            try table.deleteCursors(network: network)
            return released
        }
    }

    /// The leases on `network`, IPv4 first, in address order.
    public func leases(network: String) throws -> [Lease] {
        try table.leases(network: network)
    }

    /// The leases `key` holds.
    public func leases(for key: LeaseKey) throws -> [Lease] {
        try table.leases(for: key)
    }
}
