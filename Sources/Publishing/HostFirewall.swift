import Firewall
import NetCore
import Store

/// The host's firewall as a short-lived process (a CNI plugin) uses it: the registry over the
/// shared store, the MAC guard, and libnftables for CHECK, each opened on first use and kept
/// until exit on purpose (closing a netfilter socket after a commit waits for the kernel's
/// reclaim, which ``PublishingExit`` moves out of the caller's way only for sockets still
/// open at exit). Not `Sendable`: one per process.
public final class HostFirewall {
    private let openStore: () throws -> StateStore
    private let proxyExecutable: String?
    private var openedRegistry: FirewallRegistry?
    private var openedSpoofGuard: MACSpoofGuard?
    private var openedNftables: NftablesFirewall?

    /// - Parameters:
    ///   - store: opens the state store when the registry is first needed.
    ///   - proxyExecutable: `netctl-proxy`, or `nil` for no userland proxy (loopback by DNAT).
    public init(store: @escaping () throws -> StateStore, proxyExecutable: String? = nil) {
        openStore = store
        self.proxyExecutable = proxyExecutable
    }

    public func registry() throws -> FirewallRegistry {
        if let openedRegistry { return openedRegistry }
        let store = try openStore()
        let registry = FirewallRegistry(store: store, firewall: try nftables(), proxyExecutable: proxyExecutable)
        PhaseTrace.mark("registry opened")
        openedRegistry = registry
        return registry
    }

    /// The `macspoofchk` rules.
    public func spoofGuard() throws -> MACSpoofGuard {
        if let openedSpoofGuard { return openedSpoofGuard }
        let spoofGuard = MACSpoofGuard(transport: try LibNftables())
        openedSpoofGuard = spoofGuard
        return spoofGuard
    }

    private func nftables() throws -> NftablesFirewall {
        if let openedNftables { return openedNftables }
        let nftables = try NftablesFirewall.open()
        openedNftables = nftables
        return nftables
    }

    /// The network's masquerade, isolation and hairpin rules missing from the live ruleset.
    public func missingRules(of network: PublishingNetwork) throws -> [String] {
        try nftables().missingRules(of: network)
    }

    /// The DNAT entries of `ports` missing from the live ruleset.
    public func missingPorts(_ ports: [PublishedPort], on network: PublishingNetwork) throws -> [String] {
        try nftables().missingPorts(ports, on: network)
    }

    /// Whether libnftables can list the ruleset here.
    public func isAvailable() -> Bool {
        (try? NftablesFirewall.open())?.isAvailable() == true
    }
}
