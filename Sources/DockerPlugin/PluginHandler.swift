import NetCore
import NetctlModel

/// What the plugin answers one call: an HTTP status and a JSON body.
public struct PluginResponse: Sendable, Equatable {
    public var status: Int
    public var body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }

    static func ok(_ object: JSONObject = JSONObject()) -> PluginResponse {
        PluginResponse(status: 200, body: JSON.object(object).serialized())
    }

    /// dockerd shows `Err` to the user as it is.
    static func failure(_ status: Int, _ message: String) -> PluginResponse {
        PluginResponse(status: status, body: JSON.object(["Err": .string(message)]).serialized())
    }
}

/// Docker's network plugin protocol (`NetworkDriver` and `IpamDriver` on one socket) over
/// netctl's model: every call is `POST /Interface.Method` with a JSON body, answered here
/// without any HTTP (the server is the daemon's). Not `Sendable`: calls run one at a time.
public final class PluginHandler {
    let model: Netctl
    /// Called after a call that made a network or joined an endpoint with the Docker network's
    /// ID, so the daemon can ask dockerd for the names the protocol does not send.
    public var namesWanted: (String) -> Void = { _ in }

    public init(model: Netctl) {
        self.model = model
    }

    /// The words Docker's users type, so an error names the flag to change.
    public static let dockerFieldNames: FieldNames = {
        var names = FieldNames()
        names.ipv4Address = "--ip"
        names.ipv6Address = "--ip6"
        names.mac = "--mac-address"
        names.port = "-p"
        names.alias = "--alias"
        names.option = "-o"
        names.driver = "-o \(DockerOption.driver)"
        names.subnet = "--subnet"
        names.ipRange = "--ip-range"
        names.gateway = "--gateway"
        names.auxAddress = "--aux-address"
        names.ipv6 = "--ipv6"
        return names
    }()

    /// Answers one call. `path` is the request target (`/NetworkDriver.Join`).
    public func handle(path: String, body: [UInt8]) -> PluginResponse {
        let method = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard let route = Self.routes[method] else {
            return .failure(404, "netctl does not implement \(method)")
        }
        do {
            return try route(self, PluginRequest(method: method, bytes: body))
        } catch let error as NetworkError {
            return .failure(Self.status(of: error), error.message)
        } catch {
            return .failure(500, "\(method): \(error)")
        }
    }

    /// Never 404 for a failure: dockerd takes a 404 from ProgramExternalConnectivity as
    /// "not implemented" and goes on as if it had worked.
    static func status(of error: NetworkError) -> Int {
        switch error.code {
        case .invalidArgument: 400
        case .alreadyExists, .busy: 409
        case .permissionDenied: 403
        case .unsupported: 501
        case .exhausted: 507
        case .notFound, .system, .internalError: 500
        }
    }

    typealias Route = @Sendable (PluginHandler, PluginRequest) throws -> PluginResponse

    static let routes: [String: Route] = [
        "Plugin.Activate": { _, _ in .ok(["Implements": ["NetworkDriver", "IpamDriver"]]) },
        "NetworkDriver.GetCapabilities": { _, _ in .ok(["Scope": "local", "ConnectivityScope": "local"]) },
        "NetworkDriver.CreateNetwork": { try $0.createNetwork($1) },
        "NetworkDriver.DeleteNetwork": { handler, request in
            try handler.model.deleteDockerNetwork(id: try request.string("NetworkID"))
            return .ok()
        },
        "NetworkDriver.CreateEndpoint": { try $0.createEndpoint($1) },
        "NetworkDriver.EndpointOperInfo": { handler, request in try handler.endpointInfo(request) },
        "NetworkDriver.DeleteEndpoint": { handler, request in
            try handler.model.deleteDockerEndpoint(networkID: try request.string("NetworkID"), endpointID: try request.string("EndpointID"))
            return .ok()
        },
        "NetworkDriver.Join": { try $0.join($1) },
        "NetworkDriver.Leave": { handler, request in
            try handler.model.leaveDocker(networkID: try request.string("NetworkID"), endpointID: try request.string("EndpointID"))
            return .ok()
        },
        "NetworkDriver.ProgramExternalConnectivity": { handler, request in
            try handler.model.publishDockerPorts(networkID: try request.string("NetworkID"), endpointID: try request.string("EndpointID"),
                                                 bindings: try request.portBindings())
            return .ok()
        },
        "NetworkDriver.RevokeExternalConnectivity": { handler, request in
            try handler.model.unpublishDockerPorts(networkID: try request.string("NetworkID"), endpointID: try request.string("EndpointID"))
            return .ok()
        },
        // Node discovery is swarm's; a local driver has nothing to do with it.
        "NetworkDriver.DiscoverNew": { _, _ in .ok() },
        "NetworkDriver.DiscoverDelete": { _, _ in .ok() },
        "IpamDriver.GetCapabilities": { _, _ in .ok(["RequiresMACAddress": false, "RequiresRequestReplay": false]) },
        "IpamDriver.GetDefaultAddressSpaces": { _, _ in
            .ok(["LocalDefaultAddressSpace": "netctl-local", "GlobalDefaultAddressSpace": "netctl-global"])
        },
        "IpamDriver.RequestPool": { try $0.requestPool($1) },
        "IpamDriver.ReleasePool": { handler, request in
            try handler.model.releaseDockerPool(id: try request.string("PoolID"))
            return .ok()
        },
        "IpamDriver.RequestAddress": { try $0.requestAddress($1) },
        "IpamDriver.ReleaseAddress": { handler, request in
            guard let address = try request.address("Address") else { return .ok() }
            try handler.model.releaseDockerAddress(pool: try request.string("PoolID"), address: address)
            return .ok()
        },
    ]
}

extension PluginHandler {
    /// The Docker networks served, for the daemon to ask dockerd their names at start.
    public func servedNetworkIDs() -> [String] {
        (try? model.dockerNetworks().map(\.id)) ?? []
    }

    /// Records names dockerd told; a failure only costs the names.
    public func recordNames(networkID: String, name: String?, containers: [String: String]) {
        try? model.recordDockerNames(networkID: networkID, name: name, containers: containers)
    }
}
