import Attachment
import CNI
import Drivers
import IPAM
import NetCore
import Store

/// `overlay`: an endpoint on a netctl overlay network, for runtimes that speak CNI (the
/// flannel CNI pattern). It never talks to etcd: the host's agent has recorded the network
/// (its bridge, this host's share, the MTU) in the local store, and the endpoint is made as a
/// bridge endpoint on that share, with addresses from the same IPAM as `netctl connect`.
///
/// Config: `{"type": "overlay", "network": "NAME"}` (`network` defaults to the config's
/// `name`); `dataDir` names the state directory when it is not the default.
struct OverlayPlugin: CNIPlugin {
    /// What the plugin needs of the agent's record of the network.
    struct LocalNetwork {
        var name: String
        var bridge: InterfaceName
        var share: CIDR
        var gateway: IPAddress
        var mtu: UInt32?
    }

    /// Leases of CNI attachments sit beside `netctl connect`'s under the network's key, told
    /// apart by this prefix on the container ID, so a GC of either never takes the other's.
    static let leasePrefix = "cni:"

    func add(_ request: CNIRequest) throws -> CNIResult {
        let store = try openStore(request)
        let network = try localNetwork(request, store: store)
        let netns = try request.requireNetns()
        let context = try AttachmentContext(id: request.attachmentID(), namespace: openNamespace(netns))
        let attached = try recipe(request, network: network, store: store).attach(context, mac: try request.requestedMAC())
        guard let links = attached.interfaces else { throw CNIError(.internal, "the bridge driver made no interface") }
        var result = CNIResult()
        result.interfaces = links.hostSide.map { CNIResult.Interface(name: $0.name, mac: $0.mac, mtu: $0.mtu) }
            + [CNIResult.Interface(name: links.container.name, mac: links.container.mac, mtu: links.container.mtu, sandbox: netns)]
        let containerIndex = result.interfaces.count - 1
        result.ips = attached.ip.assignments.map { CNIResult.IPConfig(address: $0.address, gateway: $0.gateway, interface: containerIndex) }
        result.routes = [CNIResult.Route(destination: .all(.v4), gateway: network.gateway)]
        if let dns = try request.configuredDNS() { result.dns = dns }
        return result
    }

    func delete(_ request: CNIRequest) throws {
        let store = try openStore(request)
        // The network may be gone already (removed everywhere): then only the lease is left.
        guard let network = try? localNetwork(request, store: store) else {
            _ = try AddressAllocator(store: store).release(key: try leaseKey(request, network: try networkName(request)))
            return
        }
        let namespace = try request.netns.flatMap(openNamespaceIfPresent)
        let context = try AttachmentContext(id: request.attachmentID(), namespace: namespace)
        let failures = try recipe(request, network: network, store: store).detach(context)
        try throwAll(failures.map(\.error), "DEL of \(try request.attachmentID())")
    }

    func check(_ request: CNIRequest) throws {
        guard let previous = request.config.prevResult else { throw CNIError(.invalidConfig, "CHECK needs \"prevResult\"") }
        let result = try CNIResult(json: previous)
        let store = try openStore(request)
        let network = try localNetwork(request, store: store)
        let id = try request.attachmentID()
        let context = try AttachmentContext(id: id, namespace: openNamespace(try request.requireNetns()))
        try driver(network).check(context, ip: result.containerConfiguration(interface: id.interface.rawValue), mac: try request.previousMAC(result))
        let held = Set(try AddressAllocator(store: store).leases(for: leaseKey(request, network: network.name)).map(\.address))
        for ip in result.ips where !held.contains(ip.address) {
            throw CNIError(.internal, "address \(ip.address) of \(id) has no lease")
        }
    }

    /// Removes the host ends and leases of this network's CNI attachments the runtime no longer has.
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        guard let configName = request.config.name else { return }
        let store = try openStore(request)
        let name = try networkName(request)
        let valid = Set(validAttachments.compactMap { attachment in
            (try? InterfaceName(attachment.interface)).map { AttachmentID(network: configName, containerID: attachment.containerID, interface: $0) }
        })
        var failures: [any Error] = []
        if let network = try? localNetwork(request, store: store) {
            do { failures += try driver(network).gc(network: configName, valid: valid).failures } catch { failures.append(error) }
        }
        let allocator = try AddressAllocator(store: store)
        let keep = Set(validAttachments.map { Self.leasePrefix + $0.containerID + "/" + $0.interface })
        for lease in try allocator.leases(network: Self.stateKey(name))
            where lease.key.containerID.hasPrefix(Self.leasePrefix) && !keep.contains(lease.key.containerID + "/" + lease.key.interface.rawValue) {
            do { _ = try allocator.release(key: lease.key) } catch { failures.append(error) }
        }
        try throwAll(failures, "GC of network \"\(configName)\"")
    }

    func status(_ request: CNIRequest) throws {
        _ = try localNetwork(request, store: try openStore(request))
    }

    // MARK: Pieces

    private func recipe(_ request: CNIRequest, network: LocalNetwork, store: StateStore) throws -> AttachmentRecipe {
        let range = try AddressRange(subnet: network.share, gateway: network.gateway)
        let leasing = AllocatorLeasing(allocator: try AddressAllocator(store: store), key: try leaseKey(request, network: network.name),
                                       rangeSets: [RangeSet(range)])
        let gateway = network.gateway
        return AttachmentRecipe(driver: try driver(network), addresses: leasing) { ip, _ in
            ip.routes.append(IPConfiguration.route(to: .all(.v4), via: gateway, metric: nil))
        }
    }

    private func driver(_ network: LocalNetwork) throws -> BridgeDriver {
        try BridgeDriver.onHost(options: BridgeOptions(bridge: network.bridge, mtu: network.mtu, isGateway: true, hairpin: true))
    }

    private func leaseKey(_ request: CNIRequest, network: String) throws -> LeaseKey {
        guard let containerID = request.containerID, let interface = request.interface else {
            throw CNIError(.invalidEnvironment, "CNI_CONTAINERID and CNI_IFNAME are required")
        }
        return try LeaseKey(network: Self.stateKey(network), containerID: Self.leasePrefix + containerID, interface: interface)
    }

    /// The key netctl keeps a network's leases under (`Netctl.stateKey`).
    static func stateKey(_ network: String) -> String { "netctl:\(network)" }

    private func networkName(_ request: CNIRequest) throws -> String {
        guard let name = try request.config.string("network") ?? request.config.name else {
            throw CNIError(.invalidConfig, "overlay needs \"network\": the netctl overlay network to join")
        }
        return name
    }

    private func openStore(_ request: CNIRequest) throws -> StateStore {
        try StateStore(directory: request.config.string("dataDir"), schema: [AddressAllocator.schema])
    }

    /// The agent's record of the network on this host, from the store: the model's table,
    /// which the CNI binary reads but never creates (a store no agent wrote has none).
    private func localNetwork(_ request: CNIRequest, store: StateStore) throws -> LocalNetwork {
        let name = try networkName(request)
        let definition: JSON?
        do {
            definition = try store.database.statement("SELECT definition FROM networks WHERE name = ? AND driver = 'overlay'")
                .firstRow([.text(name)]) { try JSON(parsing: $0.text(0)) }
        } catch let error as SQLiteError where error.isMissingTable {
            definition = nil
        }
        guard let definition else {
            throw CNIError(.invalidConfig, "no overlay network \"\(name)\" on this host",
                           details: "create it with `netctl network create --driver overlay`, and run `netctl agent` on this host")
        }
        guard let id = definition["Id"]?.stringValue, let config = definition["IPAM"]?["Config"]?.arrayValue?.first,
              let share = config["Subnet"]?.stringValue.flatMap(CIDR.init),
              let gateway = config["Gateway"]?.stringValue.flatMap(IPAddress.init) else {
            throw CNIError(.internal, "the record of overlay network \"\(name)\" is malformed")
        }
        let options = definition["Options"]
        let bridgeName = options?["com.docker.network.bridge.name"]?.stringValue ?? "br-" + id.prefix(12)
        return LocalNetwork(name: name, bridge: try InterfaceName(bridgeName, field: "bridge"), share: share, gateway: gateway,
                            mtu: options?["com.docker.network.driver.mtu"]?.stringValue.flatMap(UInt32.init))
    }
}
