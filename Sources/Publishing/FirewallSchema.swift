import Store

extension FirewallRegistry {
    /// The firewall's records: attachments with their ports and proxies, tunnel ports and peers.
    public static let schema = SchemaModule(name: "firewall", migrations: [
        /// What the firewall holds, so a flushed ruleset can be rebuilt and every rule,
        /// port and proxy traced back to whoever made it.
        ///
        /// One row per attachment (network, container, interface); a network that exists on its
        /// own (a `netctl network`) is a row with an empty container and interface. `definition`
        /// is the network as the firewall sees it (JSON); rows with `uses_rules` keep the network's
        /// masquerade and isolation rules alive: they are removed with the last such row.
        /// `ports` is a JSON array of the published ports; `proxy_pid` the userland proxy serving
        /// the ports DNAT cannot.
        Migration(version: 1, name: "firewall attachments", legacyVersion: 2, sql: """
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
            """),
        /// What each attachment's proxy serves (`proxy_rules`, a JSON array of its
        /// `--forward` specs), so `firewall reload` can restart a proxy whose mappings DNAT has no
        /// part in (`-p 127.0.0.1:…`), which `ports` does not hold.
        Migration(version: 2, name: "proxy rules of firewall attachments", legacyVersion: 4, sql: """
            ALTER TABLE firewall_attachments ADD COLUMN proxy_rules TEXT NOT NULL DEFAULT '[]';
            """),
        /// The network namespace (`DEVICE:INODE`) whose ruleset holds each firewall
        /// record, so records of two namespaces that share a store and a bridge name (hosts
        /// simulated in namespaces, a netctl in a container) never count as one bridge's claims.
        /// Records from before have `''`, which every namespace counts as its own.
        Migration(version: 3, name: "host namespace of firewall attachments", legacyVersion: 5, sql: """
            ALTER TABLE firewall_attachments ADD COLUMN host_namespace TEXT NOT NULL DEFAULT '';
            CREATE INDEX firewall_attachments_by_host_bridge ON firewall_attachments (host_namespace, bridge);
            """),
        /// The tunnel (VXLAN) ports whose UDP the firewall takes only from known peers,
        /// and those peers, per host namespace (`DEVICE:INODE`, as in `firewall_attachments`:
        /// hosts simulated in namespaces share a store and a port), so `firewall reload` puts the
        /// filter back. A port is a row of `firewall_tunnel_ports` even with no peer (then nobody
        /// may send to it); each peer a row of `firewall_tunnel_peers` (`address` as text).
        Migration(version: 4, name: "firewall tunnel ports and peers", legacyVersion: 8, sql: """
            CREATE TABLE firewall_tunnel_ports (
                host_namespace TEXT    NOT NULL,
                port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
                PRIMARY KEY (host_namespace, port)
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE firewall_tunnel_peers (
                host_namespace TEXT    NOT NULL,
                port           INTEGER NOT NULL,
                address        TEXT    NOT NULL,
                PRIMARY KEY (host_namespace, port, address)
            ) STRICT, WITHOUT ROWID;
            """),
    ])
}
