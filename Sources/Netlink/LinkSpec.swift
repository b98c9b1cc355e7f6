import CNetlink
import Namespaces
import NetCore

/// The macvlan modes (`MACVLAN_MODE_*`).
public enum MacvlanMode: String, Sendable, CaseIterable {
    /// Siblings talk to each other directly.
    case bridge
    /// Siblings cannot talk to each other.
    case `private`
    /// Sibling traffic goes out to the switch and back.
    case vepa
    /// One macvlan takes over the parent.
    case passthru

    var kernelValue: UInt32 {
        switch self {
        case .bridge: MACVLAN_MODE_BRIDGE.rawValue
        case .private: MACVLAN_MODE_PRIVATE.rawValue
        case .vepa: MACVLAN_MODE_VEPA.rawValue
        case .passthru: MACVLAN_MODE_PASSTHRU.rawValue
        }
    }

    /// Parses a mode name; `field` names the value in the error.
    public init(parsing text: String, field: String = "macvlan mode") throws {
        guard let mode = MacvlanMode(rawValue: text) else {
            throw NetworkError.invalid(field, text, "must be one of bridge, private, vepa, passthru")
        }
        self = mode
    }
}

/// The far end of a veth pair. It is created down: the kernel cannot open a veth end before
/// its pair is complete (`ENOTCONN`), so bring it up afterwards from its own namespace.
public struct VethPeer: Sendable {
    public var name: InterfaceName
    /// Where the peer is created; `nil` means next to the first end.
    public var namespace: NetNamespace?
    public var mac: MACAddress?

    public init(name: InterfaceName, namespace: NetNamespace? = nil, mac: MACAddress? = nil) {
        self.name = name
        self.namespace = namespace
        self.mac = mac
    }
}

/// A VXLAN tunnel endpoint: what a vxlan link is created with, and what ``Link/vxlan`` reads back.
public struct VXLANOptions: Sendable, Hashable {
    /// The 24-bit VXLAN network identifier.
    public var vni: UInt32
    public var local: IPAddress?
    /// A single remote endpoint (unicast), or…
    public var remote: IPAddress?
    /// …a multicast group that floods to every member.
    public var group: IPAddress?
    /// UDP destination port; 4789 is the IANA port.
    public var port: UInt16
    /// The underlay device the tunnel's packets leave by.
    public var underlay: LinkReference?
    /// Learn which remote endpoint a MAC is behind from the packets that arrive (the kernel's
    /// default). An overlay that programs every remote's forwarding entry turns it off, so a
    /// forged packet cannot redirect a MAC.
    public var learning: Bool

    public init(vni: UInt32, local: IPAddress? = nil, remote: IPAddress? = nil, group: IPAddress? = nil,
                port: UInt16 = 4789, underlay: LinkReference? = nil, learning: Bool = true) {
        self.vni = vni
        self.local = local
        self.remote = remote
        self.group = group
        self.port = port
        self.underlay = underlay
        self.learning = learning
    }
}

/// What kind of link to create.
public enum LinkKind: Sendable {
    case veth(peer: VethPeer)
    case bridge
    case macvlan(parent: LinkReference, mode: MacvlanMode)
    case vxlan(VXLANOptions)

    /// The `IFLA_INFO_KIND` string.
    public var name: String {
        switch self {
        case .veth: "veth"
        case .bridge: "bridge"
        case .macvlan: "macvlan"
        case .vxlan: "vxlan"
        }
    }
}

/// A link to create.
public struct LinkSpec: Sendable {
    public var name: InterfaceName
    public var kind: LinkKind
    public var mtu: UInt32?
    public var mac: MACAddress?
    /// A bridge to enslave the new link to.
    public var master: LinkReference?
    /// Bring the link up as it is created.
    public var up: Bool
    /// Create the link directly in this namespace rather than the socket's.
    public var namespace: NetNamespace?

    public init(name: InterfaceName, kind: LinkKind, mtu: UInt32? = nil, mac: MACAddress? = nil,
                master: LinkReference? = nil, up: Bool = false, namespace: NetNamespace? = nil) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.master = master
        self.up = up
        self.namespace = namespace
    }
}
