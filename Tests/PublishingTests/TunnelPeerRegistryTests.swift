import Firewall
import Foundation
import NetCore
@testable import Publishing
import Store
import Testing

/// Tunnel ports and their peers in the store, and a network's tunnel in its record: what
/// `firewall reload` rebuilds after a flushed ruleset.
struct TunnelPeerRegistryTests {
    let firewall = RecordingFirewall()
    let store: StateStore
    let registry: FirewallRegistry

    init() throws {
        store = try StateStore(directory: NSTemporaryDirectory() + "registry-\(UUID().uuidString)", schema: [FirewallRegistry.schema])
        registry = FirewallRegistry(store: store, firewall: firewall, hostNamespace: "1:100")
    }

    func address(_ text: String) throws -> IPAddress { try IPAddress(parsing: text, field: "test") }

    func overlay(tunnel: String? = "vx-ov1") throws -> FirewallNetwork {
        FirewallNetwork(name: "ov1", bridge: try InterfaceName("br-ov1"), subnets: [try CIDR(parsing: "10.200.0.0/16")],
                        tunnel: try tunnel.map { try InterfaceName($0) })
    }

    @Test func peersAreRecordedAndAReloadPutsThemBack() throws {
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.3"), address("192.0.2.2")])
        #expect(firewall.calls == ["tunnel 4789 192.0.2.2,192.0.2.3"])
        try registry.reload()
        #expect(firewall.lastReload?.tunnelPeers == [4789: [try address("192.0.2.2"), try address("192.0.2.3")]])
    }

    /// A port with no peer left stays filtered (nobody may send to it) after a reload too.
    @Test func settingPeersAgainReplacesThemAndAPortWithoutPeersIsKept() throws {
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.2"), address("2001:db8::2")])
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.4")])
        #expect(try registry.tunnelPeers() == [4789: [try address("192.0.2.4")]])
        try registry.setTunnelPeers(port: 4789, peers: [])
        try registry.setTunnelPeers(port: 8472, peers: [address("192.0.2.9")])
        try registry.reload()
        #expect(firewall.lastReload?.tunnelPeers == [4789: [], 8472: [try address("192.0.2.9")]])
    }

    @Test func removingAPortForgetsItAndItsPeers() throws {
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.2")])
        try registry.removeTunnelPort(4789)
        try registry.removeTunnelPort(4789) // again: success
        #expect(firewall.calls == ["tunnel 4789 192.0.2.2", "untunnel 4789", "untunnel 4789"])
        #expect(try registry.tunnelPeers().isEmpty)
        try registry.reload()
        #expect(firewall.lastReload?.tunnelPeers.isEmpty == true)
    }

    @Test func aChangeTheFirewallRefusesIsNotRecorded() throws {
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.2")])
        firewall.refuseTunnelPorts = true
        #expect(throws: NetworkError.self) { try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.3")]) }
        #expect(throws: NetworkError.self) { try registry.removeTunnelPort(4789) }
        #expect(throws: NetworkError.self) { try registry.setTunnelPeers(port: 8472, peers: []) }
        #expect(try registry.tunnelPeers() == [4789: [try address("192.0.2.2")]])
    }

    @Test func portZeroIsRefusedBeforeAnythingIsRecorded() throws {
        #expect(throws: NetworkError.self) { try registry.setTunnelPeers(port: 0, peers: []) }
        #expect(firewall.calls.isEmpty)
        #expect(try registry.tunnelPeers().isEmpty)
    }

    /// Two simulated hosts sharing one store each have their own peers for the same port.
    @Test func eachHostNamespaceReloadsOnlyItsOwnPeers() throws {
        let other = RecordingFirewall()
        let otherRegistry = FirewallRegistry(store: store, firewall: other, hostNamespace: "1:200")
        try registry.setTunnelPeers(port: 4789, peers: [address("192.0.2.2")])
        try otherRegistry.setTunnelPeers(port: 4789, peers: [address("192.0.2.1")])
        try registry.reload()
        try otherRegistry.reload()
        #expect(firewall.lastReload?.tunnelPeers == [4789: [try address("192.0.2.2")]])
        #expect(other.lastReload?.tunnelPeers == [4789: [try address("192.0.2.1")]])
    }

    @Test func aNetworksTunnelSurvivesTheStore() throws {
        try registry.addNetwork(overlay(), name: "ov1")
        try registry.reload()
        #expect(firewall.lastReload?.networks.first?.network == (try overlay()))
        #expect(firewall.lastReload?.networks.first?.network.tunnel?.rawValue == "vx-ov1")
    }

    /// Rows written before tunnels existed have no `tunnel` member: they decode without one,
    /// and a network without one is written as it always was.
    @Test func aRecordWithoutATunnelHasNone() throws {
        let old = #"{"name":"ov1","bridge":"br-ov1","subnets":["10.200.0.0/16"],"masquerade":true,"internal":false,"localhostDNAT":false}"#
        #expect(try FirewallNetwork(record: JSON(parsing: old)) == (try overlay(tunnel: nil)))
        #expect(try overlay(tunnel: nil).record.serialized() == old)
        let withTunnel = try overlay().record
        #expect(withTunnel["tunnel"]?.stringValue == "vx-ov1")
        #expect(try FirewallNetwork(record: withTunnel) == (try overlay()))
    }

    @Test func attachmentsOnOneBridgeKeepTheTunnelOfAnyOfThem() throws {
        let merged = FirewallNetwork.merged([try overlay(tunnel: nil), try overlay()])
        #expect(merged?.tunnel?.rawValue == "vx-ov1")
    }
}
