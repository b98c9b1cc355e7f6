import CNetlink
import Namespaces
import NetCore
import Netlink

/// Options of a macvlan network, named after the reference macvlan plugin's keys.
public struct MacvlanOptions: Sendable, Hashable {
    /// The parent interface; `nil` means the interface of the host's default route.
    public var parent: InterfaceName?
    public var mode: MacvlanMode
    public var mtu: UInt32?
    /// The parent lives in the container's namespace, not the host's (`linkInContainer`).
    public var parentInContainer: Bool
    public var duplicateDetection: Bool

    public init(parent: InterfaceName? = nil, mode: MacvlanMode = .bridge, mtu: UInt32? = nil,
                parentInContainer: Bool = false, duplicateDetection: Bool = false) {
        self.parent = parent
        self.mode = mode
        self.mtu = mtu
        self.parentInContainer = parentInContainer
        self.duplicateDetection = duplicateDetection
    }
}

extension MacvlanOptions {
    /// The modes' names, as `-o macvlan_mode` and the reference plugin's `mode` take them.
    public static var modeNames: [String] { MacvlanMode.allCases.map(\.rawValue) }

    /// Options with the mode given by name (`bridge` when `nil`).
    ///
    /// - Throws: ``NetworkError`` naming `field` and the value when no mode has that name.
    public init(parent: InterfaceName?, modeName: String?, mtu: UInt32?, field: String = "mode",
                parentInContainer: Bool = false) throws {
        self.init(parent: parent, mode: try MacvlanMode(parsing: modeName ?? MacvlanMode.bridge.rawValue, field: field), mtu: mtu,
                  parentInContainer: parentInContainer)
    }
}

/// Gives containers a macvlan of a host interface: the `macvlan` network driver. The link is
/// created directly inside the container's namespace, so there is nothing on the host to undo.
public struct MacvlanDriver: Sendable {
    public let options: MacvlanOptions
    public let host: RouteSocket
    /// Whether ``detach(_:namespace:)`` waits for the kernel to reclaim the macvlan.
    public let linkDeletion: LinkDeletion

    public init(options: MacvlanOptions, host: RouteSocket, linkDeletion: LinkDeletion = .awaitingReclaim) {
        self.options = options
        self.host = host
        self.linkDeletion = linkDeletion
    }

    /// The parent: the configured one, or the interface of the default route (IPv4, then IPv6).
    ///
    /// - Throws: ``NetworkError`` `.notFound` when there is neither.
    public func parent(in socket: RouteSocket) throws -> Link {
        if let parent = options.parent {
            guard let link = try socket.link(named: parent) else {
                throw NetworkError(code: .notFound, message: "macvlan parent interface \"\(parent)\" does not exist")
            }
            return link
        }
        for family in [IPAddress.Family.v4, .v6] {
            if let route = try socket.routes(family: family).first(where: \.isDefault),
               case .index(let index)? = route.device, let link = try socket.link(index: index) {
                return link
            }
        }
        throw NetworkError(code: .notFound, message: "no macvlan parent given (\"master\") and the host has no default route to take it from")
    }

    /// Creates the macvlan as the attachment's interface inside `namespace` and configures it.
    ///
    /// - Throws: ``NetworkError``; nothing this call made is left behind.
    public func attach(_ id: AttachmentID, namespace: NetNamespace, container: RouteSocket? = nil, ip: IPConfiguration,
                       mac: MACAddress? = nil) throws -> AttachedInterfaces {
        let container = try container ?? RouteSocket.open(in: namespace)
        let creator = options.parentInContainer ? container : host
        let parent = try parent(in: creator)
        return try UndoStack.transaction { undo in
            try creator.addLink(LinkSpec(
                name: id.interface, kind: .macvlan(parent: .index(parent.index), mode: options.mode),
                mtu: options.mtu, mac: mac, namespace: options.parentInContainer ? nil : namespace))
            undo.push("delete \(id.interface)") { try container.deleteLink(.name(id.interface)) }
            // Looked up once; by index from then on (by name, each step would look it up again).
            guard let created = try container.link(named: id.interface) else {
                throw NetworkError(code: .internalError, message: "interface \"\(id.interface)\" vanished during setup")
            }
            try container.setLink(.index(created.index), up: true)
            for assignment in ip.assignments {
                try container.addAddress(assignment.address, to: .index(created.index), skipDuplicateDetection: !options.duplicateDetection)
            }
            var link = created
            link.flags |= CNETLINK_IFF_UP
            // Only the routes given, as the reference macvlan (IPAM's routes): a default route
            // is one of them when the network wants one. A route without a gateway goes via
            // the gateway of its family.
            try container.addRoutes(ip.containerRoutes(device: link.index), deviceIndex: link.index)
            return AttachedInterfaces(hostSide: options.parentInContainer ? [] : [parent], container: link)
        }
    }

    /// The macvlan of ``NetworkDriver/prepareHandOff(_:ip:mac:)``: made in the host's
    /// namespace on the parent, down and unconfigured, for the runtime to move.
    func handOff(_ id: AttachmentID, mac: MACAddress?) throws -> Link {
        guard !options.parentInContainer else {
            throw NetworkError(code: .unsupported, message: "a macvlan whose parent is in the sandbox cannot be handed over from the host")
        }
        let parent = try parent(in: host)
        try host.addLink(LinkSpec(name: id.interface, kind: .macvlan(parent: .index(parent.index), mode: options.mode),
                                  mtu: options.mtu, mac: mac))
        guard let handed = try host.link(named: id.interface) else {
            throw NetworkError(code: .internalError, message: "interface \"\(id.interface)\" vanished during setup")
        }
        return handed
    }

    /// Deletes the macvlan; a missing namespace or interface is success.
    public func detach(_ id: AttachmentID, namespace: NetNamespace?) throws {
        guard let namespace else { return }
        try RouteSocket.open(in: namespace).deleteLink(.name(id.interface), linkDeletion)
    }

    /// Verifies the macvlan exists in `namespace` with its MAC (when given), addresses and routes.
    ///
    /// - Throws: ``NetworkError`` naming the first thing missing or different.
    public func check(_ id: AttachmentID, namespace: NetNamespace, container: RouteSocket? = nil, ip: IPConfiguration,
                      mac: MACAddress? = nil) throws {
        let container = try container ?? RouteSocket.open(in: namespace)
        guard let link = try container.link(named: id.interface), link.kind == .macvlan else {
            throw NetworkError.mismatch("macvlan \"\(id.interface)\" is missing in \(namespace.path)")
        }
        try container.checkInterface(link, of: id, in: namespace, mac: mac, addresses: ip.assignments.map(\.address),
                                     routes: ip.containerRoutes(device: link.index))
    }
}
