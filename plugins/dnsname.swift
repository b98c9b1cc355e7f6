import CNI
import NameService
import NetCore
import Store

/// `dnsname`: registers the container's names on the network with netctl's resolver, so the
/// other containers of the network find it by name (what podman's CNI backend chains after
/// `bridge` for DNS). A chained plugin: it reads the addresses and gateways of `prevResult`
/// and passes it on with the resolver in `dns.nameservers`. The names: `K8S_POD_NAME` of
/// `CNI_ARGS` (podman's container name) and `runtimeConfig.aliases[NETWORK]` (the `aliases`
/// capability). Records and the resolver's networks are in the state store (`dataDir`, or
/// NETCTL_STATE_DIR); the resolver, `netctl-dns`, is started when it does not run.
struct DNSNamePlugin: CNIPlugin {
    func add(_ request: CNIRequest) throws -> CNIResult {
        let (network, owner, previous) = try parse(request)
        let addresses = previous.ips.filter { belongsToContainer($0, previous, request) }
        let gateways = unique(addresses.compactMap(\.gateway))
        guard !gateways.isEmpty else {
            throw CNIError(.invalidConfig, "dnsname: prevResult has no gateway for the container's addresses: the resolver listens on the gateway")
        }
        let names = try self.names(request, network: network)
        let store = try StateStore(directory: request.config.string("dataDir"), schema: [NameTables.schema])
        let tables = NameTables(database: store.database)
        try store.database.immediateTransaction {
            try tables.upsert(NameNetwork(key: network, listen: gateways, subnets: unique(addresses.map(\.address.network))))
            try tables.replace(owner: owner, on: network, names: names, addresses: addresses.map(\.address.address))
        }
        try ResolverProcess.ensureRunning(storeDirectory: store.directory, executable: request.config.string("resolver"))
        var result = previous
        result.dns.nameservers = unique(result.dns.nameservers + gateways.map(\.description))
        if !result.dns.search.contains(NameZones.domain) { result.dns.search.append(NameZones.domain) }
        return result
    }

    func delete(_ request: CNIRequest) throws {
        guard let name = request.config.name, let containerID = request.containerID, let interface = request.interface else { return }
        let store = try StateStore(directory: request.config.string("dataDir"), schema: [NameTables.schema])
        let tables = NameTables(database: store.database)
        try store.database.immediateTransaction {
            try tables.removeRecords(owner: "\(containerID)/\(interface)", on: Self.key(name))
            // The network's last name gone: the resolver stops listening for it.
            if try !tables.records().contains(where: { $0.network == Self.key(name) }) { try tables.removeNetwork(Self.key(name)) }
        }
    }

    func check(_ request: CNIRequest) throws {
        let (network, owner, _) = try parse(request)
        let store = try StateStore(directory: request.config.string("dataDir"), schema: [NameTables.schema])
        let held = Set(try NameTables(database: store.database).records().filter { $0.network == network && $0.owner == owner }.map(\.name))
        let missing = try names(request, network: network).filter { !held.contains($0.lowercased()) }
        guard missing.isEmpty else { throw CNIError(.internal, "dnsname: \(missing.joined(separator: ", ")) not registered on \(network)") }
    }

    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        guard let name = request.config.name else { return }
        let valid = Set(validAttachments.map { "\($0.containerID)/\($0.interface)" })
        let store = try StateStore(directory: request.config.string("dataDir"), schema: [NameTables.schema])
        let tables = NameTables(database: store.database)
        try store.database.immediateTransaction {
            for owner in Set(try tables.records().filter { $0.network == Self.key(name) }.map(\.owner)) where !valid.contains(owner) {
                try tables.removeRecords(owner: owner, on: Self.key(name))
            }
        }
    }

    func status(_ request: CNIRequest) throws {}

    // MARK: Pieces

    /// The resolver's key of the network: apart from netctl's own networks of the same name.
    static func key(_ name: String) -> String { "cni:\(name)" }

    private func parse(_ request: CNIRequest) throws -> (network: String, owner: String, previous: CNIResult) {
        try request.config.rejectUnimplemented([])
        guard let name = request.config.name, let containerID = request.containerID, let interface = request.interface else {
            throw CNIError(.invalidEnvironment, "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing")
        }
        guard let previous = request.config.prevResult else {
            throw CNIError(.invalidConfig, "dnsname must be chained after an interface plugin: \"prevResult\" is missing")
        }
        return (Self.key(name), "\(containerID)/\(interface)", try CNIResult(json: previous))
    }

    /// `K8S_POD_NAME` and the aliases of this network that are DNS names (RFC 1123): podman's
    /// generated names (`reverent_buck`) are not, and the container keeps its other names
    /// (podman adds its short ID) rather than failing to start.
    private func names(_ request: CNIRequest, network: String) throws -> [String] {
        var names: [String] = []
        if let pod = request.arguments["K8S_POD_NAME"], !pod.isEmpty { names.append(pod) }
        let aliases = request.config.runtimeConfig["aliases"]?[request.config.name ?? ""]?.arrayValue ?? []
        names += aliases.compactMap(\.stringValue)
        return unique(names.filter(Self.isDNSName))
    }

    /// RFC 1123 names: dot-separated labels of 1-63 letters, digits and hyphens, not starting
    /// or ending with a hyphen; 253 characters at most.
    static func isDNSName(_ name: String) -> Bool {
        name.utf8.count <= 253 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    /// An address of the container's interface (CNI_IFNAME), or of no interface in particular.
    private func belongsToContainer(_ ip: CNIResult.IPConfig, _ result: CNIResult, _ request: CNIRequest) -> Bool {
        guard let index = ip.interface, result.interfaces.indices.contains(index) else { return true }
        return result.interfaces[index].name == request.interface?.rawValue
    }

    private func unique<T: Hashable>(_ items: [T]) -> [T] {
        var seen = Set<T>()
        return items.filter { seen.insert($0).inserted }
    }
}
