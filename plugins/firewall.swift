import CNI
import Drivers
import Firewall
import NetCore
import Store

/// The firewall registry as the plugins use it: the shared state store (`NETCTL_STATE_DIR`
/// or `/var/lib/netctl`), libnftables in the host namespace, and the proxy installed beside
/// the plugins. Opened only by the commands that change or check rules, so `VERSION` and
/// plugins without firewall options never load libnftables.
enum PluginFirewall {
    ///
    /// No userland proxy: runtimes such as podman hold the published host ports with sockets
    /// of their own, which a proxy listening on them would collide with. Loopback is served
    /// by DNAT on the bridge instead, as the reference `portmap` does (with the guard rule).
    static func registry() throws -> FirewallRegistry {
        FirewallRegistry(store: try StateStore(), firewall: try NftablesFirewall.open(), proxyExecutable: nil)
    }

    /// The `macspoofchk` rules, in the host namespace.
    static func spoofGuard() throws -> MACSpoofGuard { MACSpoofGuard(transport: try LibNftables()) }

    /// Whether the store and libnftables are usable (for `STATUS`).
    static func status() throws {
        do {
            _ = try StateStore()
        } catch {
            throw CNIError(.notAvailable, "the state store cannot be opened", details: "\(error)")
        }
        guard (try? NftablesFirewall.open())?.isAvailable() == true else {
            throw CNIError(.notAvailable, "nftables is not usable", details: "libnftables cannot list the ruleset")
        }
    }

    /// The key under which plugin `type` keeps the firewall state of network `name`, so the
    /// bridge's masquerade and portmap's ports of one container are separate records.
    static func network(_ type: String, _ name: String) -> String { "\(type):\(name)" }

    /// Container addresses of `interface` (`CNI_IFNAME`) in a previous result.
    static func containerAddresses(_ result: CNIResult, interface: String) -> [IPAddress] {
        result.containerConfiguration(interface: interface).assignments.map(\.address.address)
    }
}
