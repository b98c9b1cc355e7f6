import CNI
import Drivers
import Namespaces
import NetCore
import Netlink

/// `macvlan`: a macvlan of a host interface, created directly in the container's namespace.
struct MacvlanPlugin: CNIPlugin {
    static let unimplemented = ["bcqueuelen"]

    func driver(_ request: CNIRequest) throws -> MacvlanDriver {
        try request.config.rejectUnimplemented(Self.unimplemented)
        try request.arguments.validate(known: CNIRequest.knownArguments)
        let parent: InterfaceName?
        let mode: MacvlanMode
        do {
            parent = try request.config.string("master").map { try InterfaceName($0, field: "master") }
            mode = try MacvlanMode(parsing: try request.config.string("mode") ?? "bridge", field: "mode")
        } catch let error as NetworkError {
            throw CNIError(.invalidConfig, error.message)
        }
        let options = MacvlanOptions(parent: parent, mode: mode, mtu: try request.mtu(),
                                     parentInContainer: try request.config.bool("linkInContainer") ?? false)
        return MacvlanDriver(options: options, host: try RouteSocket.open(), linkDeletion: .fromEnvironment())
    }

    func add(_ request: CNIRequest) throws -> CNIResult {
        let driver = try driver(request)
        let netns = try request.requireNetns()
        let namespace = try openNamespace(netns)
        let id = try request.attachmentID()
        let mac = try request.requestedMAC(configKey: "mac")
        let dns = try request.configuredDNS()
        return try request.withAddresses { addresses in
            let attached = try driver.attach(id, namespace: namespace, ip: addresses?.ipConfiguration ?? IPConfiguration(), mac: mac)
            return CNIResult(interfaces: [CNIResult.Interface(attached.container, sandbox: netns)], addresses: addresses, dns: dns)
        }
    }

    func delete(_ request: CNIRequest) throws {
        var failures: [any Error] = []
        do { try request.ipamBackend()?.delete(request) } catch { failures.append(error) }
        do {
            try driver(request).detach(try request.attachmentID(), namespace: try request.netns.flatMap(openNamespaceIfPresent))
        } catch {
            failures.append(error)
        }
        try throwAll(failures, "DEL of \(try request.attachmentID())")
    }

    /// The macvlan of `prevResult` with its MAC, addresses and routes, and the leases.
    func check(_ request: CNIRequest) throws {
        guard let previous = request.config.prevResult else {
            throw CNIError(.invalidConfig, "CHECK needs \"prevResult\"")
        }
        let id = try request.attachmentID()
        let result = try CNIResult(json: previous)
        try driver(request).check(id, namespace: try openNamespace(try request.requireNetns()),
                                  ip: result.containerConfiguration(interface: id.interface.rawValue), mac: try request.previousMAC(result))
        try request.ipamBackend()?.check(request)
    }

    /// The macvlans live and die with their containers; only IPAM has state to collect.
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        try request.ipamBackend()?.gc(request, validAttachments: validAttachments)
    }

    func status(_ request: CNIRequest) throws {
        try request.ipamBackend()?.status(request)
    }
}
