#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import Namespaces
import NetCore
import Drivers

/// The `cni:<type>` driver, libnetwork's "remote driver" done with CNI: a network is a
/// conflist made from the network's settings, and an endpoint is an ADD of that list through
/// the CNI runtime, so any CNI plugin in the plugin directories can back a netctl network.
struct CNINetwork {
    /// `$CNI_PATH` when set, else where our plugins and Debian's are installed.
    static var pluginDirectories: [String] {
        if let path = getenv("CNI_PATH"), path.pointee != 0 {
            return String(cString: path).split(separator: ":").map(String.init)
        }
        return ["/usr/local/lib/netctl/cni", "/usr/lib/netctl/cni", "/opt/cni/bin", "/usr/lib/cni"]
    }

    let network: NetworkRecord
    let type: String
    /// How errors name the request's fields.
    var names = FieldNames()

    /// The conflist's `name`, which keys the plugins' state (result cache, IPAM leases, GC):
    /// `netctl-NAME`, so neither ADD, DEL nor GC ever touches what another runtime keeps for
    /// a network of the same name with the same plugins and data directory.
    var listName: String { "netctl-" + network.name }
    let runtime = CNIRuntime(pluginDirectories: pluginDirectories)

    /// The capabilities `connect` fills in: `--ip`/`--ip6` as `ips` (host-local and the
    /// reference IPAM plugins honour it) and `--mac` as `mac` (bridge, macvlan).
    static let connectCapabilities = ["ips", "mac"]

    /// The plugin's own config: every `-o key=value` (values that parse as JSON are taken as
    /// JSON, the rest as strings).
    var pluginOptions: JSONObject {
        var plugin: JSONObject = ["type": .string(type)]
        for (key, value) in network.options.sorted(by: { $0.key < $1.key }) {
            plugin[key] = (try? JSON(parsing: value)) ?? .string(value)
        }
        return plugin
    }

    /// The host bridge the plugin puts endpoints on: `bridge`'s `bridge` key, `cni0` by
    /// default as the reference plugin has it; `nil` for plugins that make no host bridge.
    var hostBridge: InterfaceName? {
        guard type == "bridge" else { return nil }
        return try? InterfaceName(pluginOptions["bridge"]?.stringValue ?? "cni0")
    }

    /// The list: the plugin (declaring the `ips` and `mac` capabilities besides any given with
    /// `-o capabilities=…`), `host-local` IPAM over the network's subnets, and `portmap` when
    /// it is installed, so `-p` works.
    func configList() throws -> NetworkConfigList {
        var plugin = pluginOptions
        var capabilities = plugin["capabilities"]?.objectValue ?? JSONObject()
        for capability in Self.connectCapabilities where capabilities[capability] == nil { capabilities[capability] = true }
        plugin["capabilities"] = .object(capabilities)
        if plugin["ipam"] == nil, !network.subnets.isEmpty {
            plugin["ipam"] = ["type": "host-local", "ranges": .array(network.subnets.map { spec in
                var range: JSONObject = ["subnet": .string(spec.subnet.description)]
                if let gateway = spec.gateway { range["gateway"] = .string(gateway.description) }
                if let ipRange = spec.ipRange {
                    range["rangeStart"] = .string(ipRange.networkAddress.description)
                    range["rangeEnd"] = .string(ipRange.lastAddress.description)
                }
                return .array([.object(range)])
            })]
        }
        var plugins: [JSON] = [.object(plugin)]
        if runtime.invoker.find("portmap", in: runtime.pluginDirectories) != nil {
            plugins.append(["type": "portmap", "capabilities": ["portMappings": true]])
        }
        let list: JSON = ["cniVersion": "1.1.0", "name": .string(listName), "plugins": .array(plugins)]
        do {
            return try NetworkConfigList(parsing: Array(list.serialized().utf8), source: "network \(network.name)")
        } catch {
            throw NetworkError.invalid(names.option, "(options of cni:\(type))", "do not make a valid CNI config: \(error)")
        }
    }

    func attachment(_ sandbox: SandboxRecord, interface: String, request: ConnectRequest = ConnectRequest()) -> NetworkAttachment {
        var capabilities = JSONObject()
        if !request.ports.isEmpty {
            capabilities["portMappings"] = .array(request.ports.flatMap { mapping in
                mapping.hostPorts.map { hostPort -> JSON in
                    var entry: JSONObject = ["hostPort": .int(Int64(hostPort)), "containerPort": .int(Int64(mapping.containerPort(for: hostPort))),
                                             "protocol": .string(mapping.transport.rawValue)]
                    if let hostIP = mapping.hostIP { entry["hostIP"] = .string(hostIP.description) }
                    return .object(entry)
                }
            })
        }
        if !request.addresses.isEmpty {
            // The convention's form is address/prefix; the prefix is the subnet's when netctl knows it.
            capabilities["ips"] = .array(request.addresses.map { address in
                let prefix = network.subnets.first { $0.subnet.contains(address) }?.subnet.prefixLength
                return .string(prefix.map { "\(address)/\($0)" } ?? address.description)
            })
        }
        if let mac = request.mac { capabilities["mac"] = .string(mac.description) }
        return NetworkAttachment(containerID: sandbox.id, netns: sandbox.path, ifName: interface, capabilityArgs: capabilities)
    }

    /// What ADD gave the endpoint.
    struct Attached {
        var addresses: [CIDR]
        var mac: String?
    }

    /// ADD; the endpoint's addresses are what the chain's result says, its MAC what the
    /// result says or, when it lists none, what the interface in `namespace` has (`nil` when
    /// neither tells: never the MAC asked for, unverified). What `connect` asked for must be
    /// there: a plugin that ignored `ips` or `mac` is an error (the caller DELs).
    func add(_ sandbox: SandboxRecord, namespace: NetNamespace, interface: String, request: ConnectRequest) throws -> Attached {
        let result = try cniErrors { try runtime.add(configList(), attachment(sandbox, interface: interface, request: request)) }
        let addresses = result.ips.map(\.address)
        let mac = result.interfaces.first { $0.name == interface && $0.sandbox != nil }?.mac
            ?? Self.macAddress(of: interface, in: namespace)
        for address in request.addresses where !addresses.contains(where: { $0.address == address }) {
            throw NetworkError(code: .unsupported, message:
                "\(names.address(address.family)) \(address): CNI plugin \(type) of network \"\(network.name)\" gave \(addresses.map(\.description).joined(separator: ", ")) instead (its IPAM does not honour the ips capability)")
        }
        if let wanted = request.mac, let mac, MACAddress(mac) != wanted {
            throw NetworkError(code: .unsupported, message:
                "\(names.mac) \(wanted): CNI plugin \(type) of network \"\(network.name)\" gave \(mac) instead (it does not honour the mac capability)")
        }
        return Attached(addresses: addresses, mac: mac)
    }

    func delete(_ sandbox: SandboxRecord, interface: String) throws {
        try cniErrors { try runtime.delete(configList(), attachment(sandbox, interface: interface)) }
    }

    /// GC with no valid attachment: DEL for what the result cache still holds of this network
    /// and GC to each plugin, as when the network goes.
    func collectAll() throws {
        try cniErrors { try runtime.gc(configList(), validAttachments: []) }
    }

    /// The MAC of `interface` in `namespace`, as the kernel has it; `nil` without such a link.
    static func macAddress(of interface: String, in namespace: NetNamespace) -> String? {
        guard let name = try? InterfaceName(interface) else { return nil }
        return HostLinks.macAddress(of: name, in: namespace)?.description
    }

    /// A probe of the host links the plugin makes. Call before the first ADD: afterwards, the
    /// returned closure names the host links (the plugin's bridge) that were not there
    /// before and are now.
    func linksMadeProbe() -> () -> [String] {
        guard let bridge = hostBridge, (try? HostLinks.exists(bridge)) == false else { return { [] } }
        return { (try? HostLinks.exists(bridge)) == true ? [bridge.rawValue] : [] }
    }

    /// A plugin's CNI error as netctl's, with the plugin's message and details.
    private func cniErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CNIError {
            throw NetworkError(code: error.code == .tryAgainLater ? .busy : .system,
                               message: "CNI plugin \(type) of network \"\(network.name)\": \(error.message)\(error.details.map { " (\($0))" } ?? "")")
        }
    }
}
