#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNetlink
import Namespaces
import NetCore

// MARK: - Reading links

extension RouteSocket {
    /// The link named `name`, or `nil` when there is none.
    public func link(named name: InterfaceName) throws -> Link? {
        try link(.name(name))
    }

    /// The link with index `index`, or `nil` when there is none.
    public func link(index: Int32) throws -> Link? {
        try link(.index(index))
    }

    /// The link `reference` names, or `nil` when there is none.
    public func link(_ reference: LinkReference) throws -> Link? {
        let message = try linkMessage(.getLink, flags: [.request, .acknowledge], link: reference)
        try message.put(LinkAttribute.extendedMask, UInt32(RTEXT_FILTER_SKIP_STATS))
        do {
            return try request(message, operation: "RTM_GETLINK \(reference)").compactMap(Link.init).first
        } catch Errno.noSuchDevice {
            return nil
        }
    }

    /// Every link in the socket's namespace.
    public func links() throws -> [Link] {
        try dump(operation: "RTM_GETLINK dump") {
            let message = try linkMessage(.getLink, flags: [.request, .dump], link: nil)
            try message.put(LinkAttribute.extendedMask, UInt32(RTEXT_FILTER_SKIP_STATS))
            return message
        }.compactMap(Link.init)
    }

    /// The index of the link `reference` names.
    ///
    /// - Parameter role: how the caller refers to the link in the error ("parent", "master").
    /// - Throws: ``NetworkError`` `.notFound` naming the link.
    public func index(of reference: LinkReference, role: String = "interface") throws -> Int32 {
        if case .index(let index) = reference { return index }
        guard let link = try link(reference) else {
            throw NetworkError(code: .notFound, message: "\(role) \"\(reference)\" does not exist")
        }
        return link.index
    }
}

// MARK: - Creating and deleting links

extension RouteSocket {
    /// Creates a link. A veth's peer, and with ``LinkSpec/namespace`` the link itself, are
    /// created directly in their target namespaces, so nothing is ever half-moved.
    ///
    /// - Throws: ``NetworkError`` `.alreadyExists` when the name is taken, `.notFound` when a
    ///   parent, master or underlay is missing, `.invalidArgument` for bad options.
    public func addLink(_ spec: LinkSpec) throws {
        let masterIndex = try spec.master.map { try index(of: $0, role: "master") }
        let message = try linkMessage(.newLink, flags: [.request, .acknowledge, .create, .exclusive],
                                      link: nil, change: spec.up ? (CNETLINK_IFF_UP, true) : nil)
        try message.put(LinkAttribute.name, string: spec.name.rawValue)
        if let mtu = spec.mtu { try message.put(LinkAttribute.mtu, mtu) }
        if let mac = spec.mac { try message.put(LinkAttribute.address, bytes: mac.bytes) }
        if let masterIndex { try message.put(LinkAttribute.master, UInt32(bitPattern: masterIndex)) }
        if let namespace = spec.namespace { try message.put(LinkAttribute.namespaceDescriptor, UInt32(bitPattern: namespace.descriptor)) }
        if case .macvlan(let parent, _) = spec.kind {
            try message.put(LinkAttribute.link, UInt32(bitPattern: try index(of: parent, role: "parent interface")))
        }
        if case .veth = spec.kind { try putSingleQueue(into: message) }
        try message.nest(LinkAttribute.linkInfo) {
            try message.put(LinkInfoAttribute.kind, string: spec.kind.name)
            try putKindData(spec, into: message)
        }
        do {
            _ = try request(message, operation: "RTM_NEWLINK \(spec.kind.name) \(spec.name)")
        } catch let error as NetlinkError {
            throw linkCreationError(error, spec: spec)
        }
    }

    private func putKindData(_ spec: LinkSpec, into message: MessageBuilder) throws {
        switch spec.kind {
        case .bridge:
            break
        case .veth(let peer):
            try message.nest(LinkInfoAttribute.data) {
                try message.nest(VethAttribute.peer) {
                    try message.append(ifinfomsg())
                    try message.put(LinkAttribute.name, string: peer.name.rawValue)
                    if let mtu = spec.mtu { try message.put(LinkAttribute.mtu, mtu) }
                    if let mac = peer.mac { try message.put(LinkAttribute.address, bytes: mac.bytes) }
                    if let namespace = peer.namespace {
                        try message.put(LinkAttribute.namespaceDescriptor, UInt32(bitPattern: namespace.descriptor))
                    }
                    try putSingleQueue(into: message)
                }
            }
        case .macvlan(_, let mode):
            try message.nest(LinkInfoAttribute.data) {
                try message.put(MacvlanAttribute.mode, mode.kernelValue)
            }
        case .vxlan(let options):
            try validate(options)
            let underlayIndex = try options.underlay.map { try index(of: $0, role: "underlay device") }
            try message.nest(LinkInfoAttribute.data) {
                try message.put(VXLANAttribute.id, options.vni)
                if let remote = options.remote ?? options.group {
                    try message.put(remote.family == .v4 ? VXLANAttribute.group : VXLANAttribute.group6, address: remote)
                }
                if let local = options.local {
                    try message.put(local.family == .v4 ? VXLANAttribute.local : VXLANAttribute.local6, address: local)
                }
                if let underlayIndex { try message.put(VXLANAttribute.link, UInt32(bitPattern: underlayIndex)) }
                try message.put(VXLANAttribute.port, options.port.bigEndian)
                // Only to turn it off: a new vxlan learns unless told otherwise.
                if !options.learning { try message.put(VXLANAttribute.learning, UInt8(0)) }
            }
        }
    }

    /// A veth end made with one queue each way. Without these the kernel makes it with a
    /// queue per CPU and then, under the RTNL lock, cuts it to the one it uses, waiting for an
    /// RCU grace period each time (`veth_init_queues`): two per pair, 20–30 ms apiece when a
    /// grace period is slow, which stalls every other link change on the host meanwhile.
    private func putSingleQueue(into message: MessageBuilder) throws {
        try message.put(LinkAttribute.transmitQueues, UInt32(1))
        try message.put(LinkAttribute.receiveQueues, UInt32(1))
    }

    private func validate(_ options: VXLANOptions) throws {
        guard options.vni < 1 << 24 else {
            throw NetworkError.invalid("vxlan VNI", String(options.vni), "must be 0...16777215")
        }
        if options.remote != nil, options.group != nil {
            throw NetworkError.invalid("vxlan remote", options.remote?.description ?? "", "cannot be combined with a group")
        }
        if let group = options.group, !group.isMulticast {
            throw NetworkError.invalid("vxlan group", group.description, "must be a multicast address")
        }
        if let local = options.local, let peer = options.remote ?? options.group, local.family != peer.family {
            throw NetworkError.invalid("vxlan local", local.description, "must be the same family as \(peer)")
        }
    }

    private func linkCreationError(_ error: NetlinkError, spec: LinkSpec) -> NetworkError {
        var subject = "interface \"\(spec.name)\""
        if case .veth(let peer) = spec.kind { subject += " or its peer \"\(peer.name)\"" }
        switch error.errno {
        case .fileExists:
            return NetworkError(code: .alreadyExists, message: "\(subject) already exists", cause: error)
        case .notSupported:
            return NetworkError(code: .unsupported, message: "the kernel cannot create \(spec.kind.name) links", cause: error)
        case .notPermitted, .permissionDenied:
            return NetworkError(code: .permissionDenied, message: "not permitted to create \(subject)", cause: error)
        default:
            return NetworkError(code: .system, message: "cannot create \(spec.kind.name) \(subject)", cause: error)
        }
    }

    /// Deletes a link (and a veth's peer with it). A link that is already gone is success.
    /// `deletion` says whether to wait for the kernel's reclaim too (see ``LinkDeletion``).
    ///
    /// - Returns: whether there was a link to delete.
    @discardableResult
    public func deleteLink(_ link: LinkReference, _ deletion: LinkDeletion = .awaitingReclaim) throws -> Bool {
        if deletion == .leavingReclaimToAChild, let existed = try deleteLinkInChild(link) { return existed }
        let message = try linkMessage(.deleteLink, flags: [.request, .acknowledge], link: link)
        do {
            _ = try request(message, operation: "RTM_DELLINK \(link)")
            return true
        } catch Errno.noSuchDevice {
            return false
        }
    }
}

// MARK: - Changing links

extension RouteSocket {
    /// Brings a link up or down.
    public func setLink(_ link: LinkReference, up: Bool) throws {
        try changeLink(link, flag: CNETLINK_IFF_UP, on: up) { _ in }
    }

    public func setMTU(_ link: LinkReference, _ mtu: UInt32) throws {
        try changeLink(link) { try $0.put(LinkAttribute.mtu, mtu) }
    }

    public func setMAC(_ link: LinkReference, _ mac: MACAddress) throws {
        try changeLink(link) { try $0.put(LinkAttribute.address, bytes: mac.bytes) }
    }

    /// Makes `link` a port of `master`, or with `nil` releases it from its bridge.
    public func setMaster(_ link: LinkReference, _ master: LinkReference?) throws {
        let masterIndex = try master.map { try index(of: $0, role: "master") } ?? 0
        try changeLink(link) { try $0.put(LinkAttribute.master, UInt32(bitPattern: masterIndex)) }
    }

    /// Turns promiscuous mode on or off (the bridge plugin's `promiscMode`).
    public func setPromiscuous(_ link: LinkReference, _ on: Bool) throws {
        try changeLink(link, flag: CNETLINK_IFF_PROMISC, on: on) { _ in }
    }

    /// Lets a bridge port send frames back out the port they came in on, so a container can
    /// reach itself through a published port (the bridge plugin's `hairpinMode`).
    public func setHairpin(_ port: LinkReference, _ on: Bool) throws {
        let index = try index(of: port)
        let message = MessageBuilder(type: .setLink, flags: [.request, .acknowledge])
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_BRIDGE)
        info.ifi_index = index
        try message.append(info)
        try message.nest(LinkAttribute.protocolInfo) {
            try message.put(BridgePortAttribute.hairpinMode, UInt8(on ? 1 : 0))
        }
        do {
            _ = try request(message, operation: "RTM_SETLINK AF_BRIDGE \(port)")
        } catch let error as NetlinkError {
            throw NetworkError(code: .system, message: "cannot set hairpin mode on \"\(port)\" (is it a bridge port?)", cause: error)
        }
    }

    /// Turns `net.ipv4.conf.LINK.arp_notify` on or off: with it, the link announces its MAC
    /// (a gratuitous ARP) when it comes up, so neighbours that cached another MAC for a reused
    /// address learn the new one at once. Through `IFLA_AF_SPEC`, so no thread has to enter
    /// the link's namespace to write the sysctl.
    public func setARPNotify(_ link: LinkReference, _ on: Bool) throws {
        try changeLink(link) { message in
            try message.nest(LinkAttribute.addressFamilySpec) {
                try message.nest(AddressFamilySpecAttribute.inet) {
                    try message.nest(AddressFamilySpecAttribute.inetConfiguration) {
                        try message.put(AddressFamilySpecAttribute.arpNotify, UInt32(on ? 1 : 0))
                    }
                }
            }
        }
    }

    /// Sets or (with `nil`) clears the link's alias. The kernel ignores an alias in a create
    /// request, so this is always a request of its own.
    public func setAlias(_ link: LinkReference, _ alias: String?) throws {
        try changeLink(link) { try $0.put(LinkAttribute.alias, string: alias ?? "") }
    }

    /// Renames a link; the kernel refuses while it is up.
    public func renameLink(_ link: LinkReference, to newName: InterfaceName) throws {
        let index = try index(of: link)
        try changeLink(.index(index)) { try $0.put(LinkAttribute.name, string: newName.rawValue) }
    }

    /// Moves a link into `namespace`, optionally renaming it on the way.
    public func moveLink(_ link: LinkReference, to namespace: NetNamespace, renamingTo newName: InterfaceName? = nil) throws {
        let target: LinkReference = newName == nil ? link : .index(try index(of: link))
        try changeLink(target) { message in
            try message.put(LinkAttribute.namespaceDescriptor, UInt32(bitPattern: namespace.descriptor))
            if let newName { try message.put(LinkAttribute.name, string: newName.rawValue) }
        }
    }

    /// Sends one `RTM_SETLINK` for `link`, changing `flag` if given, with the attributes `body` adds.
    private func changeLink(_ link: LinkReference, flag: UInt32? = nil, on: Bool = false, _ body: (MessageBuilder) throws -> Void) throws {
        let message = try linkMessage(.setLink, flags: [.request, .acknowledge], link: link,
                                      change: flag.map { (flag: $0, on: on) })
        try body(message)
        do {
            _ = try request(message, operation: "RTM_SETLINK \(link)")
        } catch let error as NetlinkError {
            switch error.errno {
            case .noSuchDevice:
                throw NetworkError(code: .notFound, message: "interface \"\(link)\" does not exist", cause: error)
            case .fileExists:
                throw NetworkError(code: .alreadyExists, message: "cannot change interface \"\(link)\": the name is taken", cause: error)
            case .resourceBusy:
                throw NetworkError(code: .busy, message: "cannot change interface \"\(link)\" while it is up", cause: error)
            default:
                throw NetworkError(code: .system, message: "cannot change interface \"\(link)\"", cause: error)
            }
        }
    }

    /// A link request: `ifinfomsg` naming the link by index, or by `IFLA_IFNAME` after it,
    /// optionally setting or clearing one `IFF_*` flag.
    func linkMessage(_ type: MessageType, flags: MessageFlags, link: LinkReference?,
                     change: (flag: UInt32, on: Bool)? = nil) throws -> MessageBuilder {
        let message = MessageBuilder(type: type, flags: flags)
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_UNSPEC)
        if case .index(let index) = link { info.ifi_index = index }
        if let change {
            info.ifi_flags = change.on ? change.flag : 0
            info.ifi_change = change.flag
        }
        try message.append(info)
        if case .name(let name) = link { try message.put(LinkAttribute.name, string: name.rawValue) }
        return message
    }
}

// MARK: - Parsing

extension Link {
    /// Reads an `RTM_NEWLINK` message; `nil` for anything else or a short one.
    init?(_ message: ReplyMessage) {
        let payload = message.payload
        guard message.type == .newLink, let header = payload.header(as: ifinfomsg.self) else { return nil }
        let attributes = Attributes(payload[(payload.startIndex + MemoryLayout<ifinfomsg>.size)...])
        guard let name = attributes.string(LinkAttribute.name) else { return nil }
        index = header.ifi_index
        flags = header.ifi_flags
        self.name = name
        mtu = attributes.uint32(LinkAttribute.mtu) ?? 0
        mac = attributes[LinkAttribute.address].flatMap { try? MACAddress(bytes: Array($0)) }
        masterIndex = attributes.int32(LinkAttribute.master)
        parentIndex = attributes.int32(LinkAttribute.link)
        let info = attributes.nested(LinkAttribute.linkInfo)
        kind = info?.string(LinkInfoAttribute.kind).map(LinkKindName.init(rawValue:))
        vxlan = kind == .vxlan ? info?.nested(LinkInfoAttribute.data).flatMap(VXLANOptions.init) : nil
        alias = attributes.string(LinkAttribute.alias)
    }
}

extension VXLANOptions {
    /// Reads a vxlan's `IFLA_INFO_DATA`; `nil` without a VNI. The kernel reports a unicast
    /// remote and a multicast group in the same attribute: a multicast address becomes
    /// `group`, any other `remote`. The underlay comes as an index.
    init?(_ data: Attributes) {
        guard let vni = data.uint32(VXLANAttribute.id) else { return nil }
        let peer = data.address(VXLANAttribute.group) ?? data.address(VXLANAttribute.group6)
        let isGroup = peer?.isMulticast ?? false
        self.init(
            vni: vni,
            local: data.address(VXLANAttribute.local) ?? data.address(VXLANAttribute.local6),
            remote: isGroup ? nil : peer,
            group: isGroup ? peer : nil,
            // Network byte order; every kernel with vxlan reports it.
            port: data.uint16(VXLANAttribute.port).map { UInt16(bigEndian: $0) } ?? 0,
            underlay: data.int32(VXLANAttribute.link).map(LinkReference.index),
            learning: data.uint8(VXLANAttribute.learning).map { $0 != 0 } ?? true)
    }
}
