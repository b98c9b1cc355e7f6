import Namespaces
import NetCore
import Netlink

/// What one attach, detach or check works with in the sandbox, each handle opened once and
/// handed down to every step: the sandbox's namespace and (on first use) a socket in it. One
/// `connect -p` then opens the sandbox's namespace once. The host's socket is the driver's.
public final class AttachmentContext {
    /// Settable: a front end may open the context before it has chosen the interface name.
    public var id: AttachmentID
    /// The sandbox's namespace; `nil` on teardown when it is gone.
    public let namespace: NetNamespace?
    private var openedContainer: RouteSocket?

    /// - Parameter container: a socket in `namespace`, when the caller has one.
    public init(id: AttachmentID, namespace: NetNamespace?, container: RouteSocket? = nil) {
        self.id = id
        self.namespace = namespace
        openedContainer = container
    }

    /// A socket in the sandbox's namespace, opened on first use and kept.
    ///
    /// - Throws: ``NetworkError`` `.notFound` when the sandbox's namespace is gone.
    public func container() throws -> RouteSocket {
        if let openedContainer { return openedContainer }
        guard let namespace else {
            throw NetworkError(code: .notFound, message: "the network namespace of \(id) is gone")
        }
        let socket = try RouteSocket.open(in: namespace)
        openedContainer = socket
        return socket
    }

    /// The names of the links in the sandbox.
    public func containerLinkNames() throws -> Set<String> {
        Set(try container().links().map(\.name))
    }

    /// The families the sandbox has a default route of (main table).
    public func defaultRouteFamilies() throws -> Set<IPAddress.Family> {
        let socket = try container()
        var families: Set<IPAddress.Family> = []
        for family in [IPAddress.Family.v4, .v6] where try socket.routes(family: family).contains(where: \.isDefault) {
            families.insert(family)
        }
        return families
    }

    /// Adds a default route via `gateway` through the sandbox's interface `interface`.
    public func addDefaultRoute(via gateway: IPAddress, interface: InterfaceName) throws {
        let socket = try container()
        guard let link = try socket.link(named: interface) else {
            throw NetworkError(code: .notFound, message: "interface \"\(interface)\" is not in \(namespace?.path ?? "the sandbox")")
        }
        try socket.addRoute(.defaultRoute(via: gateway, device: .index(link.index)))
    }
}

extension AttachmentID {
    /// Stands in until a front end has chosen the interface (``AttachmentContext/id``).
    public static let placeholder = AttachmentID(network: "", containerID: "", interface: .eth0)
}
