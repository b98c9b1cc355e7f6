import NetCore

/// What the nftables driver needs from the host besides libnftables: its addresses (to
/// check host IPs and probe for overlapping ports) and the `route_localnet` sysctl. The
/// firewall reads no host state itself: whoever composes it hands one in (Publishing's
/// `NamespaceHost` reads the kernel; tests hand in fakes).
public protocol FirewallHost {
    /// This host's addresses of `family` (of both when `nil`).
    func localAddresses(family: IPAddress.Family?) throws -> [IPAddress]
    func readSysctl(_ key: String) throws -> String
    func writeSysctl(_ key: String, _ value: String) throws
}
