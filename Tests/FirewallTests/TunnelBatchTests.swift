@testable import Firewall
import NetCore
import Testing

/// The exact nftables JSON for overlay networks: a network's tunnel (its VXLAN device) in its
/// isolation, and tunnel ports that take UDP only from their peers.
struct TunnelBatchTests {
    let transport = RecordingTransport()

    /// One host's share of an overlay: bridge `br-ov1` (10.200.1.0/24 on it), the whole overlay
    /// subnet 10.200.0.0/16 passed in, and the VXLAN device `vx-ov1` to the other shares.
    func overlay(isInternal: Bool = false, tunnel: String? = "vx-ov1") throws -> FirewallNetwork {
        FirewallNetwork(name: "ov1", bridge: try InterfaceName("br-ov1"), subnets: [try CIDR(parsing: "10.200.0.0/16")],
                        isInternal: isInternal, tunnel: try tunnel.map { try InterfaceName($0) })
    }

    static let noTable = NftablesError(message: "Error: Could not process rule: No such file or directory")

    /// The tunnel is the network's own (both names in the chain's test, both jump to its
    /// chain, both in `bridges`); the whole overlay is in `subnets4` and `masquerade4`, so
    /// traffic to other hosts' shares keeps its source and only traffic leaving the overlay
    /// is masqueraded.
    @Test func aTunnelBelongsToItsNetworkAndTrafficToOtherSharesIsNotMasqueraded() throws {
        try firewall(transport).addNetwork(overlay())
        let lines = try Golden.lines(transport.batches[0])
        #expect(lines.contains(#"{"add":{"rule":{"family":"inet","table":"netctl","chain":"net-br-ov1","expr":[{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":{"set":["br-ov1","vx-ov1"]}}},{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"drop":null}]}}}"#))
        #expect(lines.contains(#"{"add":{"element":{"family":"inet","table":"netctl","name":"masquerade4","elem":[{"prefix":{"addr":"10.200.0.0","len":16}}]}}}"#))
        #expect(lines.contains(#"{"add":{"rule":{"family":"inet","table":"netctl","chain":"postrouting","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@masquerade4"}},{"match":{"op":"!=","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"@subnets4"}},{"masquerade":null}]}}}"#))
        try Golden.expect(transport.batches[0], matches: "add-overlay-network")
    }

    /// Internal: traffic may go between the bridge and the tunnel, and nowhere else.
    @Test func anInternalNetworkWithATunnelTalksOnlyBetweenBridgeAndTunnel() throws {
        try firewall(transport).addNetwork(overlay(isInternal: true))
        try Golden.expect(transport.batches[0], matches: "add-internal-overlay-network")
    }

    @Test func aTunnelNamedAsItsBridgeIsRefusedBeforeAnythingIsSent() throws {
        #expect(throws: NetworkError.self) { try firewall(transport).addNetwork(overlay(tunnel: "br-ov1")) }
        #expect(transport.batches.isEmpty)
    }

    /// With no table yet: the shared objects (the input chain and its two rules among them),
    /// the port, and one element per peer in the set of its family.
    @Test func settingTunnelPeersDeclaresTheFilterAndAddsThePortAndItsPeers() throws {
        transport.replies = [.failure(Self.noTable)]
        try firewall(transport).setTunnelPeers(port: 4789, peers: [ip("2001:db8::2"), ip("192.0.2.3"), ip("192.0.2.2")])
        #expect(transport.batches.count == 2) // the listing, the change
        try Golden.expect(transport.batches[1], matches: "set-tunnel-peers")
    }

    /// Peers of the port that are no longer wanted go in the same transaction; another
    /// port's peers stay, even with the same address.
    @Test func settingTunnelPeersAgainReplacesOnlyThatPortsPeers() throws {
        transport.replies = [.success(Self.listing())]
        try firewall(transport).setTunnelPeers(port: 4789, peers: [ip("192.0.2.3"), ip("192.0.2.4")])
        try Golden.expect(transport.batches[1], matches: "replace-tunnel-peers")
    }

    /// No peers: the port is filtered and nobody may send to it.
    @Test func anEmptyPeerSetStillFiltersThePort() throws {
        transport.replies = [.success(Self.listing())]
        try firewall(transport).setTunnelPeers(port: 4789, peers: [])
        let lines = try Golden.lines(transport.batches[1])
        #expect(lines.contains(#"{"add":{"element":{"family":"inet","table":"netctl","name":"vxlan_ports","elem":[4789]}}}"#))
        #expect(lines.contains(#"{"delete":{"element":{"family":"inet","table":"netctl","name":"vxlan_peers4","elem":[{"concat":["192.0.2.2",4789]},{"concat":["192.0.2.3",4789]}]}}}"#))
        #expect(lines.contains(#"{"delete":{"element":{"family":"inet","table":"netctl","name":"vxlan_peers6","elem":[{"concat":["2001:db8::2",4789]}]}}}"#))
    }

    @Test func portZeroIsRefusedBeforeAnythingIsSent() throws {
        #expect(throws: NetworkError.self) { try firewall(transport).setTunnelPeers(port: 0, peers: []) }
        #expect(throws: NetworkError.self) { try firewall(transport).reload(FirewallState(tunnelPeers: [0: []])) }
        #expect(transport.batches.isEmpty)
    }

    @Test func removingATunnelPortDeletesItAndItsPeersOnly() throws {
        transport.replies = [.success(Self.listing())]
        try firewall(transport).removeTunnelPort(4789)
        try Golden.expect(transport.batches[1], matches: "remove-tunnel-port")
    }

    @Test func removingTheLastUserOfTheTableDeletesIt() throws {
        transport.replies = [.success(Self.listing(network: false, otherPort: false))]
        try firewall(transport).removeTunnelPort(4789)
        #expect(try Golden.lines(transport.batches[1]) == #"{"delete":{"table":{"family":"inet","name":"netctl"}}}"# + "\n")
    }

    @Test func removingATunnelPortThatIsNotThereSendsNothingMore() throws {
        transport.replies = [.failure(Self.noTable)]
        try firewall(transport).removeTunnelPort(4789)
        transport.replies = [.success(Self.listing())]
        try firewall(transport).removeTunnelPort(9999)
        #expect(transport.batches.count == 2) // two listings
    }

    /// Whatever the caller's copy says, everything that jumps to the network's chain goes
    /// with it; the table stays while a tunnel port is filtered.
    @Test func removingAnOverlayNetworkTakesItsTunnelAndKeepsTheTableForTunnelPorts() throws {
        transport.replies = [.success(Self.listing(otherPort: false))]
        try firewall(transport).removeNetwork(overlay(tunnel: nil))
        try Golden.expect(transport.batches[1], matches: "remove-overlay-network")
    }

    @Test func reloadPutsBackTheTunnelAndThePeersInTheSameTransaction() throws {
        let state = try FirewallState(networks: [.init(overlay())],
                                      tunnelPeers: [8472: [ip("192.0.2.9")], 4789: [ip("192.0.2.3"), ip("2001:db8::2"), ip("192.0.2.2")]])
        try firewall(transport).reload(state)
        #expect(transport.batches.count == 1)
        try Golden.expect(transport.batches[0], matches: "reload-overlay")
    }

    @Test func reloadRefusesATunnelThatIsAnotherNetworksBridge() throws {
        let other = FirewallNetwork(name: "net0", bridge: try InterfaceName("vx-ov1"), subnets: [try CIDR(parsing: "10.10.0.0/24")])
        let error = #expect(throws: NetworkError.self) {
            try firewall(transport).reload(FirewallState(networks: [.init(other), .init(overlay())]))
        }
        #expect(error?.message.contains("tunnel") == true)
        #expect(transport.batches.isEmpty)
    }

    /// CHECK of an overlay network reports its tunnel missing from the isolation sets.
    @Test func checkReportsAMissingTunnel() throws {
        transport.replies = [.success(Self.listing(otherPort: false, tunnelListed: false))]
        let missing = try firewall(transport).missingRules(of: overlay())
        #expect(missing.contains(#""vx-ov1" is not in networks"#))
        #expect(missing.contains(#""vx-ov1" is not in bridges"#))
        #expect(!missing.contains(#""br-ov1" is not in networks"#))
    }

    /// What `nft -j list table inet netctl` prints with the overlay network (unless not
    /// `network`), port 4789's peers 192.0.2.2, 192.0.2.3 and 2001:db8::2, and port 8472's
    /// peer 192.0.2.2 (unless not `otherPort`).
    static func listing(network: Bool = true, otherPort: Bool = true, tunnelListed: Bool = true) -> String {
        let names = network ? (tunnelListed ? #"["br-ov1", "vx-ov1"]"# : #"["br-ov1"]"#) : "[]"
        let jumps = network
            ? (tunnelListed ? #"[["br-ov1", {"jump": {"target": "net-br-ov1"}}], ["vx-ov1", {"jump": {"target": "net-br-ov1"}}]]"#
                            : #"[["br-ov1", {"jump": {"target": "net-br-ov1"}}]]"#)
            : "[]"
        let ports = otherPort ? "[4789, 8472]" : "[4789]"
        let peers4 = #"[{"concat": ["192.0.2.2", 4789]}, {"concat": ["192.0.2.3", 4789]}"#
            + (otherPort ? #", {"concat": ["192.0.2.2", 8472]}]"# : "]")
        return #"""
        {"nftables": [{"metainfo": {"json_schema_version": 1}},
         {"table": {"family": "inet", "name": "netctl"}},
         {"map": {"family": "inet", "table": "netctl", "name": "networks", "type": "ifname", "map": "verdict", "elem": \#(jumps)}},
         {"set": {"family": "inet", "table": "netctl", "name": "bridges", "type": "ifname", "elem": \#(names)}},
         {"set": {"family": "inet", "table": "netctl", "name": "subnets4", "type": "ipv4_addr", "flags": ["interval"], "elem": [{"prefix": {"addr": "10.200.0.0", "len": 16}}]}},
         {"set": {"family": "inet", "table": "netctl", "name": "masquerade4", "type": "ipv4_addr", "flags": ["interval"], "elem": [{"prefix": {"addr": "10.200.0.0", "len": 16}}]}},
         {"set": {"family": "inet", "table": "netctl", "name": "vxlan_ports", "type": "inet_service", "elem": \#(ports)}},
         {"set": {"family": "inet", "table": "netctl", "name": "vxlan_peers4", "type": ["ipv4_addr", "inet_service"], "elem": \#(peers4)}},
         {"set": {"family": "inet", "table": "netctl", "name": "vxlan_peers6", "type": ["ipv6_addr", "inet_service"], "elem": [{"concat": ["2001:db8::2", 4789]}]}},
         \#(network ? #"{"chain": {"family": "inet", "table": "netctl", "name": "net-br-ov1"}},"# : "")
         {"chain": {"family": "inet", "table": "netctl", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}]}
        """#
    }
}
