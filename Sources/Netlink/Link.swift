import CNetlink
import Namespaces
import NetCore

/// Names a link by name or by index, as requests may.
public enum LinkReference: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    case name(InterfaceName)
    case index(Int32)

    /// For names written in code; an invalid literal is a programming error.
    public init(stringLiteral value: String) {
        do {
            self = .name(try InterfaceName(value))
        } catch {
            preconditionFailure("invalid interface name literal \"\(value)\"")
        }
    }

    public var description: String {
        switch self {
        case .name(let name): name.rawValue
        case .index(let index): "#\(index)"
        }
    }
}

/// `IFLA_INFO_KIND` as the kernel reports it: `veth`, `bridge`, `macvlan`, `vxlan`, or any
/// other kind the kernel has.
public struct LinkKindName: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public static let veth: LinkKindName = "veth"
    public static let bridge: LinkKindName = "bridge"
    public static let macvlan: LinkKindName = "macvlan"
    public static let vxlan: LinkKindName = "vxlan"
}

/// A link as the kernel reports it.
public struct Link: Sendable, Hashable {
    public var index: Int32
    public var name: String
    /// `IFLA_INFO_KIND`: `veth`, `bridge`, `macvlan`, `vxlan`…; `nil` for `lo` and hardware.
    public var kind: LinkKindName?
    public var mtu: UInt32
    public var mac: MACAddress?
    /// The bridge this link is a port of.
    public var masterIndex: Int32?
    /// `IFLA_LINK`: the parent of a macvlan, the peer of a veth.
    public var parentIndex: Int32?
    /// `IFF_*` flags.
    public var flags: UInt32
    /// `IFLA_IFALIAS`, if set.
    public var alias: String?
    /// A vxlan's settings as the kernel holds them (`IFLA_INFO_DATA`); `nil` for other kinds.
    public var vxlan: VXLANOptions?

    /// Administratively up (`IFF_UP`).
    public var isUp: Bool { flags & CNETLINK_IFF_UP != 0 }
    /// Receives every frame (`IFF_PROMISC`).
    public var isPromiscuous: Bool { flags & CNETLINK_IFF_PROMISC != 0 }
    /// The carrier is up (`IFF_LOWER_UP`).
    public var hasCarrier: Bool { flags & CNETLINK_IFF_LOWER_UP != 0 }
}
