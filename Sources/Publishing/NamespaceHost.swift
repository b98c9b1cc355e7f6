import Firewall
import Namespaces
import NetCore
import Netlink
import Store

/// The host as seen from one network namespace, through rtnetlink and `/proc/sys`.
public final class NamespaceHost: FirewallHost {
    private let namespace: NetNamespace
    private let socket: RouteSocket

    /// - Parameter namespace: the namespace to work in; `nil` for the calling thread's.
    public init(namespace: NetNamespace? = nil) throws {
        if let namespace {
            self.namespace = namespace
            socket = try RouteSocket.open(in: namespace)
        } else {
            // Already here: no thread to switch namespaces on.
            self.namespace = try NetNamespace.current()
            socket = try RouteSocket.open()
        }
        PhaseTrace.mark("host socket opened")
    }

    public func localAddresses(family: IPAddress.Family?) throws -> [IPAddress] {
        try socket.addresses(family: family).map(\.address.address)
    }

    public func readSysctl(_ key: String) throws -> String {
        try namespace.readSysctl(key)
    }

    public func writeSysctl(_ key: String, _ value: String) throws {
        try namespace.writeSysctl(key, value)
    }
}

extension NftablesFirewall {
    /// Opens libnftables, rtnetlink (for the host's addresses) and the lock for `namespace`
    /// (the calling thread's when `nil`).
    ///
    /// - Parameter lockPath: created with its directory when missing; `nil` for no lock.
    /// - Throws: ``NetworkError`` when libnftables or the lock cannot be opened.
    public static func open(in namespace: NetNamespace? = nil, lockPath: String? = defaultLockPath) throws -> NftablesFirewall {
        try open(in: namespace, lockPath: lockPath, host: NamespaceHost(namespace: namespace))
    }
}

extension FirewallRegistry {
    /// The registry over nftables in the calling thread's namespace (the host's), with the
    /// shared lock: what a front end publishes through.
    public static func onHost(store: StateStore, proxyExecutable: String?) throws -> FirewallRegistry {
        FirewallRegistry(store: store, firewall: try NftablesFirewall.open(), proxyExecutable: proxyExecutable)
    }
}

/// The network as publishing sees it (its bridge, subnets, masquerade), for front ends that
/// do not import the firewall itself.
public typealias PublishingNetwork = FirewallNetwork
