import NetctlModel

/// Where overlay state lives in etcd, under one prefix (default `/netctl/v1`), so one watch
/// sees all of it:
/// - `hosts/<host ID>`: a host's name and underlay address, on the host's lease (membership);
/// - `networks/<name>/config`: the network, written once (create-if-absent);
/// - `networks/<name>/subnets/<a.b.c.d>-<len>`: a host's share, on that host's lease;
/// - `vni/<vni>`: the network holding a VNI (create-if-absent makes VNIs unique).
public struct OverlayKeys: Sendable {
    public let prefix: String

    public static let defaultPrefix = "/netctl/v1"

    public init(prefix: String = OverlayKeys.defaultPrefix) {
        var prefix = prefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.prefix = prefix
    }

    /// Everything the agent watches.
    public var root: String { prefix + "/" }
    public var networks: String { prefix + "/networks/" }
    public var vnis: String { prefix + "/vni/" }

    public func host(_ id: String) -> String { "\(prefix)/hosts/\(id)" }
    public func network(_ name: String) -> String { "\(prefix)/networks/\(name)/" }
    public func config(_ name: String) -> String { network(name) + "config" }
    public func shares(_ name: String) -> String { network(name) + "subnets/" }
    public func share(_ name: String, _ share: OverlayShare) -> String { shares(name) + share.keyName }
    public func vni(_ vni: UInt32) -> String { vnis + String(vni) }

    /// What a key under the prefix is.
    public enum Kind: Equatable, Sendable {
        case host(id: String)
        case config(network: String)
        case share(network: String)
        case vni(UInt32)
        case other
    }

    public func kind(of key: String) -> Kind {
        guard key.hasPrefix(root) else { return .other }
        let parts = key.dropFirst(root.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("hosts", 2): return .host(id: parts[1])
        case ("vni", 2): return UInt32(parts[1]).map(Kind.vni) ?? .other
        case ("networks", 3) where parts[2] == "config": return .config(network: parts[1])
        case ("networks", 4) where parts[2] == "subnets": return .share(network: parts[1])
        default: return .other
        }
    }
}
