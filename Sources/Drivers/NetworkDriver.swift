import Namespaces
import NetCore
import Netlink

/// A network driver: how one attachment of a sandbox to a network is made, checked and
/// removed, and what a network of it needs from the host and offers its endpoints. Front ends
/// look a network's driver up once and then only talk to it through this protocol; a new
/// driver is one new conformer.
public protocol NetworkDriver: Sendable {
    /// Whether an attachment puts an interface into the sandbox (and so takes addresses).
    var addsInterface: Bool { get }
    /// The host link attachments hang off: the bridge, the macvlan parent (`nil` for the
    /// interface of the default route, or for none).
    var hostLink: InterfaceName? { get }
    /// Whether the sandbox must be the host's own namespace (the `host` driver).
    var joinsHostNamespace: Bool { get }
    /// Whether the network's gateway is on this host (the bridge carries it): the default
    /// route of the sandbox goes via it, and published ports and masquerade work.
    var offersPublishing: Bool { get }

    /// Makes the attachment's interface with `ip` in the context's sandbox.
    ///
    /// - Returns: the links made, `nil` for a driver that adds no interface.
    /// - Throws: ``NetworkError``; nothing this call made is left behind.
    func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces?
    /// Removes what ``attach(_:ip:mac:)`` made. Idempotent; best effort past a failed step.
    func detach(_ context: AttachmentContext) throws
    /// Verifies the attachment is as ``attach(_:ip:mac:)`` left it.
    func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws
    /// Removes the host objects of attachments of `network` that are not in `valid`.
    func gc(network: String, valid: Set<AttachmentID>) -> DriverGCReport
    /// Removes what the network itself made on the host (its bridge).
    func removeNetwork() throws

    /// For a runtime that moves and configures the interface itself (Docker's remote driver):
    /// makes the attachment's interface in the host's namespace, named `id.interface`, with
    /// the host side ready (a bridge with the gateways of `ip`); the runtime moves it into the
    /// sandbox, renames it and gives it its addresses and routes.
    ///
    /// - Throws: ``NetworkError``; nothing this call made is left behind.
    func prepareHandOff(_ id: AttachmentID, ip: IPConfiguration, mac: MACAddress?) throws -> Link
    /// Removes what ``prepareHandOff(_:ip:mac:)`` made that is in the host's namespace (a
    /// link the runtime has moved into a sandbox goes with its host side, or when the runtime
    /// gives it back). Idempotent.
    func removeHandOff(_ id: AttachmentID) throws
}

/// What a driver's GC removed, and what it could not (those stay for the next GC).
public struct DriverGCReport: Sendable {
    public var removed: [AttachmentID] = []
    public var left: [AttachmentID] = []
    public var failures: [any Error] = []

    public init() {}
}

extension NetworkDriver {
    public var hostLink: InterfaceName? { nil }
    public var joinsHostNamespace: Bool { false }
    public var offersPublishing: Bool { false }
    public func gc(network: String, valid: Set<AttachmentID>) -> DriverGCReport { DriverGCReport() }
    public func removeNetwork() throws {}

    public func prepareHandOff(_ id: AttachmentID, ip: IPConfiguration, mac: MACAddress?) throws -> Link {
        throw NetworkError(code: .unsupported, message: "this driver makes no interface to hand to a runtime")
    }

    public func removeHandOff(_ id: AttachmentID) throws {}
}

/// `null`: the sandbox keeps only `lo`; an attachment adds nothing.
public struct NullDriver: NetworkDriver {
    public init() {}
    public var addsInterface: Bool { false }
    public func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? { nil }
    public func detach(_ context: AttachmentContext) throws {}
    public func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {}
}

/// `host`: the sandbox is the host's own namespace; there is nothing to make.
public struct HostDriver: NetworkDriver {
    public init() {}
    public var joinsHostNamespace: Bool { true }
    public var addsInterface: Bool { false }
    public func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? { nil }
    public func detach(_ context: AttachmentContext) throws {}
    public func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {}
}

extension BridgeDriver {
    /// The driver in the calling thread's (the host's) namespace; a deleted veth pair's
    /// reclaim is left to a child unless the environment says otherwise.
    public static func onHost(options: BridgeOptions) throws -> BridgeDriver {
        BridgeDriver(options: options, host: try RouteSocket.open(), hostNamespace: try NetNamespace.current(),
                     linkDeletion: .fromEnvironment())
    }
}

extension MacvlanDriver {
    /// The driver in the calling thread's (the host's) namespace.
    public static func onHost(options: MacvlanOptions) throws -> MacvlanDriver {
        MacvlanDriver(options: options, host: try RouteSocket.open(), linkDeletion: .fromEnvironment())
    }
}

extension BridgeDriver: NetworkDriver {
    public var addsInterface: Bool { true }
    public var hostLink: InterfaceName? { options.bridge }
    public var offersPublishing: Bool { true }

    public func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? {
        guard let namespace = context.namespace else { throw NetworkError(code: .notFound, message: "the network namespace of \(context.id) is gone") }
        return try attach(context.id, namespace: namespace, container: context.container(), ip: ip, mac: mac)
    }

    public func detach(_ context: AttachmentContext) throws {
        try detach(context.id, namespace: context.namespace)
    }

    public func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {
        guard let namespace = context.namespace else { throw NetworkError.mismatch("the network namespace of \(context.id) is gone") }
        try check(context.id, namespace: namespace, container: context.container(), ip: ip, mac: mac)
    }

    /// Deletes the host ends (found by their alias) of attachments of `network` not in `valid`.
    public func gc(network: String, valid: Set<AttachmentID>) -> DriverGCReport {
        var report = DriverGCReport()
        let links: [Link]
        do {
            links = try host.links()
        } catch {
            report.failures.append(error)
            return report
        }
        for link in links {
            guard let alias = link.alias, let id = AttachmentID(alias: alias), id.network == network, !valid.contains(id) else { continue }
            do {
                try host.deleteLink(.index(link.index), linkDeletion) // a link already gone is success
                report.removed.append(id)
            } catch {
                report.failures.append(error)
                report.left.append(id)
            }
        }
        return report
    }

    public func prepareHandOff(_ id: AttachmentID, ip: IPConfiguration, mac: MACAddress?) throws -> Link {
        try handOff(id, ip: ip, mac: mac)
    }

    /// Deleting the host end takes its peer too, wherever the runtime has put it.
    public func removeHandOff(_ id: AttachmentID) throws {
        _ = try host.deleteLink(.name(id.hostInterfaceName), linkDeletion)
        _ = try host.deleteLink(.name(id.interface), linkDeletion)
    }

    /// Deletes the bridge; one that is not there (or is no bridge) is left alone.
    public func removeNetwork() throws {
        if let link = try host.link(named: options.bridge), link.kind == .bridge {
            try host.deleteLink(.index(link.index), linkDeletion)
        }
    }
}

extension MacvlanDriver: NetworkDriver {
    public var addsInterface: Bool { true }
    public var hostLink: InterfaceName? { options.parent }

    public func attach(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws -> AttachedInterfaces? {
        guard let namespace = context.namespace else { throw NetworkError(code: .notFound, message: "the network namespace of \(context.id) is gone") }
        return try attach(context.id, namespace: namespace, container: context.container(), ip: ip, mac: mac)
    }

    public func detach(_ context: AttachmentContext) throws {
        guard context.namespace != nil else { return }
        try context.container().deleteLink(.name(context.id.interface), linkDeletion)
    }

    public func check(_ context: AttachmentContext, ip: IPConfiguration, mac: MACAddress?) throws {
        guard let namespace = context.namespace else { throw NetworkError.mismatch("the network namespace of \(context.id) is gone") }
        try check(context.id, namespace: namespace, container: context.container(), ip: ip, mac: mac)
    }

    public func prepareHandOff(_ id: AttachmentID, ip: IPConfiguration, mac: MACAddress?) throws -> Link {
        try handOff(id, mac: mac)
    }

    /// The macvlan is back in the host's namespace once the runtime has left the sandbox.
    public func removeHandOff(_ id: AttachmentID) throws {
        _ = try host.deleteLink(.name(id.interface), linkDeletion)
    }
}
