import CNI
import Drivers
import Firewall
import Namespaces
import NetCore
import Netlink

/// `bridge`: a veth pair from the container to a Linux bridge on the host.
struct BridgePlugin: CNIPlugin {
    /// Reference options this plugin does not implement; set to anything but off, they are code 2.
    static let unimplemented = ["vlan", "vlanTrunk", "preserveDefaultVlan", "portIsolation"]

    func options(_ request: CNIRequest) throws -> BridgeOptions {
        try request.config.rejectUnimplemented(Self.unimplemented)
        try request.config.requireNftablesBackend("ipMasqBackend")
        try request.arguments.validate(known: CNIRequest.knownArguments)
        let name = try request.config.string("bridge") ?? "cni0"
        let bridge: InterfaceName
        do {
            bridge = try InterfaceName(name, field: "bridge")
        } catch let error as NetworkError {
            throw CNIError(.invalidConfig, error.message)
        }
        return BridgeOptions(
            bridge: bridge, mtu: try request.mtu(),
            isGateway: try request.config.bool("isGateway") ?? false,
            isDefaultGateway: try request.config.bool("isDefaultGateway") ?? false,
            forceAddress: try request.config.bool("forceAddress") ?? false,
            hairpin: try request.config.bool("hairpinMode") ?? false,
            promiscuous: try request.config.bool("promiscMode") ?? false,
            duplicateDetection: try request.config.bool("enabledad") ?? false,
            disableContainerInterface: try request.config.bool("disableContainerInterface") ?? false)
    }

    func driver(_ request: CNIRequest) throws -> BridgeDriver {
        BridgeDriver(options: try options(request), host: try RouteSocket.open(), hostNamespace: try NetNamespace.current(),
                     linkDeletion: .fromEnvironment())
    }

    func add(_ request: CNIRequest) throws -> CNIResult {
        let driver = try driver(request)
        let netns = try request.requireNetns()
        let namespace = try openNamespace(netns)
        let id = try request.attachmentID()
        let mac = try request.requestedMAC()
        let dns = try request.configuredDNS()
        return try request.withAddresses { addresses in
            var ip = addresses?.ipConfiguration ?? IPConfiguration()
            // The driver adds the default route itself when it is the default gateway.
            if driver.options.isDefaultGateway { ip.routes.removeAll(where: \.isDefault) }
            let attached = try driver.attach(id, namespace: namespace, ip: ip, mac: mac)
            do {
                try masquerade(request, driver.options.bridge, ip)
                if try macSpoofCheck(request) {
                    guard let mac = attached.container.mac else {
                        throw CNIError(.internal, "macspoofchk: the container interface of \(id) has no MAC address")
                    }
                    try PluginFirewall.spoofGuard().guardPort(id.hostInterfaceName, mac: mac, owner: id.network)
                }
            } catch {
                // Undo in reverse: the firewall record (and the rules it holds), then the links.
                if (try? ipMasq(request)) == true { try? PluginFirewall.registry().detach(scoped(id)) }
                if (try? macSpoofCheck(request)) == true { try? PluginFirewall.spoofGuard().releasePort(id.hostInterfaceName) }
                try? driver.detach(id, namespace: namespace)
                throw error
            }
            var defaults: [CNIResult.Route] = []
            if driver.options.isDefaultGateway {
                for gateway in Set(ip.assignments.compactMap(\.gateway)).sorted() {
                    defaults.append(CNIResult.Route(destination: .all(gateway.family), gateway: gateway))
                }
            }
            let interfaces = attached.hostSide.map { CNIResult.Interface($0) } + [CNIResult.Interface(attached.container, sandbox: netns)]
            return CNIResult(interfaces: interfaces, addresses: addresses, extraRoutes: defaults, dns: dns)
        }
    }

    /// Drops the masquerade record (with `ipMasq`, and the rules with the bridge's last one)
    /// and the MAC guard of the host port (with `macspoofchk`), releases the addresses and
    /// removes the veth pair. Everything already gone is success; each step is tried whatever
    /// the others did, and every failure is reported.
    func delete(_ request: CNIRequest) throws {
        var failures: [any Error] = []
        if try ipMasq(request) {
            do { try PluginFirewall.registry().detach(scoped(request.attachmentID())) } catch { failures.append(error) }
        }
        if try macSpoofCheck(request) {
            do { try PluginFirewall.spoofGuard().releasePort(request.attachmentID().hostInterfaceName) } catch { failures.append(error) }
        }
        do { try request.ipamBackend()?.delete(request) } catch { failures.append(error) }
        do {
            let namespace = try request.netns.flatMap(openNamespaceIfPresent)
            try driver(request).detach(try request.attachmentID(), namespace: namespace)
        } catch {
            failures.append(error)
        }
        try throwAll(failures, "DEL of \(try request.attachmentID())")
    }

    /// The links, addresses and routes of `prevResult`, the MAC, the leases, and with
    /// `ipMasq` or `macspoofchk` the live nftables rules (not only the store's record of them).
    func check(_ request: CNIRequest) throws {
        guard let previous = request.config.prevResult else {
            throw CNIError(.invalidConfig, "CHECK needs \"prevResult\"")
        }
        let result = try CNIResult(json: previous)
        let id = try request.attachmentID()
        let driver = try driver(request)
        let namespace = try openNamespace(try request.requireNetns())
        let mac = try request.previousMAC(result)
        let ip = result.containerConfiguration(interface: id.interface.rawValue)
        try driver.check(id, namespace: namespace, ip: ip, mac: mac)
        try request.ipamBackend()?.check(request)
        if try ipMasq(request) {
            let attachment = scoped(id)
            guard try PluginFirewall.registry().published().contains(where: { $0.attachment == attachment }) else {
                throw CNIError(.internal, "the masquerade rules of \(id) are missing", details: "ipMasq is on but the firewall has no record of it")
            }
            let network = FirewallNetwork(name: id.network, bridge: driver.options.bridge, subnets: ip.assignments.map(\.address.network))
            let missing = try PluginFirewall.nftables().missingRules(of: network)
            if !missing.isEmpty {
                throw CNIError(.internal, "the masquerade rules of \(id) are missing from nftables: \(missing.joined(separator: "; "))")
            }
        }
        if try macSpoofCheck(request), let problem = try PluginFirewall.spoofGuard().missing(id.hostInterfaceName, mac: mac) {
            throw CNIError(.internal, "the macspoofchk rules of \(id) are missing: \(problem)")
        }
    }

    /// Deletes the host ends this network made for attachments that are no longer valid, the
    /// MAC guards of those attachments (listed from the guard's table, since their links may
    /// have gone with their namespaces; never the guard of a link that could not be deleted),
    /// their masquerade records, and lets IPAM release their addresses. Goes on past errors
    /// and reports them all.
    func gc(_ request: CNIRequest, validAttachments: [GCAttachment]) throws {
        guard let network = request.config.name else { return }
        let valid = Set(validAttachments)
        let validIDs = Set(validAttachments.compactMap { attachment in
            (try? InterfaceName(attachment.interface)).map { AttachmentID(network: network, containerID: attachment.containerID, interface: $0) }
        })
        let host = try RouteSocket.open()
        var failures: [any Error] = []
        var stalePorts = Set<InterfaceName>()
        // Attachments whose host end could not be deleted: the veth is still there, so its MAC
        // guard and masquerade record stay with it for the next GC, and so do its addresses
        // with the in-tree host-local (an exec'd IPAM plugin gets the runtime's list as it is).
        var stillThere: [AttachmentID] = []
        for link in try host.links() {
            guard let alias = link.alias, let id = AttachmentID(alias: alias), id.network == network,
                  !valid.contains(GCAttachment(containerID: id.containerID, interface: id.interface.rawValue))
            else { continue }
            do {
                try host.deleteLink(.index(link.index), .fromEnvironment()) // a link already gone is success
                stalePorts.insert(id.hostInterfaceName)
            } catch {
                failures.append(error)
                stillThere.append(id)
            }
        }
        let kept = validIDs.union(stillThere)
        if try macSpoofCheck(request) {
            do {
                let guardian = try PluginFirewall.spoofGuard()
                let keep = Set(kept.map(\.hostInterfaceName))
                stalePorts.formUnion(try guardian.guardedPorts(owner: network).filter { !keep.contains($0) })
                for port in stalePorts.sorted(by: { $0.rawValue < $1.rawValue }) {
                    do { try guardian.releasePort(port) } catch { failures.append(error) }
                }
            } catch {
                failures.append(error)
            }
        }
        if try ipMasq(request) {
            do { _ = try PluginFirewall.registry().gc(network: PluginFirewall.network("bridge", network), keep: Set(kept.map(scoped))) } catch { failures.append(error) }
        }
        let ipamValid = validAttachments + stillThere.map { GCAttachment(containerID: $0.containerID, interface: $0.interface.rawValue) }
        do { try request.ipamBackend()?.gc(request, validAttachments: ipamValid) } catch { failures.append(error) }
        try throwAll(failures, "GC of network \"\(network)\"")
    }

    /// IPAM's readiness first (code 50 when it cannot lease), then with `ipMasq` or
    /// `macspoofchk` the store and nftables (50, or 51 when only nftables is unusable).
    func status(_ request: CNIRequest) throws {
        try request.ipamBackend()?.status(request)
        if try ipMasq(request) || macSpoofCheck(request) { try PluginFirewall.status() }
    }

    // MARK: ipMasq

    private func ipMasq(_ request: CNIRequest) throws -> Bool { try request.config.bool("ipMasq") ?? false }

    private func macSpoofCheck(_ request: CNIRequest) throws -> Bool { try request.config.bool("macspoofchk") ?? false }

    private func scoped(_ id: AttachmentID) -> AttachmentID {
        AttachmentID(network: PluginFirewall.network("bridge", id.network), containerID: id.containerID, interface: id.interface)
    }

    /// With `ipMasq`, masquerades the container's subnets leaving them; the rules are shared
    /// by every container on the bridge and removed with the last one.
    private func masquerade(_ request: CNIRequest, _ bridge: InterfaceName, _ ip: IPConfiguration) throws {
        guard try ipMasq(request) else { return }
        let id = try request.attachmentID()
        let network = FirewallNetwork(name: id.network, bridge: bridge, subnets: ip.assignments.map(\.address.network))
        try PluginFirewall.registry().attach(scoped(id), network: network, ports: [],
                                             containerAddresses: ip.assignments.map(\.address.address))
    }
}
