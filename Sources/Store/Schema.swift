/// Every migration of netctl's database, in order. Later features (networks, sandboxes,
/// endpoints, published ports) append here; a released migration is never edited.
public enum Schema {
    public static let migrations: [Migration] = [ipam, firewall, netctl, proxyRules, firewallHosts, docker, names, nameGeneration]

    /// The newest schema version this build knows.
    public static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Version 1: key/value metadata and IPAM leases.
    ///
    /// Addresses are 16-byte big-endian BLOBs (IPv4 too, zero-extended), so SQLite's `memcmp`
    /// ordering of blobs equals numeric order and a range of addresses is an index range scan.
    /// `(network, family, address)` is the primary key: the database itself refuses to hand one
    /// address out twice, whatever the allocator does.
    static let ipam = Migration(version: 1, name: "ipam leases", sql: """
        CREATE TABLE store_meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

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
        """)

    /// Version 2: what the firewall holds, so a flushed ruleset can be rebuilt and every rule,
    /// port and proxy traced back to whoever made it.
    ///
    /// One row per attachment (network, container, interface); a network that exists on its
    /// own (a `netctl network`) is a row with an empty container and interface. `definition`
    /// is the network as the firewall sees it (JSON); rows with `uses_rules` keep the network's
    /// masquerade and isolation rules alive: they are removed with the last such row.
    /// `ports` is a JSON array of the published ports; `proxy_pid` the userland proxy serving
    /// the ports DNAT cannot.
    static let firewall = Migration(version: 2, name: "firewall attachments", sql: """
        CREATE TABLE firewall_attachments (
            network      TEXT    NOT NULL,
            container_id TEXT    NOT NULL,
            interface    TEXT    NOT NULL,
            bridge       TEXT    NOT NULL,
            definition   TEXT    NOT NULL,
            uses_rules   INTEGER NOT NULL CHECK (uses_rules IN (0, 1)),
            ports        TEXT    NOT NULL,
            proxy_pid    INTEGER,
            PRIMARY KEY (network, container_id, interface)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX firewall_attachments_by_bridge ON firewall_attachments (bridge);
        """)

    /// Version 3: the `netctl` model. A network, a sandbox (a network namespace netctl made or
    /// was given by path) and an endpoint joining them. The details are JSON (`definition`),
    /// the keys and what queries filter on are columns.
    static let netctl = Migration(version: 3, name: "netctl networks, sandboxes and endpoints", sql: """
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
        """)

    /// Version 4: what each attachment's proxy serves (`proxy_rules`, a JSON array of its
    /// `--forward` specs), so `firewall reload` can restart a proxy whose mappings DNAT has no
    /// part in (`-p 127.0.0.1:…`), which `ports` does not hold.
    static let proxyRules = Migration(version: 4, name: "proxy rules of firewall attachments", sql: """
        ALTER TABLE firewall_attachments ADD COLUMN proxy_rules TEXT NOT NULL DEFAULT '[]';
        """)

    /// Version 5: the network namespace (`DEVICE:INODE`) whose ruleset holds each firewall
    /// record, so records of two namespaces that share a store and a bridge name (hosts
    /// simulated in namespaces, a netctl in a container) never count as one bridge's claims.
    /// Records from before have `''`, which every namespace counts as its own.
    static let firewallHosts = Migration(version: 5, name: "host namespace of firewall attachments", sql: """
        ALTER TABLE firewall_attachments ADD COLUMN host_namespace TEXT NOT NULL DEFAULT '';
        CREATE INDEX firewall_attachments_by_host_bridge ON firewall_attachments (host_namespace, bridge);
        """)

    /// Version 6: what Docker made through the netctl plugin, keyed by Docker's IDs (dockerd
    /// replays nothing after a restart, so the plugin keeps it all). `docker_networks` maps a
    /// Docker network to the netctl network that carries it (made for it, or given with
    /// `-o netctl.network`); `docker_endpoints` holds each endpoint from CreateEndpoint to
    /// DeleteEndpoint; `docker_pools` the IPAM pools handed to dockerd, whose addresses are
    /// leases in `ipam_leases` under the pool's `lease_network`.
    static let docker = Migration(version: 6, name: "docker networks, endpoints and pools", sql: """
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
        """)

    /// Version 7: what the resolver (`netctl-dns`) answers. `dns_networks` has a row per
    /// network it serves (the state key, `netctl:NAME` or `cni:NAME`; the definition holds the
    /// addresses it listens on and the subnets it answers); `dns_records` a row per name and
    /// address, with the attachment that owns it (removed with it). Front ends write them in the
    /// transaction that records the attachment; the resolver reads them when the database changes.
    static let names = Migration(version: 7, name: "dns networks and records", sql: """
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
        """)

    /// Version 8: a count of the changes to the names, `store_meta`'s `dns_generation`, which
    /// triggers bump in the transaction of every row written to `dns_networks` or `dns_records`
    /// (whoever writes it). The resolver wakes on every commit to the store; one that leaves the
    /// count as it was (leases, firewall records, endpoints) costs it this one row, not a read of
    /// every name.
    static let nameGeneration = Migration(version: 8, name: "dns generation", sql: """
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
        """)
}
