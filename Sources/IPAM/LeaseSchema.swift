import Store

extension AddressAllocator {
    /// The tables of leases and cursors, registered with the store by IPAM.
    public static let schema = SchemaModule(name: "ipam", migrations: [
        /// IPAM leases (and `store_meta`, now the store's own).
        ///
        /// Addresses are 16-byte big-endian BLOBs (IPv4 too, zero-extended), so SQLite's `memcmp`
        /// ordering of blobs equals numeric order and a range of addresses is an index range scan.
        /// `(network, family, address)` is the primary key: the database itself refuses to hand one
        /// address out twice, whatever the allocator does.
        Migration(version: 1, name: "ipam leases", legacyVersion: 1, sql: """
            CREATE TABLE ipam_leases (
                network       TEXT    NOT NULL,
                family        INTEGER NOT NULL CHECK (family IN (4, 6)),
                address       BLOB    NOT NULL CHECK (length(address) = 16),
                prefix_length INTEGER NOT NULL,
                gateway       BLOB             CHECK (gateway IS NULL OR length(gateway) = 16),
                container_id  TEXT    NOT NULL,
                interface     TEXT    NOT NULL,
                boot_id       TEXT    NOT NULL,
                PRIMARY KEY (network, family, address)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX ipam_leases_by_key ON ipam_leases (network, container_id, interface);
            CREATE INDEX ipam_leases_by_boot ON ipam_leases (boot_id);

            -- The last address handed out from each range set: allocation continues after it.
            CREATE TABLE ipam_cursors (
                network   TEXT NOT NULL,
                range_set TEXT NOT NULL,
                address   BLOB NOT NULL CHECK (length(address) = 16),
                PRIMARY KEY (network, range_set)
            ) STRICT, WITHOUT ROWID;
            """),
    ])
}
