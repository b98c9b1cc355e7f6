import Attachment
import CNI
import Drivers
import NetCore
import Publishing

/// `portmap`: publishes `runtimeConfig.portMappings` of the container in `prevResult` by
/// DNAT (nftables maps, one transaction). Loopback (`127.0.0.1:PORT`) is DNAT too, with
/// `route_localnet` on the bridge only and the rule that drops 127/8 arriving on it. A
/// chained plugin: it needs `prevResult` and passes it on unchanged.
struct PortmapPlugin: CNIPlugin {
    /// Reference options this plugin does not implement; set, they are code 2.
    static let unimplemented = ["conditionsV4", "conditionsV6", "markMasqBit", "externalSetMarkChain", "masqAll"]

    func add(_ request: CNIRequest) throws -> CNIResult {
        let (previous, mappings) = try parse(request)
        PhaseTrace.mark("config parsed")
        guard !mappings.isEmpty else { return previous }
        let id = try request.attachmentID()
        let (network, usesRules) = try firewallNetwork(request, previous)
        PhaseTrace.mark("bridge looked up")
        let addresses = PluginFirewall.containerAddresses(previous, interface: id.interface.rawValue)
        // The one step of the recipe this plugin owns: publishing, on the null driver (the
        // interface plugin before it made the link).
        let ports = RegistryPublishing(registry: try PluginFirewall.registry(), attachment: scoped(id), network: network,
                                       usesRules: usesRules, ports: mappings, containerAddresses: addresses)
        _ = try AttachmentRecipe(driver: NullDriver(), publishing: [ports]).attach(AttachmentContext(id: id, namespace: nil))
        PhaseTrace.mark("record committed")
        return previous
    }

    func delete(_ request: CNIRequest) throws {
        let id = try scoped(request.attachmentID())
        let registry = try PluginFirewall.registry()
        PhaseTrace.mark("registry opened")
        guard try registry.isRecorded(id) else {
            // An ADD killed before its record committed may have left DNAT entries that no
            // record knows; the runtime's DEL still carries the mappings and, as a rule, the
            // result they pointed at. Best effort: DEL of nothing must succeed.
            if let (previous, mappings) = try? parse(request), !mappings.isEmpty,
               let (network, _) = try? firewallNetwork(request, previous) {
                try? registry.unpublishUnrecorded(id, network: network, ports: mappings,
                                                  containerAddresses: PluginFirewall.containerAddresses(previous, interface: id.interface.rawValue))
            }
            return
        }
        try registry.detach(id)
        PhaseTrace.mark("record committed")
    }

    /// Every mapping of `runtimeConfig.portMappings` must be in the store's record and its
    /// DNAT map elements in the live ruleset (with the hairpin rules when `snat` is on).
    func check(_ request: CNIRequest) throws {
        let (previous, mappings) = try parse(request)
        guard !mappings.isEmpty else { return }
        let id = try request.attachmentID()
        let published = try PluginFirewall.registry().published().first { $0.attachment == scoped(id) }
        let want = Set(mappings.map(\.description))
        let have = Set((published?.ports ?? []).map(\.mapping.description))
        guard let published, want.isSubset(of: have) else {
            throw CNIError(.internal, "port mappings of \(id) are not published",
                           details: "missing: \(want.subtracting(have).sorted().joined(separator: ", "))")
        }
        let (network, usesRules) = try firewallNetwork(request, previous)
        let firewall = PluginFirewall.host
        let missing = try firewall.missingPorts(published.ports, on: network) + (usesRules ? try firewall.missingRules(of: network) : [])
        if !missing.isEmpty {
            throw CNIError(.internal, "port mappings of \(id) are missing from nftables: \(missing.joined(separator: "; "))")
        }
    }

    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        guard let name = request.config.name else { return }
        let keep = Set(validAttachments.compactMap { attachment in
            (try? InterfaceName(attachment.interface)).map {
                AttachmentID(network: PluginFirewall.network("portmap", name), containerID: attachment.containerID, interface: $0)
            }
        })
        _ = try PluginFirewall.registry().gc(network: PluginFirewall.network("portmap", name), keep: keep)
    }

    func status(_ request: CNIRequest) throws {
        try PluginFirewall.status()
    }

    // MARK: Pieces

    private func scoped(_ id: AttachmentID) -> AttachmentID {
        AttachmentID(network: PluginFirewall.network("portmap", id.network), containerID: id.containerID, interface: id.interface)
    }

    private func parse(_ request: CNIRequest) throws -> (CNIResult, [PortMapping]) {
        try request.config.rejectUnimplemented(Self.unimplemented)
        try request.config.requireNftablesBackend("backend")
        guard let previous = request.config.prevResult else {
            throw CNIError(.invalidConfig, "portmap must be chained after an interface plugin: \"prevResult\" is missing")
        }
        let result = try CNIResult(json: previous)
        let entries = request.config.runtimeConfig["portMappings"]?.arrayValue ?? []
        return (result, try entries.enumerated().map { try Self.mapping($1, index: $0) })
    }

    /// One `{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "..."}`.
    static func mapping(_ entry: JSON, index: Int) throws -> PortMapping {
        let field = "runtimeConfig.portMappings[\(index)]"
        func port(_ key: String) throws -> UInt16 {
            guard let value = entry[key]?.intValue else {
                throw CNIError(.invalidConfig, "\(field).\(key) is missing or not a number")
            }
            guard let port = UInt16(exactly: value), port != 0 else {
                throw CNIError(.invalidConfig, "invalid \(field).\(key) \(value): must be 1-65535")
            }
            return port
        }
        do {
            let transport = try TransportProtocol(parsing: entry["protocol"]?.stringValue ?? "tcp", field: "\(field).protocol")
            let hostIP = try entry["hostIP"]?.stringValue.flatMap { $0.isEmpty ? nil : try IPAddress(parsing: $0, field: "\(field).hostIP") }
            return try PortMapping(hostIP: hostIP, hostPort: port("hostPort"), containerPort: port("containerPort"), transport: transport)
        } catch let error as NetworkError {
            throw CNIError(.invalidConfig, error.message)
        }
    }

    /// The network the ports belong to: the bridge in `prevResult` (its first host-side
    /// interface that is a bridge) gets hairpin masquerade when `snat` is on (the default);
    /// without a bridge (macvlan) only the ports are published.
    private func firewallNetwork(_ request: CNIRequest, _ previous: CNIResult) throws -> (PublishingNetwork, usesRules: Bool) {
        let id = try request.attachmentID()
        let subnets = previous.ips.map(\.address.network)
        let snat = try request.config.bool("snat") ?? true
        for interface in previous.interfaces where interface.sandbox == nil {
            guard let name = try? InterfaceName(interface.name), try HostLinks.isBridge(name) else { continue }
            return (PublishingNetwork(name: id.network, bridge: name, subnets: subnets, masquerade: false, localhostDNAT: snat), snat)
        }
        return (PublishingNetwork(name: id.network, bridge: id.interface, subnets: subnets, masquerade: false), false)
    }
}
