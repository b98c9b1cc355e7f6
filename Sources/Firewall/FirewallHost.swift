import Namespaces
import NetCore
import Netlink

/// What the nftables driver needs from the host besides libnftables: its addresses (to
/// check host IPs and probe for overlapping ports) and the `route_localnet` sysctl.
public protocol FirewallHost {
    /// This host's addresses of `family` (of both when `nil`).
    func localAddresses(family: IPAddress.Family?) throws -> [IPAddress]
    func readSysctl(_ key: String) throws -> String
    func writeSysctl(_ key: String, _ value: String) throws
}

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
