import CNI
import Drivers
import NetCore
import Publishing
import Store

/// The firewall registry as the plugins use it: the shared state store (`NETCTL_STATE_DIR`
/// or `/var/lib/netctl`), libnftables in the host namespace, and the proxy installed beside
/// the plugins. Opened only by the commands that change or check rules, so `VERSION` and
/// plugins without firewall options never load libnftables.
enum PluginFirewall {
    /// The host's firewall: the registry over the shared store, the MAC guard, libnftables.
    ///
    /// No userland proxy: runtimes such as podman hold the published host ports with sockets
    /// of their own, which a proxy listening on them would collide with. Loopback is served
    /// by DNAT on the bridge instead, as the reference `portmap` does (with the guard rule).
    ///
    /// One per process, kept until exit on purpose: closing a netfilter socket after a commit
    /// waits for the kernel's reclaim, which the hand-off before exit moves out of the
    /// runtime's way only for sockets still open at exit. `nonisolated(unsafe)`: a plugin
    /// process runs its one command on the main thread, and nothing else touches it.
    nonisolated(unsafe) static let host = HostFirewall(store: { try StateStore(schema: [FirewallRegistry.schema]) })

    static func registry() throws -> FirewallRegistry { try host.registry() }

    /// Whether the store and libnftables are usable (for `STATUS`). Without the store no ADD
    /// can work: code 50. Without nftables the rules of the containers already attached
    /// cannot be kept or repaired either (a flushed ruleset stays flushed), so their
    /// masquerade and published ports may be gone: code 51, "limited connectivity".
    static func status() throws {
        do {
            _ = try StateStore(schema: [FirewallRegistry.schema])
        } catch {
            throw CNIError(.notAvailable, "the state store cannot be opened", details: "\(error)")
        }
        guard host.isAvailable() else {
            throw CNIError(.limitedConnectivity, "nftables is not usable",
                           details: "libnftables cannot list the ruleset; existing containers may have lost their masquerade, MAC guard or published ports")
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

extension PluginConfig {
    /// The backend key (bridge `ipMasqBackend`, portmap `backend`) absent or `"nftables"`:
    /// the reference plugins' `"iptables"`, or anything else, is not silently ignored.
    ///
    /// - Throws: ``CNIError`` code 2 naming the key and the value.
    func requireNftablesBackend(_ key: String) throws {
        guard let value = raw[key], !value.isNull, value != .string("nftables") else { return }
        throw CNIError(.unsupportedField, "unsupported \"\(key)\": \(value.serialized())",
                       details: "only the nftables backend exists here: leave \"\(key)\" out or set it to \"nftables\"")
    }
}
