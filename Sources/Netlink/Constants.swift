import CNetlink

/// A netlink attribute type: the `nla_type` of one TLV, named after its kernel constant.
public protocol AttributeType: Sendable {
    var rawValue: UInt16 { get }
    init(rawValue: UInt16)
}

extension AttributeType {
    init(_ constant: some BinaryInteger) { self.init(rawValue: UInt16(truncatingIfNeeded: constant)) }
    /// For constants the importer types as a C enum (`rtattr_type_t`, `nlmsgerr_attrs`).
    init<Constant: RawRepresentable>(_ constant: Constant) where Constant.RawValue: BinaryInteger {
        self.init(rawValue: UInt16(truncatingIfNeeded: constant.rawValue))
    }
}

/// Attributes of `struct ifinfomsg` messages.
public struct LinkAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFLA_ADDRESS`
    public static let address = Self(IFLA_ADDRESS)
    /// `IFLA_IFNAME`
    public static let name = Self(IFLA_IFNAME)
    /// `IFLA_MTU`
    public static let mtu = Self(IFLA_MTU)
    /// `IFLA_LINK`
    public static let link = Self(IFLA_LINK)
    /// `IFLA_MASTER`
    public static let master = Self(IFLA_MASTER)
    /// `IFLA_OPERSTATE`
    public static let operationalState = Self(IFLA_OPERSTATE)
    /// `IFLA_LINKINFO`
    public static let linkInfo = Self(IFLA_LINKINFO)
    /// `IFLA_NET_NS_FD`
    public static let namespaceDescriptor = Self(IFLA_NET_NS_FD)
    /// `IFLA_EXT_MASK`
    public static let extendedMask = Self(IFLA_EXT_MASK)
    /// `IFLA_LINK_NETNSID`
    public static let linkNamespaceID = Self(IFLA_LINK_NETNSID)
    /// `IFLA_IFALIAS`: a free-form label, used to mark the links this project owns.
    public static let alias = Self(IFLA_IFALIAS)
    /// `IFLA_PROTINFO`: per-port settings; for `AF_BRIDGE`, the bridge port's.
    public static let protocolInfo = Self(IFLA_PROTINFO)
    /// `IFLA_AF_SPEC`: per-family settings (see ``AddressFamilySpecAttribute``).
    public static let addressFamilySpec = Self(IFLA_AF_SPEC)
    /// `IFLA_NUM_TX_QUEUES`: how many transmit queues the device is made with.
    public static let transmitQueues = Self(IFLA_NUM_TX_QUEUES)
    /// `IFLA_NUM_RX_QUEUES`: how many receive queues the device is made with.
    public static let receiveQueues = Self(IFLA_NUM_RX_QUEUES)
}

/// Per-family settings of a link, nested in `IFLA_AF_SPEC`: `AF_INET` holds `IFLA_INET_CONF`,
/// whose attributes are `IPV4_DEVCONF_*` ids with a `u32` each (the `net.ipv4.conf.IF.*`
/// sysctls, set without entering the namespace).
public struct AddressFamilySpecAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `AF_INET` inside `IFLA_AF_SPEC`.
    public static let inet = Self(AF_INET)
    /// `IFLA_INET_CONF` inside `AF_INET`.
    public static let inetConfiguration = Self(IFLA_INET_CONF)
    /// `IPV4_DEVCONF_ARP_NOTIFY`: send a gratuitous ARP when the link comes up or its MAC changes.
    public static let arpNotify = Self(IPV4_DEVCONF_ARP_NOTIFY)
}

/// Bridge port attributes, nested in `IFLA_PROTINFO` of an `AF_BRIDGE` request.
public struct BridgePortAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFLA_BRPORT_MODE`: hairpin (reflective relay) on or off.
    public static let hairpinMode = Self(IFLA_BRPORT_MODE)
}

/// Attributes nested in `IFLA_LINKINFO`.
public struct LinkInfoAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFLA_INFO_KIND`
    public static let kind = Self(IFLA_INFO_KIND)
    /// `IFLA_INFO_DATA`
    public static let data = Self(IFLA_INFO_DATA)
}

/// Attributes nested in a veth's `IFLA_INFO_DATA`.
public struct VethAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `VETH_INFO_PEER`: an `ifinfomsg` followed by the peer's link attributes.
    public static let peer = Self(VETH_INFO_PEER)
}

/// Attributes nested in a macvlan's `IFLA_INFO_DATA`.
public struct MacvlanAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFLA_MACVLAN_MODE`
    public static let mode = Self(IFLA_MACVLAN_MODE)
}

/// Attributes nested in a vxlan's `IFLA_INFO_DATA`.
public struct VXLANAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFLA_VXLAN_ID`
    public static let id = Self(IFLA_VXLAN_ID)
    /// `IFLA_VXLAN_GROUP`
    public static let group = Self(IFLA_VXLAN_GROUP)
    /// `IFLA_VXLAN_GROUP6`
    public static let group6 = Self(IFLA_VXLAN_GROUP6)
    /// `IFLA_VXLAN_LOCAL`
    public static let local = Self(IFLA_VXLAN_LOCAL)
    /// `IFLA_VXLAN_LOCAL6`
    public static let local6 = Self(IFLA_VXLAN_LOCAL6)
    /// `IFLA_VXLAN_LINK`
    public static let link = Self(IFLA_VXLAN_LINK)
    /// `IFLA_VXLAN_PORT` (network byte order)
    public static let port = Self(IFLA_VXLAN_PORT)
    /// `IFLA_VXLAN_LEARNING` (u8): learn remote MACs from the packets that arrive.
    public static let learning = Self(IFLA_VXLAN_LEARNING)
}

/// Attributes of `struct ifaddrmsg` messages.
public struct AddressAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFA_ADDRESS`
    public static let address = Self(IFA_ADDRESS)
    /// `IFA_LOCAL`
    public static let local = Self(IFA_LOCAL)
    /// `IFA_LABEL`
    public static let label = Self(IFA_LABEL)
    /// `IFA_BROADCAST`
    public static let broadcast = Self(IFA_BROADCAST)
    /// `IFA_FLAGS`
    public static let flags = Self(IFA_FLAGS)
}

/// Attributes of `struct rtmsg` messages.
public struct RouteAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `RTA_DST`
    public static let destination = Self(RTA_DST)
    /// `RTA_GATEWAY`
    public static let gateway = Self(RTA_GATEWAY)
    /// `RTA_OIF`
    public static let outputInterface = Self(RTA_OIF)
    /// `RTA_PRIORITY` (the metric)
    public static let priority = Self(RTA_PRIORITY)
    /// `RTA_PREFSRC`
    public static let preferredSource = Self(RTA_PREFSRC)
    /// `RTA_TABLE`
    public static let table = Self(RTA_TABLE)
}

/// Attributes of `struct ndmsg` messages: neighbour entries, and (with `AF_BRIDGE`) FDB entries.
public struct NeighbourAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `NDA_DST`: the neighbour's IP address; in an FDB entry, the remote tunnel endpoint.
    public static let destination = Self(NDA_DST)
    /// `NDA_LLADDR`: the link-layer (MAC) address.
    public static let linkLayerAddress = Self(NDA_LLADDR)
    /// `NDA_IFINDEX`: in a neighbour dump request, the one link to list.
    public static let interfaceIndex = Self(NDA_IFINDEX)
}

/// `nlmsgerr` attributes that follow an error when `NETLINK_EXT_ACK` is on.
struct ExtendedAckAttribute: AttributeType {
    let rawValue: UInt16
    init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `NLMSGERR_ATTR_MSG`
    static let message = Self(NLMSGERR_ATTR_MSG)
}

/// The `nlmsg_type` of a request or reply.
public struct MessageType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    init(_ constant: some BinaryInteger) { rawValue = UInt16(truncatingIfNeeded: constant) }

    /// `NLMSG_NOOP`
    public static let noop = Self(NLMSG_NOOP)
    /// `NLMSG_ERROR`
    public static let error = Self(NLMSG_ERROR)
    /// `NLMSG_DONE`
    public static let done = Self(NLMSG_DONE)
    /// `NLMSG_OVERRUN`
    public static let overrun = Self(NLMSG_OVERRUN)
    /// `RTM_NEWLINK`
    public static let newLink = Self(RTM_NEWLINK)
    /// `RTM_DELLINK`
    public static let deleteLink = Self(RTM_DELLINK)
    /// `RTM_GETLINK`
    public static let getLink = Self(RTM_GETLINK)
    /// `RTM_SETLINK`
    public static let setLink = Self(RTM_SETLINK)
    /// `RTM_NEWADDR`
    public static let newAddress = Self(RTM_NEWADDR)
    /// `RTM_DELADDR`
    public static let deleteAddress = Self(RTM_DELADDR)
    /// `RTM_GETADDR`
    public static let getAddress = Self(RTM_GETADDR)
    /// `RTM_NEWROUTE`
    public static let newRoute = Self(RTM_NEWROUTE)
    /// `RTM_DELROUTE`
    public static let deleteRoute = Self(RTM_DELROUTE)
    /// `RTM_GETROUTE`
    public static let getRoute = Self(RTM_GETROUTE)
    /// `RTM_NEWNEIGH`
    public static let newNeighbour = Self(RTM_NEWNEIGH)
    /// `RTM_DELNEIGH`
    public static let deleteNeighbour = Self(RTM_DELNEIGH)
    /// `RTM_GETNEIGH`
    public static let getNeighbour = Self(RTM_GETNEIGH)
}

/// `nlmsg_flags`.
public struct MessageFlags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    init(_ constant: some BinaryInteger) { rawValue = UInt16(truncatingIfNeeded: constant) }

    /// `NLM_F_REQUEST`
    public static let request = Self(NLM_F_REQUEST)
    /// `NLM_F_MULTI`
    public static let multipart = Self(NLM_F_MULTI)
    /// `NLM_F_ACK`
    public static let acknowledge = Self(NLM_F_ACK)
    /// `NLM_F_DUMP_INTR`: the dump changed while it was read and must be redone.
    public static let dumpInterrupted = Self(NLM_F_DUMP_INTR)
    /// `NLM_F_DUMP`
    public static let dump = Self(NLM_F_DUMP)
    /// `NLM_F_REPLACE`
    public static let replace = Self(NLM_F_REPLACE)
    /// `NLM_F_EXCL`
    public static let exclusive = Self(NLM_F_EXCL)
    /// `NLM_F_CREATE`
    public static let create = Self(NLM_F_CREATE)
    /// `NLM_F_CAPPED` on an error: the original request is not echoed in full.
    public static let capped = Self(NLM_F_CAPPED)
    /// `NLM_F_ACK_TLVS` on an error: extended-ACK attributes follow.
    public static let acknowledgeTLVs = Self(NLM_F_ACK_TLVS)
}

/// Conntrack attributes (`CTA_*`), top level and nested in tuples.
public struct ConntrackAttribute: AttributeType {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `CTA_TUPLE_ORIG`: the flow as its first packet saw it.
    public static let originalTuple = Self(CTA_TUPLE_ORIG)
    /// `CTA_ZONE`
    public static let zone = Self(CTA_ZONE)
    /// `CTA_TUPLE_IP`
    public static let tupleIP = Self(CTA_TUPLE_IP)
    /// `CTA_TUPLE_PROTO`
    public static let tupleProtocol = Self(CTA_TUPLE_PROTO)
    /// `CTA_IP_V4_SRC`
    public static let ipv4Source = Self(CTA_IP_V4_SRC)
    /// `CTA_IP_V4_DST`
    public static let ipv4Destination = Self(CTA_IP_V4_DST)
    /// `CTA_IP_V6_SRC`
    public static let ipv6Source = Self(CTA_IP_V6_SRC)
    /// `CTA_IP_V6_DST`
    public static let ipv6Destination = Self(CTA_IP_V6_DST)
    /// `CTA_PROTO_NUM`
    public static let protocolNumber = Self(CTA_PROTO_NUM)
    /// `CTA_PROTO_SRC_PORT` (network byte order)
    public static let sourcePort = Self(CTA_PROTO_SRC_PORT)
    /// `CTA_PROTO_DST_PORT` (network byte order)
    public static let destinationPort = Self(CTA_PROTO_DST_PORT)
}

extension MessageType {
    /// An nfnetlink conntrack message: `NFNL_SUBSYS_CTNETLINK << 8 | operation`.
    static func conntrack(_ operation: some BinaryInteger) -> MessageType {
        MessageType(rawValue: UInt16(NFNL_SUBSYS_CTNETLINK) << 8 | UInt16(truncatingIfNeeded: operation))
    }

    /// `IPCTNL_MSG_CT_NEW`: a flow, in dump replies.
    static let conntrackNew = conntrack(IPCTNL_MSG_CT_NEW.rawValue)
    /// `IPCTNL_MSG_CT_GET`
    static let conntrackGet = conntrack(IPCTNL_MSG_CT_GET.rawValue)
    /// `IPCTNL_MSG_CT_DELETE`
    static let conntrackDelete = conntrack(IPCTNL_MSG_CT_DELETE.rawValue)
}
