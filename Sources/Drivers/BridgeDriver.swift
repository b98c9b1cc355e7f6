import Namespaces
import NetCore
import Netlink

/// Options of a bridge network, named after the reference bridge plugin's keys.
public struct BridgeOptions: Sendable, Hashable {
    public var bridge: InterfaceName
    /// MTU of the bridge (when this driver creates it) and of both veth ends.
    public var mtu: UInt32?
    /// Put each subnet's gateway address on the bridge and enable forwarding (`isGateway`).
    public var isGateway: Bool
    /// Route the container's default traffic through the gateway (`isDefaultGateway`).
    public var isDefaultGateway: Bool
    /// Replace a different address of the same family already on the bridge (`forceAddress`).
    public var forceAddress: Bool
    /// Let a container reach itself through a published port (`hairpinMode`).
    public var hairpin: Bool
    /// Put the bridge in promiscuous mode (`promiscMode`).
    public var promiscuous: Bool
    /// Run IPv6 duplicate address detection on the container's addresses (`enabledad`).
    public var duplicateDetection: Bool
    /// Leave the container interface down (`disableContainerInterface`).
    public var disableContainerInterface: Bool

    public init(bridge: InterfaceName, mtu: UInt32? = nil, isGateway: Bool = false, isDefaultGateway: Bool = false,
                forceAddress: Bool = false, hairpin: Bool = false, promiscuous: Bool = false,
                duplicateDetection: Bool = false, disableContainerInterface: Bool = false) {
        self.bridge = bridge
        self.mtu = mtu
        self.isGateway = isGateway || isDefaultGateway
        self.isDefaultGateway = isDefaultGateway
        self.forceAddress = forceAddress
        self.hairpin = hairpin
        self.promiscuous = promiscuous
        self.duplicateDetection = duplicateDetection
        self.disableContainerInterface = disableContainerInterface
    }
}

/// What an attachment made, for the result and for CHECK.
public struct AttachedInterfaces: Sendable, Hashable {
    /// The bridge, or for macvlan the parent; `nil` when not on this host's namespace.
    public var hostSide: [Link]
    public var container: Link
}

/// Joins containers to a Linux bridge with veth pairs: the `bridge` network driver.
///
/// Every step of ``attach(_:namespace:ip:mac:)`` registers its undo, so a failure leaves
/// nothing behind; ``detach(_:namespace:)`` is best effort and idempotent.
public struct BridgeDriver: Sendable {
    public let options: BridgeOptions
    /// The host's namespace (where the bridge lives) and a socket in it.
    public let host: RouteSocket
    public let hostNamespace: NetNamespace
    /// Whether ``detach(_:namespace:)`` waits for the kernel to reclaim the veth pair.
    public let linkDeletion: LinkDeletion

    public init(options: BridgeOptions, host: RouteSocket, hostNamespace: NetNamespace, linkDeletion: LinkDeletion = .awaitingReclaim) {
        self.options = options
        self.host = host
        self.hostNamespace = hostNamespace
        self.linkDeletion = linkDeletion
    }

    // MARK: Attach

    /// Creates the veth pair, puts the container end in `namespace` as the attachment's
    /// interface with `ip`, and the host end on the bridge (creating the bridge if needed).
    ///
    /// - Parameter container: a socket in `namespace`, when the caller has one open.
    /// - Throws: ``NetworkError``; nothing this call made is left behind.
    public func attach(_ id: AttachmentID, namespace: NetNamespace, container: RouteSocket? = nil, ip: IPConfiguration,
                       mac: MACAddress? = nil) throws -> AttachedInterfaces {
        try UndoStack.transaction { undo in
            let bridge = try ensureBridge(for: ip, undo: &undo)
            PhaseTrace.mark("bridge checked")
            let hostName = id.hostInterfaceName
            try host.addLink(LinkSpec(
                name: hostName,
                kind: .veth(peer: VethPeer(name: id.interface, namespace: namespace, mac: mac)),
                mtu: options.mtu ?? (bridge.mtu > 0 ? bridge.mtu : nil),
                master: .index(bridge.index), up: true))
            PhaseTrace.mark("veth created")
            undo.push("delete \(hostName)") { try host.deleteLink(.name(hostName)) }
            try host.setAlias(.name(hostName), id.alias)
            if options.hairpin { try host.setHairpin(.name(hostName), true) }
            PhaseTrace.mark("alias set")

            let container = try container ?? RouteSocket.open(in: namespace)
            guard let created = try container.link(named: id.interface) else {
                throw NetworkError(code: .internalError, message: "interface \"\(id.interface)\" vanished during setup")
            }
            try configureContainer(container, link: created.index, ip: ip)
            PhaseTrace.mark("container configured")
            // The host end's MAC is the kernel's choice; the container end and the bridge were
            // read above, and nothing since changed their names, MACs or MTUs.
            guard let hostLink = try host.link(named: hostName) else {
                throw NetworkError(code: .internalError, message: "the links of \(id) vanished during setup")
            }
            PhaseTrace.mark("links read")
            return AttachedInterfaces(hostSide: [bridge, hostLink], container: created)
        }
    }

    /// The veth pair of ``NetworkDriver/prepareHandOff(_:ip:mac:)``: both ends in the host's
    /// namespace, the host end on the bridge, the other (`id.interface`) down and unconfigured
    /// for the runtime to move.
    func handOff(_ id: AttachmentID, ip: IPConfiguration, mac: MACAddress?) throws -> Link {
        try UndoStack.transaction { undo in
            let bridge = try ensureBridge(for: ip, undo: &undo)
            let hostName = id.hostInterfaceName
            try host.addLink(LinkSpec(
                name: hostName, kind: .veth(peer: VethPeer(name: id.interface, mac: mac)),
                mtu: options.mtu ?? (bridge.mtu > 0 ? bridge.mtu : nil), master: .index(bridge.index), up: true))
            undo.push("delete \(hostName)") { try host.deleteLink(.name(hostName)) }
            try host.setAlias(.name(hostName), id.alias)
            if options.hairpin { try host.setHairpin(.name(hostName), true) }
            guard let handed = try host.link(named: id.interface) else {
                throw NetworkError(code: .internalError, message: "interface \"\(id.interface)\" vanished during setup")
            }
            return handed
        }
    }

    /// The bridge, created and brought up if missing, with the gateway addresses on it when
    /// it acts as the gateway.
    private func ensureBridge(for ip: IPConfiguration, undo: inout UndoStack) throws -> Link {
        var bridge: Link
        if let existing = try host.link(named: options.bridge) {
            guard existing.kind == .bridge else {
                throw NetworkError(code: .alreadyExists, message: "interface \"\(options.bridge)\" exists and is not a bridge (it is \(existing.kind ?? "a device"))")
            }
            bridge = existing
            if !bridge.isUp { try host.setLink(.index(bridge.index), up: true) }
        } else {
            do {
                // An address of its own: a bridge without one takes the lowest of its ports',
                // so its (the gateway's) MAC would change as containers come and go, and
                // containers that cached the old one would lose their way out until they ask again.
                try host.addLink(LinkSpec(name: options.bridge, kind: .bridge, mtu: options.mtu, mac: .random(), up: true))
                let name = options.bridge
                undo.push("delete bridge \(name)") { try host.deleteLink(.name(name)) }
            } catch let error as NetworkError where error.code == .alreadyExists {
                // Another attachment created it at the same moment; use theirs.
            }
            guard let created = try host.link(named: options.bridge) else {
                throw NetworkError(code: .internalError, message: "bridge \"\(options.bridge)\" vanished after it was created")
            }
            bridge = created
        }
        if options.promiscuous, !bridge.isPromiscuous { try host.setPromiscuous(.index(bridge.index), true) }
        if options.isGateway { try assignGatewayAddresses(ip, bridge: bridge) }
        return bridge
    }

    /// Puts each subnet's gateway on the bridge (shared by every attachment, so never undone)
    /// and turns on forwarding for its family.
    private func assignGatewayAddresses(_ ip: IPConfiguration, bridge: Link) throws {
        // One family when the gateways have one: the host's veths each have an IPv6
        // link-local address, and a dump of both families grows with the containers.
        let families = Set(ip.assignments.compactMap { $0.gatewayOnLink?.family })
        let present = try host.addresses(of: .index(bridge.index), family: families.count == 1 ? families.first : nil)
        for gateway in ip.assignments.compactMap(\.gatewayOnLink) {
            if present.contains(where: { $0.address == gateway }) { continue }
            let conflicting = present.filter { $0.address.family == gateway.family && $0.address.network.overlaps(gateway.network) }
            if let other = conflicting.first {
                guard options.forceAddress else {
                    throw NetworkError(code: .alreadyExists, message: "bridge \"\(options.bridge)\" already has address \(other.address) in the subnet of \(gateway); set forceAddress to replace it")
                }
                for stale in conflicting { try host.deleteAddress(stale.address, from: .index(bridge.index)) }
            }
            do {
                try host.addAddress(gateway, to: .index(bridge.index), skipDuplicateDetection: true)
            } catch let error as NetworkError where error.code == .alreadyExists {
                continue // added by a concurrent attachment
            }
        }
        PhaseTrace.mark("bridge and its address checked")
        for family in Set(ip.assignments.compactMap { $0.gateway?.family }) {
            try enableForwarding(family)
        }
        PhaseTrace.mark("forwarding sysctl")
    }

    private func enableForwarding(_ family: IPAddress.Family) throws {
        let key = family == .v4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding"
        if try hostNamespace.readSysctl(key) != "1" { try hostNamespace.writeSysctl(key, "1") }
    }

    /// Inside the container: the interface up, its addresses, the default and extra routes.
    /// A route without a gateway goes via the gateway of its family (see
    /// ``IPConfiguration/containerRoutes(device:)``).
    /// By index throughout: by name, every address and route would cost a lookup first.
    private func configureContainer(_ container: RouteSocket, link index: Int32, ip: IPConfiguration) throws {
        let link = LinkReference.index(index)
        // Before it comes up, so the first thing it says is its MAC (as the reference plugin).
        try container.setARPNotify(link, true)
        if !options.disableContainerInterface { try container.setLink(link, up: true) }
        for assignment in ip.assignments {
            try container.addAddress(assignment.address, to: link, skipDuplicateDetection: !options.duplicateDetection)
        }
        guard !options.disableContainerInterface else { return }
        try container.addRoutes(routes(ip, device: index), deviceIndex: index)
    }

    /// The routes the container interface `device` gets: the default route via each family's
    /// gateway when this is the default gateway, then the extra routes.
    private func routes(_ ip: IPConfiguration, device: Int32) -> [Route] {
        var routes: [Route] = []
        if options.isDefaultGateway {
            for var route in ip.defaultRoutesViaGateways {
                route.device = .index(device)
                routes.append(route)
            }
        }
        return routes + ip.containerRoutes(device: device)
    }

    // MARK: Detach

    /// Removes the attachment's veth pair. Idempotent: a missing namespace, interface or
    /// bridge is success. The bridge stays: other attachments may use it.
    ///
    /// - Throws: ``NetworkError`` listing every step that failed; the others still ran.
    public func detach(_ id: AttachmentID, namespace: NetNamespace?) throws {
        var failures: [(name: String, error: any Error)] = []
        var deletedThePair = false
        do {
            deletedThePair = try host.deleteLink(.name(id.hostInterfaceName), linkDeletion)
            PhaseTrace.mark("veth deleted")
        } catch {
            failures.append(("delete \(id.hostInterfaceName)", error))
        }
        if let namespace, !deletedThePair {
            do {
                // Deleting the host end takes the pair; without it, the container end may
                // still be there (its host end renamed or moved by someone else).
                try RouteSocket.open(in: namespace).deleteLink(.name(id.interface))
            } catch {
                failures.append(("delete \(id.interface) in \(namespace.path)", error))
            }
        }
        if !failures.isEmpty { throw NetworkError.teardown("detaching \(id)", failures: failures) }
    }

    // MARK: Check

    /// Verifies the attachment is as ``attach(_:namespace:ip:mac:)`` left it.
    ///
    /// - Throws: ``NetworkError`` naming the first thing missing or different.
    public func check(_ id: AttachmentID, namespace: NetNamespace, container: RouteSocket? = nil, ip: IPConfiguration,
                      mac: MACAddress? = nil) throws {
        guard let bridge = try host.link(named: options.bridge), bridge.kind == .bridge else {
            throw NetworkError.mismatch("bridge \"\(options.bridge)\" is missing")
        }
        guard let hostEnd = try host.link(named: id.hostInterfaceName) else {
            throw NetworkError.mismatch("host interface \"\(id.hostInterfaceName)\" of \(id) is missing")
        }
        guard hostEnd.masterIndex == bridge.index else {
            throw NetworkError.mismatch("host interface \"\(id.hostInterfaceName)\" is not on bridge \"\(options.bridge)\"")
        }
        let container = try container ?? RouteSocket.open(in: namespace)
        guard let inside = try container.link(named: id.interface) else {
            throw NetworkError.mismatch("interface \"\(id.interface)\" is missing in \(namespace.path)")
        }
        // The two ends name each other (IFLA_LINK): a host end with the right name is not
        // enough, it must be this interface's peer.
        guard inside.kind == .veth, inside.parentIndex == hostEnd.index, hostEnd.parentIndex == inside.index else {
            throw NetworkError.mismatch("interface \"\(id.interface)\" in \(namespace.path) is not the veth peer of host interface \"\(id.hostInterfaceName)\"")
        }
        try container.checkInterface(inside, of: id, in: namespace, mac: mac, addresses: ip.assignments.map(\.address),
                                     routes: options.disableContainerInterface ? [] : routes(ip, device: inside.index))
    }
}
