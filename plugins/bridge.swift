import Attachment
import CNI
import Drivers
import Namespaces
import NetCore
import Publishing

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
        let options = try options(request)
        PhaseTrace.mark("config parsed")
        defer { PhaseTrace.mark("host socket opened") }
        return try BridgeDriver.onHost(options: options)
    }

    /// The steps this plugin owns of the attachment recipe: the lease (the `ipam` plugin),
    /// the veth pair on the bridge, and with `ipMasq` the masquerade, with `macspoofchk` the
    /// MAC guard.
    func recipe(_ request: CNIRequest, driver: BridgeDriver, leasing: CNILeasing) throws -> AttachmentRecipe {
        let id = try request.attachmentID()
        var publishing: [any AttachmentPublishing] = []
        if try ipMasq(request) {
            // DEL: the subnets of the runtime's result, for the rules an ADD killed before its
            // record committed left (without one, the bridge's rules still go).
            var subnets: [CIDR]?
            if request.command == .delete {
                subnets = try request.config.prevResult.map { try CNIResult(json: $0).ips.map(\.address.network) } ?? []
            }
            publishing.append(RegistryPublishing(masqueradeOf: scoped(id), registry: try PluginFirewall.registry(), bridge: driver.options.bridge,
                                                 subnets: subnets))
        }
        if try macSpoofCheck(request) {
            publishing.append(MACGuardPublishing(spoofGuard: try PluginFirewall.host.spoofGuard(), attachment: id))
        }
        let driverAddsDefaultRoutes = driver.options.isDefaultGateway
        return AttachmentRecipe(driver: driver, addresses: leasing, publishing: publishing) { ip, _ in
            // The driver adds the default route itself when it is the default gateway.
            if driverAddsDefaultRoutes { ip.removeDefaultRoutes() }
        }
    }

    func add(_ request: CNIRequest) throws -> CNIResult {
        let driver = try driver(request)
        try refuseContradictions(driver.options, request)
        let netns = try request.requireNetns()
        let context = try AttachmentContext(id: request.attachmentID(), namespace: openNamespace(netns), home: driver.hostNamespace)
        PhaseTrace.mark("netns opened")
        let mac = try request.requestedMAC()
        let dns = try request.configuredDNS()
        let leasing = CNILeasing(request)
        let attached = try recipe(request, driver: driver, leasing: leasing).attach(context, mac: mac)
        var defaults: [CNIResult.Route] = []
        if driver.options.isDefaultGateway {
            for gateway in Set(attached.ip.assignments.compactMap(\.gateway)).sorted() {
                defaults.append(CNIResult.Route(destination: .all(gateway.family), gateway: gateway))
            }
        }
        guard let links = attached.interfaces else { throw CNIError(.internal, "the bridge driver made no interface") }
        let interfaces = links.hostSide.map { CNIResult.Interface(name: $0.name, mac: $0.mac, mtu: $0.mtu) }
            + [CNIResult.Interface(name: links.container.name, mac: links.container.mac, mtu: links.container.mtu, sandbox: netns)]
        return CNIResult(interfaces: interfaces, addresses: leasing.result, extraRoutes: defaults, dns: dns)
    }

    /// Drops the masquerade record (with `ipMasq`, and the rules with the bridge's last one)
    /// and the MAC guard of the host port (with `macspoofchk`), releases the addresses and
    /// removes the veth pair. Everything already gone is success; each step is tried whatever
    /// the others did, and every failure is reported.
    func delete(_ request: CNIRequest) throws {
        let driver = try driver(request)
        let namespace = try request.netns.flatMap(openNamespaceIfPresent)
        PhaseTrace.mark("netns opened")
        let context = try AttachmentContext(id: request.attachmentID(), namespace: namespace, home: driver.hostNamespace)
        let failures = try recipe(request, driver: driver, leasing: CNILeasing(request)).detach(context)
        try throwAll(failures.map(\.error), "DEL of \(try request.attachmentID())")
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
        let context = try AttachmentContext(id: id, namespace: openNamespace(try request.requireNetns()), home: driver.hostNamespace)
        let mac = try request.previousMAC(result)
        let ip = result.containerConfiguration(interface: id.interface.rawValue)
        try driver.check(context, ip: ip, mac: mac)
        try request.ipamBackend()?.check(request)
        if try ipMasq(request) {
            let attachment = scoped(id)
            guard try PluginFirewall.registry().published().contains(where: { $0.attachment == attachment }) else {
                throw CNIError(.internal, "the masquerade rules of \(id) are missing", details: "ipMasq is on but the firewall has no record of it")
            }
            let network = PublishingNetwork(name: id.network, bridge: driver.options.bridge, subnets: ip.assignments.map(\.address.network))
            let missing = try PluginFirewall.host.missingRules(of: network)
            if !missing.isEmpty {
                throw CNIError(.internal, "the masquerade rules of \(id) are missing from nftables: \(missing.joined(separator: "; "))")
            }
        }
        if try macSpoofCheck(request), let problem = try PluginFirewall.host.spoofGuard().missing(id.hostInterfaceName, mac: mac) {
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
        let validIDs = Set(validAttachments.compactMap { attachment in
            (try? InterfaceName(attachment.interface)).map { AttachmentID(network: network, containerID: attachment.containerID, interface: $0) }
        })
        // Attachments whose host end could not be deleted: the veth is still there, so its MAC
        // guard and masquerade record stay with it for the next GC, and so do its addresses
        // with the in-tree host-local (an exec'd IPAM plugin gets the runtime's list as it is).
        let links = try driver(request).gc(network: network, valid: validIDs)
        var failures = links.failures
        var stalePorts = Set(links.removed.map(\.hostInterfaceName))
        let stillThere = links.left
        let kept = validIDs.union(stillThere)
        if try macSpoofCheck(request) {
            do {
                let guardian = try PluginFirewall.host.spoofGuard()
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

    /// Contradictions the reference plugin refuses on ADD too, before anything is made (DEL
    /// and GC of such a config still clean up, as there).
    private func refuseContradictions(_ options: BridgeOptions, _ request: CNIRequest) throws {
        if options.hairpin, options.promiscuous {
            throw CNIError(.invalidConfig, "cannot set hairpin mode and promiscuous mode at the same time")
        }
        if options.disableContainerInterface, try request.config.object("ipam")?.isEmpty == false {
            throw CNIError(.invalidConfig, "cannot use IPAM when the container interface is disabled (disableContainerInterface)")
        }
    }

    // MARK: ipMasq

    private func ipMasq(_ request: CNIRequest) throws -> Bool { try request.config.bool("ipMasq") ?? false }

    private func macSpoofCheck(_ request: CNIRequest) throws -> Bool { try request.config.bool("macspoofchk") ?? false }

    private func scoped(_ id: AttachmentID) -> AttachmentID {
        AttachmentID(network: PluginFirewall.network("bridge", id.network), containerID: id.containerID, interface: id.interface)
    }
}
