import IPAM
import NameService
import Publishing
import Store

extension ModelTables {
    /// The `netctl` model's networks, sandboxes and endpoints.
    static let schema = SchemaModule(name: "model", migrations: [
        /// The `netctl` model. A network, a sandbox (a network namespace netctl made or
        /// was given by path) and an endpoint joining them. The details are JSON (`definition`),
        /// the keys and what queries filter on are columns.
        Migration(version: 1, name: "netctl networks, sandboxes and endpoints", legacyVersion: 3, sql: """
            CREATE TABLE networks (
                name       TEXT    PRIMARY KEY,
                id         TEXT    NOT NULL UNIQUE,
                driver     TEXT    NOT NULL,
                definition TEXT    NOT NULL,
                created    INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE sandboxes (
                name       TEXT    PRIMARY KEY,
                id         TEXT    NOT NULL UNIQUE,
                path       TEXT    NOT NULL,
                owned      INTEGER NOT NULL CHECK (owned IN (0, 1)),
                definition TEXT    NOT NULL,
                created    INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE endpoints (
                network    TEXT NOT NULL REFERENCES networks (name),
                sandbox    TEXT NOT NULL REFERENCES sandboxes (name),
                interface  TEXT NOT NULL,
                definition TEXT NOT NULL,
                PRIMARY KEY (network, sandbox)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX endpoints_by_sandbox ON endpoints (sandbox);
            """),
    ])
}

extension Netctl {
    /// Every module whose tables the model reads or writes, its own included: a netctl process
    /// migrates them all when it opens the store.
    public static let schema: [SchemaModule] = [
        AddressAllocator.schema, FirewallRegistry.schema, NameTables.schema,
        ModelTables.schema, DockerTables.schema, OverlayTables.schema,
    ]
}
