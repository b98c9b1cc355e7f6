import Attachment
import CNI
import Drivers
import Namespaces
import NetCore

/// `macvlan`: a macvlan of a host interface, created directly in the container's namespace.
struct MacvlanPlugin: CNIPlugin {
    static let unimplemented = ["bcqueuelen"]

    func driver(_ request: CNIRequest) throws -> MacvlanDriver {
        try request.config.rejectUnimplemented(Self.unimplemented)
        try request.arguments.validate(known: CNIRequest.knownArguments)
        let options: MacvlanOptions
        do {
            options = try MacvlanOptions(parent: try request.config.string("master").map { try InterfaceName($0, field: "master") },
                                         modeName: try request.config.string("mode"), mtu: try request.mtu(), field: "mode",
                                         parentInContainer: try request.config.bool("linkInContainer") ?? false)
        } catch let error as NetworkError {
            throw CNIError(.invalidConfig, error.message)
        }
        return try MacvlanDriver.onHost(options: options)
    }

    func add(_ request: CNIRequest) throws -> CNIResult {
        let driver = try driver(request)
        let netns = try request.requireNetns()
        let context = try AttachmentContext(id: request.attachmentID(), namespace: openNamespace(netns))
        let mac = try request.requestedMAC(configKey: "mac")
        let dns = try request.configuredDNS()
        let leasing = CNILeasing(request)
        let attached = try AttachmentRecipe(driver: driver, addresses: leasing).attach(context, mac: mac)
        guard let link = attached.interfaces?.container else { throw CNIError(.internal, "the macvlan driver made no interface") }
        return CNIResult(interfaces: [CNIResult.Interface(name: link.name, mac: link.mac, mtu: link.mtu, sandbox: netns)],
                         addresses: leasing.result, dns: dns)
    }

    func delete(_ request: CNIRequest) throws {
        let driver = try driver(request)
        let context = try AttachmentContext(id: request.attachmentID(), namespace: request.netns.flatMap(openNamespaceIfPresent))
        let failures = AttachmentRecipe(driver: driver, addresses: CNILeasing(request)).detach(context)
        try throwAll(failures.map(\.error), "DEL of \(try request.attachmentID())")
    }

    /// The macvlan of `prevResult` with its MAC, addresses and routes, and the leases.
    func check(_ request: CNIRequest) throws {
        guard let previous = request.config.prevResult else {
            throw CNIError(.invalidConfig, "CHECK needs \"prevResult\"")
        }
        let id = try request.attachmentID()
        let result = try CNIResult(json: previous)
        let driver = try driver(request)
        let context = try AttachmentContext(id: id, namespace: openNamespace(try request.requireNetns()))
        try driver.check(context, ip: result.containerConfiguration(interface: id.interface.rawValue), mac: try request.previousMAC(result))
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
