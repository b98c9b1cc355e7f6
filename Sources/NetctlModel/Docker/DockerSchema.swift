import Store

extension DockerTables {
    /// What Docker made through the plugin.
    static let schema = SchemaModule(name: "docker", migrations: [
        /// What Docker made through the netctl plugin, keyed by Docker's IDs (dockerd
        /// replays nothing after a restart, so the plugin keeps it all). `docker_networks` maps a
        /// Docker network to the netctl network that carries it (made for it, or given with
        /// `-o netctl.network`); `docker_endpoints` holds each endpoint from CreateEndpoint to
        /// DeleteEndpoint; `docker_pools` the IPAM pools handed to dockerd, whose addresses are
        /// leases in `ipam_leases` under the pool's `lease_network`.
        Migration(version: 1, name: "docker networks, endpoints and pools", legacyVersion: 6, sql: """
            CREATE TABLE docker_networks (
                id         TEXT    PRIMARY KEY,
                network    TEXT    NOT NULL,
                made       INTEGER NOT NULL CHECK (made IN (0, 1)),
                definition TEXT    NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX docker_networks_by_network ON docker_networks (network);

            CREATE TABLE docker_endpoints (
                id         TEXT PRIMARY KEY,
                network_id TEXT NOT NULL,
                definition TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX docker_endpoints_by_network ON docker_endpoints (network_id);

            CREATE TABLE docker_pools (
                id            TEXT PRIMARY KEY,
                lease_network TEXT NOT NULL,
                definition    TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;
            """),
    ])
}
