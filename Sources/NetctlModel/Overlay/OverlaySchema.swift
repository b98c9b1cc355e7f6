import Store

extension OverlayTables {
    /// The overlay agent's record of this host and the shares it knows.
    static let schema = SchemaModule(name: "overlay", migrations: [
        /// The overlay agent's record of this host (`overlay_agent`: its identity, the
        /// etcd endpoints it uses, its lease and the underlay, one JSON row per key) and the shares
        /// of every overlay network it knows (`overlay_shares`: which host holds which slice of the
        /// subnet, for `network inspect` and for the routes). The agent writes them; the CLI and the
        /// CNI `overlay` plugin only read.
        Migration(version: 1, name: "overlay agent and shares", legacyVersion: 9, sql: """
            CREATE TABLE overlay_agent (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE overlay_shares (
                network    TEXT NOT NULL,
                subnet     TEXT NOT NULL,
                host       TEXT NOT NULL,
                definition TEXT NOT NULL,
                PRIMARY KEY (network, subnet)
            ) STRICT, WITHOUT ROWID;
            """),
    ])
}
