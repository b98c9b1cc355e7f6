import Store

extension NameTables {
    /// What the resolver answers, and the count of its changes.
    public static let schema = SchemaModule(name: "names", migrations: [
        /// What the resolver (`netctl-dns`) answers. `dns_networks` has a row per
        /// network it serves (the state key, `netctl:NAME` or `cni:NAME`; the definition holds the
        /// addresses it listens on and the subnets it answers); `dns_records` a row per name and
        /// address, with the attachment that owns it (removed with it). Front ends write them in the
        /// transaction that records the attachment; the resolver reads them when the database changes.
        Migration(version: 1, name: "dns networks and records", legacyVersion: 7, sql: """
            CREATE TABLE dns_networks (
                network    TEXT PRIMARY KEY,
                definition TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE dns_records (
                network TEXT NOT NULL,
                owner   TEXT NOT NULL,
                name    TEXT NOT NULL,
                address TEXT NOT NULL,
                PRIMARY KEY (network, owner, name, address)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX dns_records_by_owner ON dns_records (owner);
            """),
        /// A count of the changes to the names, `store_meta`'s `dns_generation`, which
        /// triggers bump in the transaction of every row written to `dns_networks` or `dns_records`
        /// (whoever writes it). The resolver wakes on every commit to the store; one that leaves the
        /// count as it was (leases, firewall records, endpoints) costs it this one row, not a read of
        /// every name.
        Migration(version: 2, name: "dns generation", legacyVersion: 10, sql: """
            INSERT OR IGNORE INTO store_meta (key, value) VALUES ('dns_generation', '0');
            CREATE TRIGGER dns_networks_inserted AFTER INSERT ON dns_networks BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            CREATE TRIGGER dns_networks_updated AFTER UPDATE ON dns_networks BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            CREATE TRIGGER dns_networks_deleted AFTER DELETE ON dns_networks BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            CREATE TRIGGER dns_records_inserted AFTER INSERT ON dns_records BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            CREATE TRIGGER dns_records_updated AFTER UPDATE ON dns_records BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            CREATE TRIGGER dns_records_deleted AFTER DELETE ON dns_records BEGIN
                UPDATE store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'dns_generation';
            END;
            """),
    ])
}
