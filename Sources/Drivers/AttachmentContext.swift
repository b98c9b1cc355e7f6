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
    /// The calling thread's namespace, when the caller knows it: the socket in the sandbox is
    /// then opened from the calling thread rather than on a thread of its own.
    public let home: NetNamespace?
    private var openedContainer: RouteSocket?

    /// - Parameters:
    ///   - container: a socket in `namespace`, when the caller has one.
    ///   - home: the namespace of the calling thread (a single-threaded process such as a CNI
    ///     plugin), to open the socket in `namespace` without a thread; see
    ///     ``NetNamespace/runOnCallingThread(returningTo:_:)``.
    public init(id: AttachmentID, namespace: NetNamespace?, container: RouteSocket? = nil, home: NetNamespace? = nil) {
        self.id = id
        self.namespace = namespace
        self.home = home
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
        let socket = try home.map { try RouteSocket.open(in: namespace, returningTo: $0) } ?? RouteSocket.open(in: namespace)
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
